// libcurl, loaded only when HTTP(S) delivery is configured.
//
// Linking libcurl makes every overflowd process load about 30 more shared libraries (gnutls, krb5,
// ldap, ssh2, rtmp, ...) and run their constructors: measured here, 11 ms of the 25 ms that
// `overflowd --help` took, for a feature that is off by default. So the HTTP sender opens
// libcurl.so.4 with dlopen on first use and calls it through this table; the headers still come
// from libcurl's -dev package, so every type and constant is checked at compile time.
#pragma once

#include <curl/curl.h>

#include <expected>
#include <string>

namespace overflowd::sink {

struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_setopt) multi_setopt;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_poll) multi_poll;
  decltype(&::curl_multi_wakeup) multi_wakeup;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// Loads libcurl once (thread-safe) and calls curl_global_init; the same answer every time after.
[[nodiscard]] std::expected<const CurlApi*, std::string> curl_api();

}  // namespace overflowd::sink

#include "sink/curl_api.hpp"

#include <dlfcn.h>

namespace overflowd::sink {

namespace {

template <class F>
bool bind(void* lib, const char* name, F& into, std::string& missing) {
  into = reinterpret_cast<F>(::dlsym(lib, name));
  if (!into) missing += std::string(missing.empty() ? "" : ", ") + name;
  return into != nullptr;
}

std::expected<const CurlApi*, std::string> load() {
  void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    return std::unexpected(std::string("HTTP delivery needs libcurl (Debian package libcurl4): ") + (why ? why : "not found"));
  }
  static CurlApi api{};
  std::string missing;
  bind(lib, "curl_global_init", api.global_init, missing);
  bind(lib, "curl_easy_strerror", api.easy_strerror, missing);
  bind(lib, "curl_easy_init", api.easy_init, missing);
  bind(lib, "curl_easy_setopt", api.easy_setopt, missing);
  bind(lib, "curl_easy_getinfo", api.easy_getinfo, missing);
  bind(lib, "curl_easy_cleanup", api.easy_cleanup, missing);
  bind(lib, "curl_multi_init", api.multi_init, missing);
  bind(lib, "curl_multi_setopt", api.multi_setopt, missing);
  bind(lib, "curl_multi_add_handle", api.multi_add_handle, missing);
  bind(lib, "curl_multi_remove_handle", api.multi_remove_handle, missing);
  bind(lib, "curl_multi_perform", api.multi_perform, missing);
  bind(lib, "curl_multi_info_read", api.multi_info_read, missing);
  bind(lib, "curl_multi_poll", api.multi_poll, missing);
  bind(lib, "curl_multi_wakeup", api.multi_wakeup, missing);
  bind(lib, "curl_multi_cleanup", api.multi_cleanup, missing);
  bind(lib, "curl_slist_append", api.slist_append, missing);
  bind(lib, "curl_slist_free_all", api.slist_free_all, missing);
  if (!missing.empty()) return std::unexpected("libcurl.so.4 is too old (needs 7.68 or later): missing " + missing);
  // curl_global_init is not thread-safe; this runs once, before any HTTP worker starts.
  if (const CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
    return std::unexpected(std::string("libcurl: ") + api.easy_strerror(rc));
  return &api;  // the library stays loaded for the life of the process
}

}  // namespace

std::expected<const CurlApi*, std::string> curl_api() {
  static const std::expected<const CurlApi*, std::string> loaded = load();
  return loaded;
}

}  // namespace overflowd::sink

// libpcap, loaded only when a capture file or a live capture is opened.
//
// Linking libpcap made every overflowd process load it and what it pulls in (libdbus-1, libsystemd
// and its libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap): about 1.2 ms of CPU and 7 ms
// wall at each start on the development machine (docs/benchmarks.md, issue 17), for `--help`, the
// receiver and UDP input too. So PcapSource opens libpcap.so.0.8 with dlopen on first use and
// calls it through this table (the pattern of sink/curl_api); the headers still come from
// libpcap's -dev package, so every type and constant is checked at compile time.
#pragma once

#include <pcap/pcap.h>

#include <expected>
#include <string>

namespace overflowd::source {

struct PcapApi {
  decltype(&::pcap_open_offline_with_tstamp_precision) open_offline_with_tstamp_precision;
  decltype(&::pcap_fopen_offline_with_tstamp_precision) fopen_offline_with_tstamp_precision;
  decltype(&::pcap_create) create;
  decltype(&::pcap_set_snaplen) set_snaplen;
  decltype(&::pcap_set_promisc) set_promisc;
  decltype(&::pcap_set_timeout) set_timeout;
  decltype(&::pcap_set_immediate_mode) set_immediate_mode;
  decltype(&::pcap_set_buffer_size) set_buffer_size;
  decltype(&::pcap_set_tstamp_precision) set_tstamp_precision;
  decltype(&::pcap_get_tstamp_precision) get_tstamp_precision;
  decltype(&::pcap_activate) activate;
  decltype(&::pcap_setnonblock) setnonblock;
  decltype(&::pcap_geterr) geterr;
  decltype(&::pcap_statustostr) statustostr;
  decltype(&::pcap_close) close;
  decltype(&::pcap_compile) compile;
  decltype(&::pcap_setfilter) setfilter;
  decltype(&::pcap_freecode) freecode;
  decltype(&::pcap_datalink) datalink;
  decltype(&::pcap_datalink_val_to_name) datalink_val_to_name;
  decltype(&::pcap_get_selectable_fd) get_selectable_fd;
  decltype(&::pcap_next_ex) next_ex;
};

// The library opened when OVERFLOWD_LIBPCAP is not set.
inline constexpr const char* kLibpcapName = "libpcap.so.0.8";

// Opens `library` and binds the table (not cached: for tests). The error names the library, the
// Debian package and dlerror's reason.
[[nodiscard]] std::expected<PcapApi, std::string> load_pcap_api(const std::string& library);

// Loads libpcap once (thread-safe) and gives the same answer every time after. The library is
// $OVERFLOWD_LIBPCAP when set (read with secure_getenv: ignored in a set-user-ID or file-capability
// process), else kLibpcapName; it stays loaded for the life of the process.
[[nodiscard]] std::expected<const PcapApi*, std::string> pcap_api();

}  // namespace overflowd::source

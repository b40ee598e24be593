#include "source/pcap_api.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace overflowd::source {

namespace {

template <class F>
void bind(void* lib, const char* name, F& into, std::string& missing) {
  into = reinterpret_cast<F>(::dlsym(lib, name));
  if (!into) missing += std::string(missing.empty() ? "" : ", ") + name;
}

std::expected<const PcapApi*, std::string> load_once() {
  const char* chosen = ::secure_getenv("OVERFLOWD_LIBPCAP");
  auto loaded = load_pcap_api(chosen && *chosen ? chosen : kLibpcapName);
  if (!loaded) return std::unexpected(loaded.error());
  static const PcapApi api = *loaded;
  return &api;
}

}  // namespace

std::expected<PcapApi, std::string> load_pcap_api(const std::string& library) {
  void* lib = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    return std::unexpected("reading a capture needs libpcap (Debian package libpcap0.8): " +
                           std::string(why ? why : library + ": not found"));
  }
  PcapApi api{};
  std::string missing;
  bind(lib, "pcap_open_offline_with_tstamp_precision", api.open_offline_with_tstamp_precision, missing);
  bind(lib, "pcap_fopen_offline_with_tstamp_precision", api.fopen_offline_with_tstamp_precision, missing);
  bind(lib, "pcap_create", api.create, missing);
  bind(lib, "pcap_set_snaplen", api.set_snaplen, missing);
  bind(lib, "pcap_set_promisc", api.set_promisc, missing);
  bind(lib, "pcap_set_timeout", api.set_timeout, missing);
  bind(lib, "pcap_set_immediate_mode", api.set_immediate_mode, missing);
  bind(lib, "pcap_set_buffer_size", api.set_buffer_size, missing);
  bind(lib, "pcap_set_tstamp_precision", api.set_tstamp_precision, missing);
  bind(lib, "pcap_get_tstamp_precision", api.get_tstamp_precision, missing);
  bind(lib, "pcap_activate", api.activate, missing);
  bind(lib, "pcap_setnonblock", api.setnonblock, missing);
  bind(lib, "pcap_geterr", api.geterr, missing);
  bind(lib, "pcap_statustostr", api.statustostr, missing);
  bind(lib, "pcap_close", api.close, missing);
  bind(lib, "pcap_compile", api.compile, missing);
  bind(lib, "pcap_setfilter", api.setfilter, missing);
  bind(lib, "pcap_freecode", api.freecode, missing);
  bind(lib, "pcap_datalink", api.datalink, missing);
  bind(lib, "pcap_datalink_val_to_name", api.datalink_val_to_name, missing);
  bind(lib, "pcap_get_selectable_fd", api.get_selectable_fd, missing);
  bind(lib, "pcap_next_ex", api.next_ex, missing);
  if (!missing.empty()) {
    ::dlclose(lib);
    return std::unexpected(library + " is too old (needs libpcap 1.5 or later): missing " + missing);
  }
  return api;  // the library stays loaded
}

std::expected<const PcapApi*, std::string> pcap_api() {
  static const std::expected<const PcapApi*, std::string> loaded = load_once();
  return loaded;
}

}  // namespace overflowd::source

#include "receive/capture.hpp"

#include <pcap/pcap.h>
#include <poll.h>

#include "decode/packet_walk.hpp"

namespace overflowd::receive {

std::expected<std::unique_ptr<Capture>, std::string> Capture::open(const CaptureConfig& config) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap* h = nullptr;
  const bool live = config.file.empty();
  const std::string name = live ? config.interface : config.file;
  if (!live) {
    h = pcap_open_offline_with_tstamp_precision(config.file.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!h) {
      std::string why = errbuf;
      if (why.starts_with(name + ": ")) why.erase(0, name.size() + 2);
      return std::unexpected(name + ": " + why);
    }
  } else {
    h = pcap_create(config.interface.c_str(), errbuf);
    if (!h) return std::unexpected("capture on " + name + ": " + errbuf);
    pcap_set_snaplen(h, 65535);
    pcap_set_promisc(h, 1);  // reports to other hosts of the network, seen on a mirror port
    pcap_set_timeout(h, 200);
    pcap_set_immediate_mode(h, 1);
    pcap_set_buffer_size(h, 16 << 20);
    pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO);
    const int rc = pcap_activate(h);
    if (rc >= 0) pcap_setnonblock(h, 1, errbuf);
    if (rc < 0) {
      std::string why = pcap_geterr(h);
      if (why.empty()) why = pcap_statustostr(rc);
      pcap_close(h);
      return std::unexpected("capture on " + name + ": " + why);
    }
  }
  const int dlt = pcap_datalink(h);
  if (dlt < 0 || !decode::link_type_supported(static_cast<std::uint32_t>(dlt))) {
    pcap_close(h);
    return std::unexpected(name + ": unsupported link type " + std::to_string(dlt));
  }
  const std::string filter = !config.filter.empty() ? config.filter
                             : config.port ? "udp port " + std::to_string(config.port)
                                           : std::string("udp");
  bpf_program prog{};
  if (pcap_compile(h, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string why = pcap_geterr(h);
    pcap_close(h);
    return std::unexpected("capture filter '" + filter + "': " + why);
  }
  const int set = pcap_setfilter(h, &prog);
  pcap_freecode(&prog);
  if (set != 0) {
    const std::string why = pcap_geterr(h);
    pcap_close(h);
    return std::unexpected("capture filter '" + filter + "': " + why);
  }
  auto c = std::unique_ptr<Capture>(new Capture(h, name, static_cast<std::uint32_t>(dlt), live, config.port));
  c->ts_scale_ = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
  return c;
}

Capture::~Capture() { pcap_close(handle_); }

std::uint64_t Capture::run(const std::function<void(const CapturedDatagram&)>& on, const std::atomic<bool>& stop) {
  std::uint64_t n = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    if (live_) {
      // A blocked read would not see the stop flag: wait for the descriptor at most 200 ms.
      pollfd p{pcap_get_selectable_fd(handle_), POLLIN, 0};
      if (p.fd >= 0 && ::poll(&p, 1, 200) <= 0) continue;
    }
    const int rc = pcap_next_ex(handle_, &hdr, &data);
    if (rc == 0) continue;                     // live: nothing (yet)
    if (rc == PCAP_ERROR_BREAK) break;         // end of the file
    if (rc != 1) {
      warning_ = name_ + ": " + pcap_geterr(handle_) + (live_ ? "" : "; the rest of the file is skipped");
      break;
    }
    ++counters_.packets;
    if (hdr->caplen < hdr->len) {
      counters_.reject(core::Errc::truncated_capture);
      continue;
    }
    auto udp = decode::walk_to_udp(link_type_, core::Bytes(reinterpret_cast<const std::byte*>(data), hdr->caplen));
    if (!udp) {
      counters_.reject(udp.error().code);
      continue;
    }
    if (port_ && udp->dport != port_) {  // a custom filter may let other traffic through
      counters_.reject(core::Errc::not_flow_export);
      continue;
    }
    ++counters_.datagrams;
    ++n;
    CapturedDatagram d;
    d.src = udp->src.unmapped();
    d.dst = udp->dst;
    d.sport = udp->sport;
    d.dport = udp->dport;
    d.ts_ns = std::int64_t{hdr->ts.tv_sec} * 1'000'000'000 + std::int64_t{hdr->ts.tv_usec} * ts_scale_;
    d.payload = std::string_view(reinterpret_cast<const char*>(udp->payload.data()), udp->payload.size());
    on(d);
  }
  return n;
}

}  // namespace overflowd::receive

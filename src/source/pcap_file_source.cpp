#include "source/pcap_file_source.hpp"

#include <pcap/pcap.h>

#include <cstdio>

#include "decode/packet_walk.hpp"

namespace overflowd::source {

namespace {
constexpr std::size_t kReadBuffer = std::size_t{1} << 18;  // 256 KiB
}  // namespace

void SourceCounters::merge(const SourceCounters& o) noexcept {
  packets += o.packets;
  datagrams += o.datagrams;
  for (std::size_t e = 0; e < rejected.size(); ++e) rejected[e] += o.rejected[e];
  kernel_drops += o.kernel_drops;
  counts_kernel_drops = counts_kernel_drops || o.counts_kernel_drops;
}

void SourceCounters::append_to(std::vector<core::NamedCount>& out, const std::string& prefix) const {
  out.push_back({prefix + ".packets", packets});
  out.push_back({prefix + ".datagrams", datagrams});
  if (counts_kernel_drops || kernel_drops) out.push_back({prefix + ".kernel_drops", kernel_drops});
  for (std::size_t e = 0; e < rejected.size(); ++e)
    if (rejected[e]) out.push_back({prefix + ".skipped." + std::string(core::to_string(static_cast<core::Errc>(e))), rejected[e]});
}

std::expected<std::unique_ptr<PcapFileSource>, std::string> PcapFileSource::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // libpcap's message, without the file name it sometimes puts first (we put it there ourselves).
  const auto failed = [&path](const char* message) {
    std::string why = message;
    if (why.starts_with(path + ": ")) why.erase(0, path.size() + 2);  // libpcap names the file itself
    if (why == "unknown file format") why = "not a pcap or pcapng capture (unknown file format)";
    return std::unexpected(path + ": " + why);
  };
  pcap* handle = nullptr;
  // libpcap freads every record header and body; through the default stdio buffer (4 KiB) a
  // capture costs one read(2) per 4 KiB. So the file is opened here with a larger buffer, set
  // before any read. When fopen fails (or for "-", standard input) libpcap opens it as before,
  // so its error messages are unchanged.
  std::unique_ptr<char[]> buffer;  // glibc ignores setvbuf's size unless it is given the buffer
  if (path != "-") {
    if (std::FILE* f = std::fopen(path.c_str(), "rbe")) {
      buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);
      std::setvbuf(f, buffer.get(), _IOFBF, kReadBuffer);
      handle = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
      if (!handle) {
        std::fclose(f);  // libpcap closes it only once it has taken it (pcap_close)
        return failed(errbuf);
      }
    }
  }
  if (!handle) handle = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!handle) return failed(errbuf);
  const int dlt = pcap_datalink(handle);
  if (dlt < 0 || !decode::link_type_supported(static_cast<std::uint32_t>(dlt))) {
    const char* name = pcap_datalink_val_to_name(dlt);
    pcap_close(handle);
    return std::unexpected(path + ": unsupported link type " + std::to_string(dlt) + (name ? std::string(" (") + name + ")" : ""));
  }
  auto src = std::unique_ptr<PcapFileSource>(new PcapFileSource(handle, path, static_cast<std::uint32_t>(dlt)));
  src->read_buffer_ = std::move(buffer);  // outlives the FILE: pcap_close runs in the destructor's body
  src->ts_scale_ = pcap_get_tstamp_precision(handle) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
  return src;
}

PcapFileSource::PcapFileSource(pcap* handle, std::string path, std::uint32_t link_type)
    : handle_(handle), path_(std::move(path)), link_type_(link_type) {}

PcapFileSource::~PcapFileSource() { pcap_close(handle_); }

bool PcapFileSource::next(core::Datagram& out) {
  for (;;) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_, &hdr, &data);
    if (rc == PCAP_ERROR_BREAK) return false;  // end of file
    if (rc != 1) {
      warning_ = path_ + ": " + pcap_geterr(handle_) + "; the rest of the file is skipped";
      return false;
    }
    ++counters_.packets;
    if (hdr->caplen < hdr->len) {  // cut by the capture's snap length
      counters_.reject(core::Errc::truncated_capture);
      continue;
    }
    const core::Bytes frame(reinterpret_cast<const std::byte*>(data), hdr->caplen);
    auto udp = decode::walk_to_udp(link_type_, frame);
    if (!udp) {
      counters_.reject(udp.error().code);
      continue;
    }
    ++counters_.datagrams;
    out.exporter = udp->src;
    out.exporter_port = udp->sport;
    out.received_ns = std::int64_t{hdr->ts.tv_sec} * 1'000'000'000 + std::int64_t{hdr->ts.tv_usec} * ts_scale_;
    out.bytes = udp->payload;
    return true;
  }
}

}  // namespace overflowd::source

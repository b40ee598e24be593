#include "source/pcap_source.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <utility>

#include "decode/packet_walk.hpp"
#include "source/pcap_api.hpp"

namespace overflowd::source {

namespace {
constexpr std::size_t kReadBuffer = std::size_t{1} << 18;  // 256 KiB
// A mapped capture up to this size has its pages mapped at once (MAP_POPULATE: no fault per page);
// a larger one is read ahead as it is walked (MADV_SEQUENTIAL).
constexpr std::size_t kPopulateLimit = std::size_t{64} << 20;
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

namespace {

// libpcap's message, without the file name it sometimes puts first (we put it there ourselves).
std::unexpected<std::string> open_failed(const std::string& path, const char* message) {
  std::string why = message;
  if (why.starts_with(path + ": ")) why.erase(0, path.size() + 2);
  if (why == "unknown file format") why = "not a pcap or pcapng capture (unknown file format)";
  return std::unexpected(path + ": " + why);
}

// A capture file, through a larger stdio buffer than the default: libpcap freads every record
// header and body, and through 4 KiB a capture costs one read(2) per 4 KiB. The buffer is set
// before any read. When fopen fails (or for "-", standard input) libpcap opens it as before, so its
// error messages are unchanged.
std::expected<pcap*, std::string> open_file(const PcapApi& api, const std::string& path, std::unique_ptr<char[]>& buffer) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap* handle = nullptr;
  if (path != "-") {
    if (std::FILE* f = std::fopen(path.c_str(), "rbe")) {
      buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);  // glibc ignores the size without it
      std::setvbuf(f, buffer.get(), _IOFBF, kReadBuffer);
      handle = api.fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
      if (!handle) {
        std::fclose(f);  // libpcap closes it only once it has taken it (pcap_close)
        return open_failed(path, errbuf);
      }
    }
  }
  if (!handle) handle = api.open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!handle) return open_failed(path, errbuf);
  return handle;
}

std::expected<pcap*, std::string> open_live(const PcapApi& api, const std::string& name) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap* h = api.create(name.c_str(), errbuf);
  if (!h) return std::unexpected("capture on " + name + ": " + errbuf);
  api.set_snaplen(h, 65535);
  api.set_promisc(h, 1);  // reports to other hosts of the network, seen on a mirror port
  api.set_timeout(h, 200);
  api.set_immediate_mode(h, 1);
  api.set_buffer_size(h, 16 << 20);
  api.set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO);
  const int rc = api.activate(h);
  if (rc >= 0) api.setnonblock(h, 1, errbuf);
  if (rc < 0) {
    std::string why = api.geterr(h);
    if (why.empty()) why = api.statustostr(rc);
    api.close(h);
    return std::unexpected("capture on " + name + ": " + why);
  }
  return h;
}

std::expected<void, std::string> set_filter(const PcapApi& api, pcap* h, const std::string& filter) {
  bpf_program prog{};
  if (api.compile(h, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
    return std::unexpected("capture filter '" + filter + "': " + api.geterr(h));
  const int set = api.setfilter(h, &prog);
  api.freecode(&prog);
  if (set != 0) return std::unexpected("capture filter '" + filter + "': " + api.geterr(h));
  return {};
}

}  // namespace

std::expected<std::unique_ptr<PcapSource>, std::string> PcapSource::open(const std::string& path) {
  PcapConfig config;
  config.file = path;
  return open(config);
}

namespace {

// A regular file that is a classic pcap capture decode/pcap_file reads, mapped; else nothing, and
// libpcap opens the file (and says what is wrong with it, if anything).
std::optional<std::pair<core::Bytes, decode::PcapFileHeader>> map_classic(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  void* map = MAP_FAILED;
  std::size_t size = 0;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= static_cast<off_t>(decode::kPcapFileHeaderSize)) {
    size = static_cast<std::size_t>(st.st_size);
    map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (size <= kPopulateLimit ? MAP_POPULATE : 0), fd, 0);
  }
  ::close(fd);
  if (map == MAP_FAILED) return std::nullopt;
  const core::Bytes bytes(static_cast<const std::byte*>(map), size);
  auto header = decode::parse_pcap_file_header(bytes);
  if (!header) {
    ::munmap(map, size);
    return std::nullopt;
  }
  if (size > kPopulateLimit) ::madvise(map, size, MADV_SEQUENTIAL);
  return std::make_pair(bytes, *header);
}

}  // namespace

std::expected<std::unique_ptr<PcapSource>, std::string> PcapSource::open(const PcapConfig& config) {
  const bool live = config.file.empty();
  const std::string& name = live ? config.interface : config.file;
  if (!live && name != "-" && config.filter.empty() && !config.port) {
    if (auto mapped = map_classic(name)) {
      auto src = std::unique_ptr<PcapSource>(new PcapSource(nullptr, nullptr, name, mapped->second.link_type, false, config));
      src->mapped_ = mapped->first;
      src->file_header_ = mapped->second;
      src->offset_ = decode::kPcapFileHeaderSize;
      src->ts_scale_ = 1;
      return src;
    }
  }
  auto loaded = pcap_api();
  if (!loaded) return std::unexpected(name + ": " + loaded.error());
  const PcapApi& api = **loaded;
  std::unique_ptr<char[]> buffer;
  auto opened = live ? open_live(api, name) : open_file(api, name, buffer);
  if (!opened) return std::unexpected(opened.error());
  pcap* handle = *opened;
  const int dlt = api.datalink(handle);
  if (dlt < 0 || !decode::link_type_supported(static_cast<std::uint32_t>(dlt))) {
    const char* dlt_name = api.datalink_val_to_name(dlt);
    api.close(handle);
    return std::unexpected(name + ": unsupported link type " + std::to_string(dlt) +
                           (dlt_name ? std::string(" (") + dlt_name + ")" : ""));
  }
  const std::string filter = !config.filter.empty() ? config.filter
                             : config.port        ? "udp port " + std::to_string(config.port)
                                                  : std::string();
  if (!filter.empty()) {
    if (auto r = set_filter(api, handle, filter); !r) {
      api.close(handle);
      return std::unexpected(r.error());
    }
  }
  auto src = std::unique_ptr<PcapSource>(new PcapSource(&api, handle, name, static_cast<std::uint32_t>(dlt), live, config));
  src->read_buffer_ = std::move(buffer);  // outlives the FILE: pcap_close runs in the destructor's body
  src->ts_scale_ = api.get_tstamp_precision(handle) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
  return src;
}

PcapSource::PcapSource(const PcapApi* api, pcap* handle, std::string name, std::uint32_t link_type, bool live,
                       const PcapConfig& config)
    : api_(api), handle_(handle), name_(std::move(name)), link_type_(link_type), live_(live), port_(config.port),
      stop_(config.stop) {}

PcapSource::~PcapSource() {
  if (handle_) api_->close(handle_);
  else ::munmap(const_cast<std::byte*>(mapped_.data()), mapped_.size());
}

bool PcapSource::next_mapped(core::Datagram& out) {
  while (offset_ < mapped_.size()) {
    if (stop_ && stop_->load(std::memory_order_relaxed)) return false;
    const std::size_t at = offset_;
    auto record = decode::next_pcap_record(file_header_, mapped_, offset_);
    if (!record) {
      warning_ = name_ + ": " + decode::describe_pcap_record_error(file_header_, mapped_, at, record.error()) +
                 "; the rest of the file is skipped";
      return false;
    }
    ++counters_.packets;
    if (record->data.size() < record->len) {  // cut by the capture's snap length
      counters_.reject(core::Errc::truncated_capture);
      continue;
    }
    auto udp = decode::walk_to_udp(link_type_, record->data);
    if (!udp) {
      counters_.reject(udp.error().code);
      continue;
    }
    ++counters_.datagrams;
    out.exporter = udp->src;
    out.exporter_port = udp->sport;
    out.received_ns = record->ts_ns;
    out.bytes = udp->payload;
    return true;
  }
  return false;
}

bool PcapSource::next_batch(std::span<core::Datagram> out, std::size_t& n) {
  if (handle_) return Source::next_batch(out, n);
  n = 0;
  while (n < out.size() && next_mapped(out[n])) ++n;
  return n > 0;
}

bool PcapSource::next(core::Datagram& out) {
  if (!handle_) return next_mapped(out);
  for (;;) {
    if (stop_ && stop_->load(std::memory_order_relaxed)) return false;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    if (live_) {
      // A blocked read would not see the stop flag: wait for the descriptor at most 200 ms.
      pollfd p{api_->get_selectable_fd(handle_), POLLIN, 0};
      if (p.fd >= 0 && ::poll(&p, 1, 200) <= 0) continue;
    }
    const int rc = api_->next_ex(handle_, &hdr, &data);
    if (rc == 0) continue;                     // live: nothing (yet)
    if (rc == PCAP_ERROR_BREAK) return false;  // end of file
    if (rc != 1) {
      warning_ = name_ + ": " + api_->geterr(handle_) + (live_ ? "" : "; the rest of the file is skipped");
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
    if (port_ && udp->dport != port_) {  // a custom filter may let other traffic through
      counters_.reject(core::Errc::not_flow_export);
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

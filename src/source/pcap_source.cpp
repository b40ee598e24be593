#include "source/pcap_source.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "decode/packet_walk.hpp"
#include "source/pcap_api.hpp"

namespace overflowd::source {

namespace {
constexpr std::size_t kReadBuffer = std::size_t{1} << 18;  // 256 KiB
// A classic pcap file is read by read(2) into one buffer of this many bytes beyond the largest
// record, reused as it is walked: memory is bounded whatever the file's size, and its pages are
// faulted in once (a 4 MB capture read whole into fresh memory cost more CPU than the rest of the
// start-up's reading; docs/benchmarks.md).
constexpr std::size_t kChunk = std::size_t{1} << 18;
constexpr std::size_t kFileBuffer = kChunk + decode::kPcapRecordHeaderSize + decode::kPcapMaxSnaplen;
// How long a read of standard input waits for bytes before next_batch returns an empty batch, so
// that the pipeline answers SIGUSR1/SIGHUP while no input comes (a signal ends the wait at once).
constexpr int kStdinIdleMs = 100;
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

// Reads into buf[have, cap) until it is full or the file ends; false on a read error (errno set).
bool fill(int fd, std::byte* buf, std::size_t cap, std::size_t& have, bool& at_end) noexcept {
  while (have < cap) {
    const ssize_t got = ::read(fd, buf + have, cap - have);
    if (got > 0) {
      have += static_cast<std::size_t>(got);
    } else if (got == 0) {
      at_end = true;
      return true;
    } else if (errno != EINTR) {
      return false;
    }
  }
  return true;
}

}  // namespace

// A regular file that is a classic pcap capture decode/pcap_file reads: its descriptor and first
// bytes taken; else false, and libpcap opens the file (and says what is wrong with it, if anything).
// Read rather than mapped: a mapped file cut while it is read kills the process with SIGBUS at the
// first page past its new end, while read(2) sees the cut as the end of the file.
bool PcapSource::open_classic(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  auto buffer = std::make_unique_for_overwrite<std::byte[]>(kFileBuffer);
  std::size_t have = 0;
  bool at_end = false;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !fill(fd, buffer.get(), kChunk, have, at_end)) {
    ::close(fd);
    return false;
  }
  auto header = decode::parse_pcap_file_header(core::Bytes(buffer.get(), have));
  if (!header) {
    ::close(fd);
    return false;
  }
  fd_ = fd;
  buffer_ = std::move(buffer);
  begin_ = decode::kPcapFileHeaderSize;
  end_ = have;
  at_end_ = at_end;
  file_header_ = *header;
  link_type_ = header->link_type;
  return true;
}

std::expected<std::unique_ptr<PcapSource>, std::string> PcapSource::open(const PcapConfig& config) {
  const bool live = config.file.empty();
  const std::string& name = live ? config.interface : config.file;
  if (!live && name != "-" && config.filter.empty() && !config.port) {
    auto src = std::unique_ptr<PcapSource>(new PcapSource(nullptr, nullptr, name, 0, false, config));
    if (src->open_classic(name)) {
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
    : api_(api), handle_(handle), name_(std::move(name)), link_type_(link_type), live_(live),
      stdin_(handle && !live && name_ == "-"), port_(config.port), stop_(config.stop) {}

PcapSource::~PcapSource() {
  if (handle_) api_->close(handle_);
  if (fd_ >= 0) ::close(fd_);
}

// The unread bytes moved to the front of the buffer, and up to kChunk more read after them (a
// record longer than that takes more than one call; the buffer's last pages are touched only then).
void PcapSource::refill() {
  std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  if (!fill(fd_, buffer_.get(), std::min(kFileBuffer, end_ + kChunk), end_, at_end_)) {
    read_error_ = std::strerror(errno);
    at_end_ = true;
  }
}

PcapSource::Read PcapSource::next_from_file(core::Datagram& out, bool may_refill) {
  for (;;) {
    if (begin_ == end_ && !at_end_) {
      if (!may_refill) return Read::idle;
      refill();
    }
    if (begin_ == end_) {
      if (!read_error_.empty()) warning_ = name_ + ": " + read_error_ + "; the rest of the file is skipped";
      return Read::end;
    }
    if (stop_ && stop_->load(std::memory_order_relaxed)) return Read::end;
    const core::Bytes buffered(buffer_.get(), end_);
    std::size_t at = begin_;
    auto record = decode::next_pcap_record(file_header_, buffered, at);
    if (!record) {
      if (record.error().code == core::Errc::truncated_records && !at_end_) {  // the rest is still to be read
        if (!may_refill) return Read::idle;
        refill();
        continue;
      }
      warning_ = name_ + ": " +
                 (read_error_.empty() ? decode::describe_pcap_record_error(file_header_, buffered, begin_, record.error())
                                      : read_error_) +
                 "; the rest of the file is skipped";
      begin_ = end_;
      return Read::end;
    }
    begin_ = at;
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
    return Read::datagram;
  }
}

bool PcapSource::next_batch(std::span<core::Datagram> out, std::size_t& n) {
  n = 0;
  if (out.empty()) return true;
  if (!handle_) {
    // The batch's bytes stay where they are until the next call: the buffer is refilled only
    // before its first datagram, so a record past what is buffered ends the batch early.
    for (;;) {
      const Read r = next_from_file(out[n], n == 0);
      if (r == Read::datagram && ++n < out.size()) continue;
      return r != Read::end || n > 0;
    }
  }
  const Read r = next_from_libpcap(out[0]);
  if (r == Read::end) return false;
  n = r == Read::datagram ? 1 : 0;  // idle (standard input): an empty batch, so the caller looks at its flags
  return true;
}

bool PcapSource::next(core::Datagram& out) {
  for (;;) {
    const Read r = handle_ ? next_from_libpcap(out) : next_from_file(out, true);
    if (r != Read::idle) return r == Read::datagram;
  }
}

namespace {

// Bytes stdio has taken from `f`'s descriptor and not handed out yet, which poll() on the
// descriptor does not see (glibc's FILE, as gnulib's freadahead reads it).
std::size_t stdio_pending(const std::FILE* f) noexcept {
#if defined(__GLIBC__)
  return static_cast<std::size_t>(f->_IO_read_end - f->_IO_read_ptr);
#else
  return 1;  // unknown: read at once (and block until input comes)
#endif
}

}  // namespace

PcapSource::Read PcapSource::next_from_libpcap(core::Datagram& out) {
  for (;;) {
    if (stop_ && stop_->load(std::memory_order_relaxed)) return Read::end;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    if (live_) {
      // A blocked read would not see the stop flag: wait for the descriptor at most 200 ms.
      pollfd p{api_->get_selectable_fd(handle_), POLLIN, 0};
      if (p.fd >= 0 && ::poll(&p, 1, 200) <= 0) continue;
    } else if (stdin_ && stdio_pending(stdin) == 0) {
      // libpcap's read of a pipe would block until the next record, and a signal's handler
      // (SA_RESTART) would not end it: wait here instead, where a signal or the time-out returns
      // idle. End of input (POLLHUP) and errors are left to libpcap's read to tell.
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (::poll(&p, 1, kStdinIdleMs) <= 0) return Read::idle;
    }
    const int rc = api_->next_ex(handle_, &hdr, &data);
    if (rc == 0) continue;                         // live: nothing (yet)
    if (rc == PCAP_ERROR_BREAK) return Read::end;  // end of file
    if (rc != 1) {
      warning_ = name_ + ": " + api_->geterr(handle_) + (live_ ? "" : "; the rest of the file is skipped");
      return Read::end;
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
    return Read::datagram;
  }
}

}  // namespace overflowd::source

// The one pcap reader: flow exports (the sender) or reports (the receiver's capture) from a pcap or
// pcapng file, or live from an interface, through libpcap with an optional BPF filter. Each frame
// is walked down to its UDP payload (decode/packet_walk); frames that are not unfragmented UDP (or,
// with a port, not to that port) are counted and skipped. A classic pcap file read without a filter
// (the sender's -f) is read through one buffer and walked by decode/pcap_file, without libpcap;
// libpcap, loaded on the first open that needs it (source/pcap_api), reads pcapng, standard input,
// other link types, filtered files and live captures: a process that reads none of these never
// loads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "decode/pcap_file.hpp"
#include "source/source.hpp"

struct pcap;

namespace overflowd::source {
struct PcapApi;
}

namespace overflowd::source {

struct PcapConfig {
  std::string file;       // a pcap or pcapng file ("-": standard input), or
  std::string interface;  // a live interface (promiscuous: reports to other hosts, on a mirror port)
  std::string filter;     // BPF; empty: "udp port <port>" when a port is set, else none
  std::uint16_t port = 0;  // only UDP datagrams to this destination port (0: any)
  // next() returns false once this is set (live: it looks at least every 200 ms).
  const std::atomic<bool>* stop = nullptr;
};

class PcapSource final : public Source {
public:
  // Opens the file or interface; an error says why (missing, unreadable, not a capture, unsupported
  // link type, a filter that does not compile, no permission to capture, libpcap not installed).
  [[nodiscard]] static std::expected<std::unique_ptr<PcapSource>, std::string> open(const PcapConfig& config);
  // A capture file, every UDP datagram (the sender's -f).
  [[nodiscard]] static std::expected<std::unique_ptr<PcapSource>, std::string> open(const std::string& path);
  ~PcapSource() override;
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  // out.exporter and out.exporter_port are the datagram's source.
  [[nodiscard]] bool next(core::Datagram& out) override;
  // A classic file read by this source fills the batch (its datagrams' bytes stay in the buffer
  // until the next call; a record past the buffered bytes ends the batch early); libpcap gives one.
  // Standard input gives an empty batch after 100 ms without input, or at a signal.
  [[nodiscard]] bool next_batch(std::span<core::Datagram> out, std::size_t& n) override;
  [[nodiscard]] bool live() const noexcept override { return live_; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }

private:
  PcapSource(const PcapApi* api, pcap* handle, std::string name, std::uint32_t link_type, bool live, const PcapConfig& config);
  enum class Read { datagram, idle, end };
  [[nodiscard]] bool open_classic(const std::string& path);
  void refill();
  // idle: the next record is not buffered and `may_refill` is false (the batch ends there).
  [[nodiscard]] Read next_from_file(core::Datagram& out, bool may_refill);
  [[nodiscard]] Read next_from_libpcap(core::Datagram& out);

  const PcapApi* api_;  // null when this source reads the file itself
  pcap* handle_;
  // A classic pcap file read by this source (decode/pcap_file walks it) instead of libpcap: its
  // descriptor and a buffer, the unread bytes in [begin_, end_).
  int fd_ = -1;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool at_end_ = false;  // no more bytes in the file (or a read failed: read_error_)
  std::string read_error_;
  decode::PcapFileHeader file_header_;
  std::unique_ptr<char[]> read_buffer_;  // the stdio buffer of the capture file, when we opened it
  std::string name_;
  std::uint32_t link_type_;
  bool live_;
  bool stdin_;  // libpcap reads standard input ("-")
  std::uint16_t port_;
  const std::atomic<bool>* stop_;
  std::int64_t ts_scale_ = 1000;  // to nanoseconds: 1000 for microsecond files, 1 for nanosecond
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

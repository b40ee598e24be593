// Reads flow exports from a pcap or pcapng file through libpcap: each frame is walked down to its
// UDP payload (decode/packet_walk); frames that are not unfragmented UDP are counted and skipped.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "source/source.hpp"

struct pcap;

namespace overflowd::source {

class PcapFileSource final : public Source {
public:
  // Opens the file; an error says why (missing, unreadable, not a capture, unsupported link type).
  [[nodiscard]] static std::expected<std::unique_ptr<PcapFileSource>, std::string> open(const std::string& path);
  ~PcapFileSource() override;

  [[nodiscard]] bool next(core::Datagram& out) override;
  [[nodiscard]] bool live() const noexcept override { return false; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }

private:
  PcapFileSource(pcap* handle, std::string path, std::uint32_t link_type);

  pcap* handle_;
  std::unique_ptr<char[]> read_buffer_;  // the stdio buffer of the capture file, when we opened it
  std::string path_;
  std::uint32_t link_type_;
  std::int64_t ts_scale_ = 1000;  // to nanoseconds: 1000 for microsecond files, 1 for nanosecond
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

// Reports seen on the wire rather than on a socket: a capture file, or a live interface through
// libpcap with a BPF filter ("udp port 65535" by default), because reports are addressed to every
// host of a network and an operator sees them at its border. Each frame is walked down to its UDP
// payload (decode/packet_walk); frames that are not unfragmented UDP to the report port are
// counted and skipped.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "core/ip_address.hpp"
#include "source/source.hpp"

struct pcap;

namespace overflowd::receive {

struct CaptureConfig {
  std::string file;       // a pcap or pcapng file, or
  std::string interface;  // a live interface
  std::string filter;     // BPF; empty: "udp port <port>"
  std::uint16_t port = 65535;  // UDP destination port of reports (0: any)
};

struct CapturedDatagram {
  core::IpAddress src, dst;
  std::uint16_t sport = 0, dport = 0;
  std::int64_t ts_ns = 0;
  std::string_view payload;  // valid during the callback
};

class Capture {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<Capture>, std::string> open(const CaptureConfig& config);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Calls `on` for each datagram to the report port until the file ends, `stop` is set, or a read
  // error (see warning()). Returns the number of datagrams handed on.
  std::uint64_t run(const std::function<void(const CapturedDatagram&)>& on, const std::atomic<bool>& stop);

  [[nodiscard]] const std::string& warning() const noexcept { return warning_; }
  [[nodiscard]] const source::SourceCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] bool live() const noexcept { return live_; }

private:
  Capture(pcap* handle, std::string name, std::uint32_t link_type, bool live, std::uint16_t port)
      : handle_(handle), name_(std::move(name)), link_type_(link_type), live_(live), port_(port) {}

  pcap* handle_;
  std::string name_;
  std::uint32_t link_type_;
  bool live_;
  std::uint16_t port_;
  std::int64_t ts_scale_ = 1000;
  std::string warning_;
  source::SourceCounters counters_;
};

}  // namespace overflowd::receive

// Reports over UDP: one datagram per (report, address) to the address's report port (65535 by
// default), in the compact wire form: the signature block alone, {"key":..,"signature":..}, whose
// signature carries the whole signed message; a sealed report as the binary sealed datagram
// (report/seal.hpp: 157 bytes over its message). A payload over kMaxPayload (1,200 bytes: no
// fragmentation at IPv6's minimum MTU of 1,280) is not sent but counted (udp.too_large).
//
// Two non-blocking sockets, IPv4 and IPv6, each bound to the configured source address of its
// family when there is one (else the kernel picks). A send the kernel cannot take at once
// (EAGAIN/ENOBUFS) is dropped and counted, never retried: decoding never waits for the network.
// SO_BROADCAST stays off, so the kernel itself refuses broadcast destinations.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "core/report_port.hpp"
#include "sink/transport.hpp"

namespace overflowd::sink {

inline constexpr std::size_t kMaxUdpPayload = 1200;

struct UdpSenderConfig {
  std::uint16_t port = core::kReportPort;
  std::optional<core::IpAddress> source_v4;
  std::optional<core::IpAddress> source_v6;
};

struct UdpSenderCounters {
  std::uint64_t sent = 0;
  std::uint64_t too_large = 0;
  std::uint64_t would_block = 0;  // the socket buffer was full
  std::uint64_t failed = 0;       // any other send error (no route, refused, ...)
  std::uint64_t no_socket = 0;    // no socket of the destination's family could be opened
};

class UdpSender final : public Transport {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<UdpSender>, std::string> open(const UdpSenderConfig& config);
  ~UdpSender() override;
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;

  void send(const core::IpAddress& to, const report::SignedReport& report) override;
  [[nodiscard]] bool datagram() const noexcept override { return true; }
  bool send_bytes(const core::IpAddress& to, std::string_view payload) override;
  void finish() override {}
  void append_counters(std::vector<core::NamedCount>& out) const override;
  [[nodiscard]] const UdpSenderCounters& counters() const noexcept { return counters_; }

private:
  UdpSender(const UdpSenderConfig& config, int fd4, int fd6) : config_(config), fd4_(fd4), fd6_(fd6) {}
  // One datagram; false (counted by `sendto_payload`'s caller) when not sent.
  enum class Sent : std::uint8_t { sent, no_socket, would_block, failed };
  Sent sendto_payload(const core::IpAddress& to, std::string_view payload);
  UdpSenderConfig config_;
  int fd4_;
  int fd6_;
  UdpSenderCounters counters_;
};

}  // namespace overflowd::sink

// Receives flow exports on a UDP socket, IPv4 and IPv6 (a dual-stack socket on "::" takes both),
// recording each exporter's address and the receive time. Stops when the flag it watches is set.
#pragma once

#include <atomic>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "source/source.hpp"

namespace overflowd::source {

struct UdpSourceConfig {
  std::string bind = "::";  // "::" takes IPv4 too (IPV6_V6ONLY off)
  std::uint16_t port = 7777;
  int receive_buffer = 8 << 20;  // SO_RCVBUF asked for; the kernel may cap it
};

class UdpSource final : public Source {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<UdpSource>, std::string> open(const UdpSourceConfig& config,
                                                                                   const std::atomic<bool>* stop);
  ~UdpSource() override;

  [[nodiscard]] bool next(core::Datagram& out) override;
  [[nodiscard]] bool live() const noexcept override { return true; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }  // the bound port (for port 0)

private:
  UdpSource(int fd, const std::atomic<bool>* stop, std::uint16_t port);

  int fd_;
  const std::atomic<bool>* stop_;
  std::uint16_t port_;
  std::vector<std::byte> buffer_;
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

// The replayer: sends the flow-export UDP payloads of a capture to a collector, at a given rate or
// as fast as the machine goes, for a bounded count and time. For benchmarks and tests.
//
// Safety: the destination must be loopback (127.0.0.0/8 or ::1) unless the caller explicitly
// allows others (allow_non_loopback); check_target() refuses before any socket or file is opened.
// The sockets are bound to a loopback address too, so nothing leaves the machine.
//
// The capture's payloads are read into memory first (source::PcapSource), so sending is a loop
// of sendmmsg(2) calls of up to kBatch datagrams over prepared buffers.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"

namespace overflowd::io {

struct ReplayTarget {
  core::IpAddress address;
  std::uint16_t port = 0;
  [[nodiscard]] std::string to_string() const;
};

// "127.0.0.1:2055" or "[::1]:2055". `flag` names the setting in the error; a listener that takes
// any free port (the kernel's choice, said in its log) allows port 0 with `min_port` 0.
[[nodiscard]] std::expected<ReplayTarget, std::string> parse_target(std::string_view text, std::string_view flag = "--to",
                                                                    std::uint16_t min_port = 1);
// 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
[[nodiscard]] bool is_loopback(const core::IpAddress& address) noexcept;
// The refusal of a destination that is not loopback unless allowed; an error says why.
[[nodiscard]] std::expected<void, std::string> check_target(const ReplayTarget& target, bool allow_non_loopback);

struct ReplayCapture {
  struct Datagram {
    std::size_t offset = 0;  // into bytes
    std::size_t size = 0;
    std::uint32_t flows = 0;  // records overflowd's decoders take from it (reading the capture once)
  };
  std::vector<std::byte> bytes;
  std::vector<Datagram> datagrams;
  std::uint64_t flows = 0;
};

inline constexpr std::size_t kMaxReplayBytes = std::size_t{1} << 30;  // payload bytes held in memory

// Reads the UDP payloads of a capture, at most `max_datagrams` (0: all) and kMaxReplayBytes.
[[nodiscard]] std::expected<ReplayCapture, std::string> load_replay_capture(const std::string& path,
                                                                           std::uint64_t max_datagrams);

struct ReplayConfig {
  ReplayTarget to;
  bool allow_non_loopback = false;
  double rate = 0;            // datagrams per second; 0: as fast as possible
  std::uint64_t count = 0;    // datagrams at most (0: no bound)
  double duration_s = 0;      // seconds at most (0: no bound)
  bool loop = false;          // start the capture again at its end (needs count or duration)
  unsigned exporters = 1;     // source sockets (ports), taken in turn batch by batch
};

struct ReplaySummary {
  std::uint64_t datagrams = 0;
  std::uint64_t flows = 0;
  std::uint64_t bytes = 0;  // UDP payload bytes
  double elapsed_s = 0;
  std::uint64_t send_errors = 0;  // datagrams the kernel refused (counted, skipped)
};

// Sends until the capture ends (without loop), `count` datagrams are sent, `duration_s` passes,
// or `stop` is set. Refuses a non-loopback target unless allowed, before opening any socket.
[[nodiscard]] std::expected<ReplaySummary, std::string> replay(const ReplayCapture& capture, const ReplayConfig& config,
                                                               const std::atomic<bool>* stop);

}  // namespace overflowd::io

// A source yields flow-export datagrams, one at a time or in batches, until its input ends or it
// is stopped.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/counters.hpp"
#include "core/datagram.hpp"
#include "core/result.hpp"

namespace overflowd::source {

struct SourceCounters {
  std::uint64_t packets = 0;    // frames read from a capture, or datagrams received
  std::uint64_t datagrams = 0;  // UDP payloads handed on
  std::array<std::uint64_t, core::kErrcCount> rejected{};  // by reason (not_udp, ip_fragment, ...)
  // Datagrams the kernel dropped because the socket's receive buffer was full (live sources).
  std::uint64_t kernel_drops = 0;
  bool counts_kernel_drops = false;  // live sockets: kernel_drops is printed even when 0

  void reject(core::Errc e) noexcept { ++rejected[static_cast<std::size_t>(e)]; }
  void merge(const SourceCounters& other) noexcept;
  void append_to(std::vector<core::NamedCount>& out, const std::string& prefix) const;
};

class Source {
public:
  virtual ~Source() = default;
  // The next datagram; false when the input has ended (see warning()) or the source was stopped.
  // Its bytes are valid until the next call of next() or next_batch().
  [[nodiscard]] virtual bool next(core::Datagram& out) = 0;
  // Up to out.size() datagrams into out[0..n); their bytes are valid until the next call. False
  // when the input has ended or the source was stopped. A live source returns true with n == 0
  // when nothing arrived for a while, so that its caller can look at its flags. The default takes
  // one datagram from next().
  [[nodiscard]] virtual bool next_batch(std::span<core::Datagram> out, std::size_t& n) {
    n = 0;
    if (out.empty()) return true;
    if (!next(out[0])) return false;
    n = 1;
    return true;
  }
  // True for sources that deliver as traffic arrives (reports are flushed one by one).
  [[nodiscard]] virtual bool live() const noexcept = 0;
  // Why the input ended early, if it did (a truncated capture file, a read error); else empty.
  [[nodiscard]] virtual const std::string& warning() const noexcept = 0;
  // Brings counters the kernel keeps (drops) up to date; call it before reading counters().
  virtual void refresh_counters() noexcept {}
  [[nodiscard]] virtual const SourceCounters& counters() const noexcept = 0;
};

}  // namespace overflowd::source

// A source yields flow-export datagrams, one at a time, until its input ends or it is stopped.
#pragma once

#include <array>
#include <cstdint>
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

  void reject(core::Errc e) noexcept { ++rejected[static_cast<std::size_t>(e)]; }
  void append_to(std::vector<core::NamedCount>& out, const std::string& prefix) const;
};

class Source {
public:
  virtual ~Source() = default;
  // The next datagram; false when the input has ended (see warning()) or the source was stopped.
  [[nodiscard]] virtual bool next(core::Datagram& out) = 0;
  // True for sources that deliver as traffic arrives (reports are flushed one by one).
  [[nodiscard]] virtual bool live() const noexcept = 0;
  // Why the input ended early, if it did (a truncated capture file, a read error); else empty.
  [[nodiscard]] virtual const std::string& warning() const noexcept = 0;
  [[nodiscard]] virtual const SourceCounters& counters() const noexcept = 0;
};

}  // namespace overflowd::source

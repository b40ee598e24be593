// One entry point for every flow-export datagram: picks the decoder by content (the version
// field), not by port, so one socket can take every protocol. Holds the per-exporter state the
// template-based decoders need, and counts every datagram, record and refusal.
#pragma once

#include <vector>

#include "core/counters.hpp"
#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"

namespace overflowd::decode {

// Which protocol a payload claims to be, from its first bytes alone.
[[nodiscard]] core::Protocol sniff(core::Bytes payload) noexcept;

class Dispatcher {
public:
  // Decodes one datagram, appending its flow records to `out`; returns how many were appended.
  // A refused datagram appends nothing and is counted under its protocol and reason.
  [[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram,
                                                 std::vector<core::FlowRecord>& out);

  [[nodiscard]] const core::DecodeCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] core::DecodeCounters& counters() noexcept { return counters_; }

private:
  core::DecodeCounters counters_;
};

}  // namespace overflowd::decode

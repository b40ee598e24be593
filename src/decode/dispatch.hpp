// One entry point for every flow-export datagram: picks the decoder by content (the version
// field), not by port, so one socket can take every protocol. Holds the per-exporter state the
// template-based decoders need, and counts every datagram, record and refusal.
#pragma once

#include <vector>

#include "core/counters.hpp"
#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"
#include "decode/flow_sets.hpp"
#include "decode/template_cache.hpp"

namespace overflowd::decode {

// Which protocol a payload claims to be, from its first bytes alone.
[[nodiscard]] core::Protocol sniff(core::Bytes payload) noexcept;

class Dispatcher {
public:
  Dispatcher() = default;
  explicit Dispatcher(TemplateCacheLimits limits) : templates_(limits) {}

  // Decodes one datagram, appending its flow records to `out`; returns how many were appended.
  // A refused datagram appends nothing and is counted under its protocol and reason. For NetFlow
  // v9 and IPFIX, a datagram whose header is good is accepted even when some of its sets are not:
  // the records of the good sets are appended, and each bad set is counted under its reason (see
  // set_errors()).
  [[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram,
                                                 std::vector<core::FlowRecord>& out);

  [[nodiscard]] const core::DecodeCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] core::DecodeCounters& counters() noexcept { return counters_; }

  // The v9 / IPFIX templates and sampling state learned so far.
  [[nodiscard]] const TemplateCache& templates() const noexcept { return templates_; }
  [[nodiscard]] TemplateCache& templates() noexcept { return templates_; }
  // The set-level refusals of the last datagram decoded (v9 / IPFIX; empty for the others).
  [[nodiscard]] const SetErrors& set_errors() const noexcept { return set_errors_; }

private:
  core::DecodeCounters counters_;
  TemplateCache templates_;
  SetErrors set_errors_;
};

}  // namespace overflowd::decode

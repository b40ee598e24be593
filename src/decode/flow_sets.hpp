// What NetFlow v9 and IPFIX share below the message header: compiling template fields, decoding a
// data set against its template (flow records, or options data that feeds the sampling state), and
// collecting the errors of single sets, which refuse that set but not the rest of the datagram.
//
// Data set rules (both protocols):
// - Records are read back to back from the set body. What is left when fewer bytes remain than the
//   template's (minimum) record length is padding (RFC 3954 erratum 2096, RFC 7011 3.3.1: padding is
//   shorter than any record) when it is shorter than 4 bytes or all zero; anything else is a cut
//   record, counted as truncated_records (the records before it are kept).
// - A biflow record (a template with RFC 5103 reverse counters) gives a second flow record, right
//   after it, for the reverse direction when that carried traffic (ie::reverse_flow).
// - A variable-length record that runs past the set is truncated_records; one longer than
//   TemplateCacheLimits::max_record_length is record_limit. Both stop the set, keeping what came before.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/byte_reader.hpp"
#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"
#include "decode/information_elements.hpp"
#include "decode/template_cache.hpp"

namespace overflowd::decode {

// The refusals inside one datagram whose header was accepted: every one is counted by code, and the
// first few are kept with their context (offset, version, domain, template id).
class SetErrors {
public:
  static constexpr std::size_t kKept = 8;

  void clear() noexcept {
    if (total_ != 0) by_code_ = {};  // only add() writes it, and add() counts in total_
    total_ = 0;
    skipped_ = 0;
    estimated_ = 0;
    no_counters_ = 0;
    no_time_ = 0;
  }
  // Flow records whose counts resolve_record() fixed: not errors, counted apart (see dispatch).
  void note(ie::CountFix fix) noexcept {
    estimated_ += fix == ie::CountFix::packets_estimated;
    no_counters_ += fix == ie::CountFix::no_counters;
  }
  [[nodiscard]] std::size_t packets_estimated() const noexcept { return estimated_; }
  [[nodiscard]] std::size_t no_counters() const noexcept { return no_counters_; }
  // Flow records whose template has time fields that gave no time (IPFIX uptime stamps with no
  // systemInitTimeMilliseconds known): reported without times.
  void note_no_time() noexcept { ++no_time_; }
  [[nodiscard]] std::size_t no_time() const noexcept { return no_time_; }
  // Sets skipped on purpose (reserved set ids): not errors, counted as DecodeCounters::skipped.
  void skip() noexcept { ++skipped_; }
  [[nodiscard]] std::size_t skipped() const noexcept { return skipped_; }
  void add(const core::Error& e) noexcept {
    if (total_ < kKept) kept_[total_] = e;
    ++total_;
    ++by_code_[static_cast<std::size_t>(e.code)];
  }
  [[nodiscard]] std::size_t size() const noexcept { return total_; }
  [[nodiscard]] bool empty() const noexcept { return total_ == 0; }
  [[nodiscard]] std::uint32_t count(core::Errc code) const noexcept {
    return by_code_[static_cast<std::size_t>(code)];
  }
  // The first min(size(), kKept) errors, in order.
  [[nodiscard]] std::span<const core::Error> kept() const noexcept {
    return std::span(kept_).first(total_ < kKept ? total_ : kKept);
  }
  [[nodiscard]] const std::array<std::uint32_t, core::kErrcCount>& by_code() const noexcept { return by_code_; }

private:
  std::array<core::Error, kKept> kept_{};
  std::size_t total_ = 0;
  std::size_t skipped_ = 0;
  std::size_t estimated_ = 0;
  std::size_t no_counters_ = 0;
  std::size_t no_time_ = 0;
  std::array<std::uint32_t, core::kErrcCount> by_code_{};
};

// Appends a compiled field to a template's op list, merging it into a preceding fixed skip.
void append_op(std::vector<ie::FieldOp>& ops, ie::FieldOp op);
// One template field (length from the template, kVariableLength for a variable one): its op
// appended, the draft's variable flag and minimum record length updated.
void add_template_field(TemplateCache::Draft& draft, std::vector<ie::FieldOp>& ops, std::uint16_t length, ie::Op op);

// Everything a data set needs besides its bytes and template.
struct SetContext {
  TemplateCache& cache;
  const DomainKey& key;
  const core::Datagram& datagram;
  ie::TimeBase time;
  core::SourceType source_type = core::SourceType::netflow;
  SetErrors& errors;
};

// Decodes the body of a data set (after its 4-byte header, at `body_offset` in the datagram) with
// template `t` of `domain`. Flow records are appended to `out`; options records update the domain's
// sampling state. Returns the number of flow records appended.
std::size_t decode_data_set(SetContext& ctx, Domain& domain, const Template& t, core::Bytes body,
                            std::size_t body_offset, std::vector<core::FlowRecord>& out);

}  // namespace overflowd::decode

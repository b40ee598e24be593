// The receiver's fast path over a signed message: one pass over the bytes, no DOM, that checks the
// message is JSON the way report::verify_report's parser (nlohmann) takes it (RFC 8259 grammar,
// well-formed UTF-8 in strings, \u escapes with paired surrogates, numbers that fit a double,
// nesting at most report::kMaxDepth, no member named twice) and picks out the fields the store
// indexes (ingest.hpp ReportFields) with nlohmann's typing rules (an unsigned integer is clamped to
// INT64_MAX, a float where an integer is expected is ignored, ...), and notes a whole-number field
// beyond int64 (facts.integer_out_of_range: the report is refused, ingest.hpp integers_fit).
//
// It is conservative: true means the reference path would accept the message as a JSON object and
// read exactly these fields from it; false means "not sure" (invalid, or merely outside what this
// scanner handles: a member name with an escape, an object of more than kMaxMembers members, a
// number a double cannot hold, a byte-order mark) and the caller asks the reference path, which
// names the reason. So the fast path can only be faster, never different.
#pragma once

#include <cstddef>
#include <string_view>

#include "receive/ingest.hpp"

namespace overflowd::receive {

struct ScanFacts {
  std::size_t members = 0;        // members of the top-level object
  bool has_signature = false;     // the top-level object names "signature"
  bool integer_out_of_range = false;  // a whole-number field holds a number beyond int64 (ingest.hpp)
};

inline constexpr std::size_t kMaxScanMembers = 64;  // per object; more: ask the reference path

// `fields` must hold its defaults on entry; on false it may be partly written.
[[nodiscard]] bool scan_report(std::string_view message, ReportFields& fields, ScanFacts& facts);

// Canonical base64 (RFC 4648 alphabet, with padding, zero bits after the last byte) exactly as
// core::from_base64 takes it, appended to `out`; false (out unspecified) for anything else.
[[nodiscard]] bool decode_base64_strict(std::string_view text, std::string& out);

}  // namespace overflowd::receive

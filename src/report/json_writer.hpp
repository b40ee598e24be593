// Appends JSON values in the canonical form of RFC 8785 (JCS): minimal string escaping, integers
// as digits, doubles in the ECMAScript shortest round-trip form. The report builder writes keys in
// sorted order, so a report is canonical JSON byte for byte and any client can re-derive the
// signed message from a parsed report.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace overflowd::report::json {

// s must be valid UTF-8 (config values are checked once at start with valid_utf8).
void append_string(std::string& out, std::string_view s);
void append_uint(std::string& out, std::uint64_t v);
void append_int(std::string& out, std::int64_t v);
// A finite double as ECMAScript's Number.prototype.toString (RFC 8785 section 3.2.2.3).
void append_double(std::string& out, double v);

[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

}  // namespace overflowd::report::json

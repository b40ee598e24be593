// The list file formats operators already have, parsed from text (the file is read by the caller:
// app/policy_file.cpp). Pure: no I/O.
//   plain     one CIDR (or bare address) per line; '#' starts a comment; blank lines skipped
//   spamhaus  Spamhaus DROP / EDROP: "CIDR ; SBLnnn"; lines starting with ';' are comments
//   cymru     Team Cymru bogons / fullbogons: a '#' header line, then one CIDR per line
// A malformed line fails the whole list (nothing half-loaded): "<origin>:<line>: <what>".
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guard/cidr.hpp"

namespace overflowd::policy {

enum class ListFormat : std::uint8_t { plain, spamhaus, cymru };

[[nodiscard]] std::optional<ListFormat> parse_list_format(std::string_view name) noexcept;
[[nodiscard]] const char* to_string(ListFormat f) noexcept;

// A list file's prefixes, in file order; at most kMaxListEntries.
inline constexpr std::size_t kMaxListEntries = 4'000'000;
[[nodiscard]] std::expected<std::vector<guard::Cidr>, std::string> parse_list(std::string_view text,
                                                                              std::string_view origin,
                                                                              ListFormat format);

}  // namespace overflowd::policy

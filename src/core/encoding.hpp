// Hex and base64 (RFC 4648, with padding) over bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace overflowd::core {

[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
// Exactly `bytes.size()` bytes from 2x hex digits (either case); false when the text is anything else.
[[nodiscard]] bool from_hex(std::string_view hex, std::span<std::uint8_t> bytes) noexcept;

// Not constant-time (a table lookup per 6 bits): for public data such as signatures and signed
// messages, not for secrets.
void append_base64(std::string& out, std::span<const std::uint8_t> bytes);
[[nodiscard]] std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text);

}  // namespace overflowd::core

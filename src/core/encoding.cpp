#include "core/encoding.hpp"

#include <sodium.h>

namespace overflowd::core {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> bytes) noexcept {
  if (hex.size() != bytes.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

void append_base64(std::string& out, std::span<const std::uint8_t> bytes) {
  const std::size_t at = out.size();
  const std::size_t n = sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(at + n);
  sodium_bin2base64(out.data() + at, n, bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(at + n - 1);  // drop the terminating NUL
}

std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text) {
  std::vector<std::uint8_t> out(text.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace overflowd::core

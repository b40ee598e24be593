// The project's one set of number parsers, for flags, TOML values, query parameters and the
// replayer's arguments: the whole text is the number or nothing is (no spaces, no sign on an
// unsigned type, no trailing bytes), within the caller's bounds. Each caller words its own error
// message (it names its flag or key), so these return an empty optional rather than a message.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

namespace overflowd::core {

// A whole number of type T in [lo, hi].
template <class T>
  requires std::is_integral_v<T>
[[nodiscard]] std::optional<T> parse_whole(std::string_view text, T lo, T hi) noexcept {
  T v{};
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || v < lo || v > hi) return std::nullopt;
  return v;
}

// A finite real number in [lo, hi] (decimal or exponent form).
[[nodiscard]] inline std::optional<double> parse_real(std::string_view text, double lo, double hi) noexcept {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || !std::isfinite(v) || !(v >= lo) || !(v <= hi))
    return std::nullopt;
  return v;
}

// A size in bytes in [lo, hi]: a whole number, optionally with a binary suffix K, M or G (either case).
[[nodiscard]] inline std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t lo,
                                                             std::uint64_t hi) noexcept {
  std::uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': scale = 1ull << 10; break;
      case 'm': case 'M': scale = 1ull << 20; break;
      case 'g': case 'G': scale = 1ull << 30; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  const auto v = parse_whole<std::uint64_t>(text, 0, hi);
  if (!v || *v * scale < lo || *v * scale > hi) return std::nullopt;
  return *v * scale;
}

}  // namespace overflowd::core

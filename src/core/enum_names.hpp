// The name of an enum's value from a table of names in the order of its values (0, 1, ...):
//   constexpr const char* kNames[] = {"udp", "http"};
//   static_assert(std::size(kNames) == static_cast<std::size_t>(Input::http) + 1);
//   return core::enum_name(input, kNames);
// "unknown" for a value outside the table. One lookup instead of a switch per enum.
#pragma once

#include <cstddef>
#include <iterator>  // std::size, for the callers' static_asserts

namespace overflowd::core {

template <class Enum, std::size_t N>
[[nodiscard]] constexpr const char* enum_name(Enum e, const char* const (&names)[N], std::ptrdiff_t first = 0) noexcept {
  const auto i = static_cast<std::ptrdiff_t>(e) - first;
  return i >= 0 && static_cast<std::size_t>(i) < N ? names[static_cast<std::size_t>(i)] : "unknown";
}

}  // namespace overflowd::core

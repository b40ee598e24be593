// What the receiver's stages hand each other: a report as it arrived (Arrival), its verdict
// (ingest.hpp), and, for a verified report about a flow from my prefixes, whether my own exports
// saw that flow (spoof_window.hpp). The verifier makes items; the store (src/store/) keeps them.
#pragma once

#include <cstdint>

#include "receive/ingest.hpp"

namespace overflowd::receive {

// Whether a reported flow from my prefixes was seen by my own exporters (spoof_window.hpp).
enum class SpoofStatus : std::int8_t { not_mine = -1, seen = 0, suspect = 1, unknown = 2 };
[[nodiscard]] const char* to_string(SpoofStatus s) noexcept;

struct Item {
  Arrival arrival;
  Verdict verdict;
  SpoofStatus spoof = SpoofStatus::not_mine;
};

// What became of an item in the store.
enum class Outcome : std::uint8_t { stored, duplicate, rejected };

}  // namespace overflowd::receive

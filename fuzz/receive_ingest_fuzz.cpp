// The receiver's first step on untrusted bytes: verify a report in either wire form, pull out its
// indexed fields, and name the reason for a refusal. Must never crash, whatever arrives; and when
// the fast path (ingest_fast) answers, its verdict is the reference's (ingest_reference), field by
// field, with or without the cache of checked signatures.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "receive/ingest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::receive;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;
  const Verdict v = ingest(raw, kNow, SkewPolicy{});
  if (const auto* a = std::get_if<Accepted>(&v)) {
    if (a->message.empty()) __builtin_trap();  // a verified report always has a signed message
  }
  if (const auto fast = ingest_fast(raw, kNow, SkewPolicy{})) {
    if (!verdict_difference(*fast, ingest_reference(raw, kNow, SkewPolicy{})).empty()) __builtin_trap();
  }
  // With the cache of checked signatures, kept from input to input: a hit never changes a verdict.
  static VerifiedCache cache(64);  // 16 sets of 4: entries come and go
  if (const auto cached = ingest_fast(raw, kNow, SkewPolicy{}, &cache)) {
    if (!verdict_difference(*cached, ingest_reference(raw, kNow, SkewPolicy{})).empty()) __builtin_trap();
  }
  return 0;
}

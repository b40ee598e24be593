// The receiver's first step on untrusted bytes: verify a report in either wire form, pull out its
// indexed fields, and name the reason for a refusal. Must never crash, whatever arrives.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "receive/ingest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto v = overflowd::receive::ingest(raw, 1'750'000'000LL * 1'000'000'000, overflowd::receive::SkewPolicy{});
  if (const auto* a = std::get_if<overflowd::receive::Accepted>(&v)) {
    if (a->message.empty()) __builtin_trap();  // a verified report always has a signed message
  }
  return 0;
}

// Fuzz target: the sealed envelope (report::parse_sealed, report::open_sealed). The first byte
// picks what the rest is:
//   even: an envelope as it arrives, parsed and opened with a fixed test key (secret 0x11 x 32);
//   odd:  a report, sealed here to the test key and opened again: it must open to exactly itself.
// Seeds: fuzz/corpus/sealed_envelope/ (an envelope sealed to the test key, made with PyNaCl).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "report/seal.hpp"

namespace {

const overflowd::report::Keyring& test_ring() {
  static const overflowd::report::Keyring ring = [] {
    std::array<std::uint8_t, 32> secret{};
    secret.fill(0x11);
    overflowd::report::Keyring r;
    r.add(overflowd::report::x25519_from_secret(secret));
    return r;
  }();
  return ring;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::report;
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    const auto env = parse_sealed(as_bytes(rest));
    const auto opened = open_sealed(as_bytes(rest), test_ring());
    if (opened && !env) __builtin_trap();
    if (env && env->box.size() < 48) __builtin_trap();
    if (opened && opened->report.size() + 48 != env->box.size()) __builtin_trap();
    (void)looks_sealed(rest);
    return 0;
  }
  std::string sealed;
  seal(rest, test_ring().keys()[0].public_key, sealed);
  if (!looks_sealed(sealed)) __builtin_trap();
  const auto opened = open_sealed(as_bytes(sealed), test_ring());
  // Sealed envelopes of inputs near the strict parser's size cap may be refused as too large.
  if (sealed.size() <= 64 * 1024 && (!opened || opened->report != rest)) __builtin_trap();
  return 0;
}

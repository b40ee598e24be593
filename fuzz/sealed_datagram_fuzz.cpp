// Fuzz target: the binary sealed datagram (report::parse_sealed_datagram, open_sealed_datagram,
// README "The binary sealed datagram"). The first byte picks what the rest is:
//   even: a datagram as it arrives, parsed and opened with a fixed test key (secret 0x11 x 32),
//         valid from 1000 to 2000, at a time the next 2 bytes choose (so expired_kid is reached);
//   odd:  a signed message, sealed here to the test key with a fixed signer key and signature and
//         opened again: it must open to the compact form of exactly that key, signature and message.
// Seeds: fuzz/corpus/sealed_datagram/ (datagrams sealed to the test key, made with PyNaCl).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/encoding.hpp"
#include "report/seal.hpp"

namespace {

const overflowd::report::Keyring& test_ring() {
  static const overflowd::report::Keyring ring = [] {
    std::array<std::uint8_t, 32> secret{};
    secret.fill(0x11);
    overflowd::report::Keyring r;
    r.add(overflowd::report::x25519_from_secret(secret), {.not_before = 1000, .not_after = 2000});
    return r;
  }();
  return ring;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::report;
  if (size < 3) return 0;
  const std::int64_t now = 900 + (data[1] | (data[2] << 8)) % 1200;  // 900 .. 2099
  const std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
  if ((data[0] & 1) == 0) {
    const auto env = parse_sealed_datagram(as_bytes(rest));
    const auto opened = open_sealed_datagram(as_bytes(rest), test_ring(), now);
    if (opened && !env) __builtin_trap();
    if (env && (env->box.size() < 48 || env->box.size() + kDatagramHeader != rest.size())) __builtin_trap();
    if (env && !looks_sealed_datagram(rest)) __builtin_trap();
    if (opened && (now < 1000 || now >= 2000)) __builtin_trap();  // only inside the key's window
    if (opened && !opened->report.starts_with("{\"key\":\"")) __builtin_trap();
    return 0;
  }
  std::array<std::uint8_t, 32> signer{};
  signer.fill(0x22);
  std::array<std::uint8_t, 64> signature{};
  signature.fill(0x33);
  std::string dg;
  seal_datagram(signer, signature, rest, test_ring().keys()[0].public_key, dg);
  if (dg.size() != sealed_datagram_bytes(rest.size()) || !looks_sealed_datagram(dg)) __builtin_trap();
  const auto opened = open_sealed_datagram(as_bytes(dg), test_ring(), 1500);
  if (!opened) __builtin_trap();
  std::vector<std::uint8_t> sm;
  sm.reserve(signature.size() + rest.size());
  for (const std::uint8_t b : signature) sm.push_back(b);
  for (const char c : rest) sm.push_back(static_cast<std::uint8_t>(c));
  std::string expect = "{\"key\":\"" + overflowd::core::to_hex(signer) + "\",\"signature\":\"";
  overflowd::core::append_base64(expect, sm);
  expect += "\"}";
  if (opened->report != expect) __builtin_trap();
  // And the compact form seals back to a datagram of the same size.
  std::string again;
  if (!seal_compact_datagram(opened->report, test_ring().keys()[0].public_key, again) || again.size() != dg.size())
    __builtin_trap();
  return 0;
}

// Fuzz target: the pinned peer keys file (report::PeerKeys::parse). Whatever parses must answer
// lookups, and the longest prefix wins: the key found for an address holds that address.
// Seeds: fuzz/corpus/peer_keys/.
#include <cstddef>
#include <cstdint>

#include "report/peer_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  const auto keys = report::PeerKeys::parse(std::as_bytes(std::span(data, size)));
  if (!keys) return 0;
  for (const char* a : {"192.0.2.1", "198.51.100.7", "2001:db8::1", "::ffff:192.0.2.1", "0.0.0.0"}) {
    const auto address = *core::IpAddress::parse(a);
    if (const auto* k = keys->find(address); k && !k->prefix.contains(address)) __builtin_trap();
  }
  return 0;
}

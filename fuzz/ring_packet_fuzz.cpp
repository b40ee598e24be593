// Fuzz target: an AF_PACKET ring packet (from the IP header) down to its UDP payload. The first
// byte says whether the kernel vouched for the checksum; the payload must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "decode/ring_packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto packet = std::as_bytes(std::span(data + 1, size - 1));
  const auto r = overflowd::decode::parse_ring_packet(packet, (data[0] & 1) != 0);
  if (r && (r->payload.data() < packet.data() || r->payload.data() + r->payload.size() > packet.data() + packet.size()))
    std::abort();
  return 0;
}

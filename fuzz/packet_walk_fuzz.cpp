// Fuzz target: the capture packet walk, from a frame of each supported link type down to UDP.
#include <cstddef>
#include <cstdint>

#include "decode/packet_walk.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::decode;
  if (size < 1) return 0;
  static constexpr std::uint32_t kLinks[] = {kLinkNull, kLinkEthernet, kLinkRaw, kLinkLoop,
                                             kLinkLinuxSll, kLinkIpv4, kLinkIpv6, kLinkLinuxSll2};
  const auto link = kLinks[data[0] % (sizeof kLinks / sizeof kLinks[0])];
  const auto frame = std::as_bytes(std::span(data + 1, size - 1));
  (void)walk_to_udp(link, frame);
  (void)parse_frame(link, frame);
  return 0;
}

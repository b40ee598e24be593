// Fuzz target: the NetFlow v5 decoder, through the dispatcher as live input reaches it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  overflowd::decode::Dispatcher dispatcher;
  std::vector<overflowd::core::FlowRecord> out;
  overflowd::core::Datagram d;
  d.bytes = std::as_bytes(std::span(data, size));
  (void)dispatcher.decode(d, out);
  return 0;
}

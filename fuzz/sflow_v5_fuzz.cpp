// Fuzz target: the sFlow v5 decoder, directly with tight caps (so the caps' paths are reached
// with small inputs) and through the dispatcher as live input reaches it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"
#include "decode/sflow_v5.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  core::Datagram d;
  d.bytes = std::as_bytes(std::span(data, size));
  std::vector<core::FlowRecord> out;

  decode::sflow_v5::Limits tight;
  tight.max_samples = 4;
  tight.max_records = 4;
  tight.max_header_bytes = 64;
  tight.max_as_path_segments = 2;
  tight.max_as_path_length = 4;
  decode::sflow_v5::Stats stats;
  (void)decode::sflow_v5::decode(d, out, stats, tight);

  out.clear();
  decode::Dispatcher dispatcher;
  (void)dispatcher.decode(d, out);
  return 0;
}

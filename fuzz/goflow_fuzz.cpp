// Fuzz target: goflow2's flow messages from Kafka (src/decode/goflow.cpp), through the dispatcher
// as the Kafka source hands them on. The first byte picks the format (even: protobuf, odd: JSON);
// the rest is the message. Every accepted message must give flows whose counts add up.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "decode/dispatch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  overflowd::decode::Dispatcher dispatcher;
  std::vector<overflowd::core::FlowRecord> out;
  overflowd::core::Datagram d;
  d.format = data[0] % 2 == 0 ? overflowd::core::Protocol::goflow_pb : overflowd::core::Protocol::goflow_json;
  d.bytes = std::as_bytes(std::span(data + 1, size - 1));
  const auto n = dispatcher.decode(d, out);
  if (n && *n != out.size()) std::abort();
  if (!n && !out.empty()) std::abort();
  for (const auto& f : out)
    if (f.sampling_interval == 0) std::abort();
  return 0;
}

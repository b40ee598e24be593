// Differential fuzz target: the hand-written goflow2 protobuf reader (src/decode/goflow.cpp) against
// libprotobuf's generated FlowMessage::ParseFromArray (proto/flow.proto). The input is one
// FlowMessage's bytes (no length prefix). They must agree: the reader accepts iff libprotobuf does
// (save the documented cases where it is stricter, each checked), and an accepted message gives the
// flow record the mapping makes of libprotobuf's values. The rules: tests/support/goflow_agreement.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "../tests/support/goflow_agreement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string d = overflowd::test::goflow_disagreement(std::span(data, size));
  if (!d.empty()) {
    std::fprintf(stderr, "goflow reader and libprotobuf disagree: %s\n", d.c_str());
    std::abort();
  }
  return 0;
}

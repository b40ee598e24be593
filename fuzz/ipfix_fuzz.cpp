// Fuzz target: the IPFIX decoder and the template cache, through the dispatcher with fresh state;
// see template_fuzz.hpp for the input layout.
#include "template_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  overflowd::fuzz::run_template_target(data, size, 10);
  return 0;
}

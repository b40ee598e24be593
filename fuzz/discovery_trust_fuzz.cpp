// Discovery's trust file (discovery/trust_file.hpp): any bytes give entries or a coded error with a
// line; entries read back are bounded and written again give text that reads back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "discovery/trust_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = overflowd::discovery;
  const auto parsed = d::parse_trust(std::as_bytes(std::span(data, size)));
  if (!parsed) {
    (void)d::to_string(parsed.error().code);
    return 0;
  }
  if (parsed->size() > d::kMaxTrustEntries) std::abort();
  for (const auto& e : *parsed)
    if (e.first_seen > e.last_seen || e.first_seen < 0 || e.prefix.empty()) std::abort();
  const std::string text = d::format_trust(*parsed);
  const auto again = d::parse_trust(std::as_bytes(std::span(text.data(), text.size())));
  if (!again || *again != *parsed) std::abort();
  return 0;
}

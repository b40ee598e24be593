// Fuzz target: the suspicion policy file (app::parse_policy_text, TOML) on any text, and
// policy::Policy::build on what it takes. A list file it names reads as a fixed small list (no file
// access). No exception may escape; every refusal says why; a policy that builds evaluates a flow.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/policy_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto reader = [](const std::string&) -> std::expected<std::string, std::string> {
    return std::string("192.0.2.0/24\n2001:db8::/32\n");
  };
  auto spec = app::parse_policy_text(text, "fuzz.toml", reader);
  if (!spec) {
    if (spec.error().empty()) __builtin_trap();
    return 0;
  }
  spec->volume.width = std::min<std::size_t>(spec->volume.width, 1024);  // keep each run small
  spec->volume.pair_bits = std::min<std::size_t>(spec->volume.pair_bits, 1 << 16);
  auto built = policy::Policy::build(std::move(*spec));
  if (!built) {
    if (built.error().empty()) __builtin_trap();
    return 0;
  }
  policy::PolicyState state(**built);
  policy::Decision d;
  core::FlowRecord f;
  f.fields = core::kNetflowV5Fields;
  f.src = *core::IpAddress::parse("192.0.2.7");
  f.dst = *core::IpAddress::parse("198.51.100.1");
  f.exporter = f.src;
  f.protocol = 17;
  f.dport = 123;
  f.pcount = 3;
  f.bcount = 180;
  (**built).evaluate(f, state, 0, d);
  const double p = (**built).boosted(1e-5, d);
  if (!(p >= 1e-5 && p <= 1)) __builtin_trap();
  return 0;
}

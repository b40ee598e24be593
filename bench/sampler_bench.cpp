// Why the sampler draws from a ChaCha20 keystream: sample::Sampler::keep per flow (draws/s)
// against the same decision drawing 8 bytes from libsodium's randombytes_buf per flow, which is
// what "ask the CSPRNG each time" costs. items/s are flows decided per second, one draw each (at
// the default rate nearly every flow has 0 < p < 1).
//
//   BM_SamplerKeep          the sampler as the pipeline uses it
//   BM_SamplerKeepCoherentHalf  the same with coherent_share 0.5 (one keyed hash per flow more)
//   BM_RandombytesPerFlow   the same decision, one randombytes_buf call per flow
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cmath>
#include <vector>

#include "core/flow_record.hpp"
#include "sample/sampler.hpp"

namespace {

using namespace overflowd;

// 4096 flows with heavy-tailed packet counts (1 to ~20,000), like real traffic and the synth
// capture: enough that the branch on p is not learned from a short cycle.
std::vector<core::FlowRecord> sample_flows() {
  std::vector<core::FlowRecord> flows(4096);
  std::uint64_t s = 0x9e3779b97f4a7c15ULL;
  auto next = [&s] {  // splitmix64: reproducible input, nothing secret
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (auto& f : flows) {
    f.src = core::IpAddress::v4(0xc6336400u | static_cast<std::uint32_t>(1 + next() % 254));  // 198.51.100.x
    f.dst = core::IpAddress::v4(0xcb007100u | static_cast<std::uint32_t>(1 + next() % 254));  // 203.0.113.x
    f.protocol = 6;
    f.sport = static_cast<std::uint16_t>(32768 + next() % 28000);
    f.dport = 80;
    std::uint64_t scale = 1;
    for (std::uint64_t k = next() % 5; k > 0; --k) scale *= 10;
    f.pcount = 1 + next() % (scale * 2);
    f.sampling_interval = 1;
    f.fields = core::kNetflowV5Fields;
  }
  return flows;
}

void BM_SamplerKeep(benchmark::State& state) {
  const auto flows = sample_flows();
  sample::Sampler sampler(sample::SamplerConfig{});
  std::uint64_t kept = 0;
  for (auto _ : state) {
    for (const auto& f : flows) kept += sampler.keep(f);
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(flows.size()));
}
BENCHMARK(BM_SamplerKeep);

// The same with path-coherent sampling at X = 0.5: one SipHash (crypto_shorthash) of the flow's
// invariants per flow before the private draw.
void BM_SamplerKeepCoherentHalf(benchmark::State& state) {
  const auto flows = sample_flows();
  sample::SamplerConfig config;
  config.coherent_share = 0.5;
  sample::Sampler sampler(config);
  std::uint64_t kept = 0;
  for (auto _ : state) {
    for (const auto& f : flows) kept += sampler.keep(f);
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(flows.size()));
}
BENCHMARK(BM_SamplerKeepCoherentHalf);

// Sampler::keep with the keystream replaced by randombytes_buf: same checks, same threshold.
class RandombytesSampler {
public:
  explicit RandombytesSampler(double rate) : rate_(rate) {
    if (sodium_init() < 0) std::abort();
  }
  bool keep(const core::FlowRecord& f) noexcept {
    if (f.protocol == 17 && (f.sport == 65535 || f.dport == 65535)) return false;
    if (f.src.empty() || f.dst.empty()) return false;
    double p = rate_ * static_cast<double>(f.pcount) * static_cast<double>(f.sampling_interval);
    if (p >= 1.0) return true;
    if (p <= 0.0) return false;
    std::uint64_t draw;
    randombytes_buf(&draw, sizeof draw);
    return draw < static_cast<std::uint64_t>(std::ldexp(p, 64));
  }

private:
  double rate_;
};

void BM_RandombytesPerFlow(benchmark::State& state) {
  const auto flows = sample_flows();
  RandombytesSampler sampler(1e-5);
  std::uint64_t kept = 0;
  for (auto _ : state) {
    for (const auto& f : flows) kept += sampler.keep(f);
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(flows.size()));
}
BENCHMARK(BM_RandombytesPerFlow);

}  // namespace

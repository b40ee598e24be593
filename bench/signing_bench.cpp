// Signing throughput per core (issue 17): what the signing pool gets out of each CPU second
// against libsodium's crypto_sign_detached alone, over the same message (a report of
// netflow_4M.pcap's first record). items/s are reports per CPU second of the whole process
// (MeasureProcessCPUTime: every thread's CPU time is counted), so the ratio of
// BM_PoolSign/threads:N to BM_CryptoSignDetached is the pool's efficiency per core (target: at
// least 0.9), whatever else the machine is running.
//
//   BM_CryptoSignDetached  crypto_sign_detached over the message, nothing else
//   BM_SignerSign          report::Signer::sign: the signature and the signed line (base64)
//   BM_PoolSign/threads:N  app::SigningPool with N signing threads: copy in, sign, emit in order
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

#include "app/signing_pool.hpp"
#include "core/flow_record.hpp"
#include "core/sodium.hpp"
#include "report/keys.hpp"
#include "report_bench_support.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"

namespace {

using namespace overflowd;
using bench::fixed_keys;
using bench::sample_flow;

std::string sample_message() {
  core::init_sodium();
  const report::ReportBuilder builder(report::ReportConfig{report::Contact{"noc@example.net", "Example Net"}});
  std::string message;
  builder.build(sample_flow(), 1'763'850'000'123'456'000, message);
  return message;
}

void BM_CryptoSignDetached(benchmark::State& state) {
  const std::string message = sample_message();
  const report::KeyPair keys = fixed_keys();
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  for (auto _ : state) {
    crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         keys.secret_key.data());
    benchmark::DoNotOptimize(sig.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CryptoSignDetached)->MeasureProcessCPUTime();

void BM_SignerSign(benchmark::State& state) {
  const std::string message = sample_message();
  report::Signer signer(fixed_keys());
  report::SignedReport out;
  for (auto _ : state) {
    signer.sign(message, out);
    benchmark::DoNotOptimize(out.line.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignerSign)->MeasureProcessCPUTime();

void BM_PoolSign(benchmark::State& state) {
  const std::string message = sample_message();
  const core::FlowRecord flow = sample_flow();
  std::size_t emitted = 0;
  app::SigningPool pool(fixed_keys(), static_cast<unsigned>(state.range(0)),
                        [&emitted](const app::SigningPool::Item&) { ++emitted; });
  for (auto _ : state) (void)pool.add(flow, message, false);
  // Only reports emitted (signed and back in order) within the timed loop count; the batches still
  // in flight cost CPU time inside it and count for nothing, so the figure errs low.
  state.SetItemsProcessed(static_cast<std::int64_t>(emitted));
  (void)pool.finish();
  state.counters["emitted"] = static_cast<double>(emitted);
}
BENCHMARK(BM_PoolSign)->ArgName("threads")->Arg(1)->Arg(2)->MeasureProcessCPUTime();

}  // namespace

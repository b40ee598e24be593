// Signed reports per second on one core: the canonical JSON of a report, its Ed25519 signature,
// and the base64 of signature || message laid out in the signed line. items/s are reports/s.
//
//   BM_BuildSign   report::ReportBuilder::build + report::Signer::sign (what each kept flow costs)
//   BM_Build       the JSON alone
//   BM_Sign        the signature and the signed line alone, over one prebuilt message
//   BM_Verify      report::verify_report per line (what a receiver or `overflowd verify` pays)
//   BM_Base64      core::append_base64 of a signed message (64-byte signature || report), the
//                  part of BM_Sign that is not Ed25519
//   BM_Clock       clock_gettime(CLOCK_REALTIME), which the pipeline calls once per report
#include <benchmark/benchmark.h>

#include <cstring>
#include <ctime>

#include <string>
#include <vector>

#include "core/encoding.hpp"
#include "core/flow_record.hpp"
#include "report/keys.hpp"
#include "report_bench_support.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace {

using namespace overflowd;
using bench::fixed_keys;
using bench::sample_flow;

report::ReportConfig sample_config() { return {report::Contact{"noc@example.net", "Example Net"}}; }

constexpr std::int64_t kStartNs = 1'763'850'000'123'456'000;
constexpr std::int64_t kStepNs = 1'001'000;  // each report a little later, as in a live run

void BM_BuildSign(benchmark::State& state) {
  const report::ReportBuilder builder(sample_config());
  report::Signer signer(fixed_keys());
  const core::FlowRecord flow = sample_flow();
  std::string message;
  report::SignedReport signed_report;
  std::int64_t now = kStartNs;
  for (auto _ : state) {
    builder.build(flow, now, message);
    signer.sign(message, signed_report);
    benchmark::DoNotOptimize(signed_report.line.data());
    now += kStepNs;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["line_bytes"] = static_cast<double>(signed_report.line.size());
}
BENCHMARK(BM_BuildSign);

void BM_Build(benchmark::State& state) {
  const report::ReportBuilder builder(sample_config());
  const core::FlowRecord flow = sample_flow();
  std::string message;
  std::int64_t now = kStartNs;
  for (auto _ : state) {
    builder.build(flow, now, message);
    benchmark::DoNotOptimize(message.data());
    now += kStepNs;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["message_bytes"] = static_cast<double>(message.size());
}
BENCHMARK(BM_Build);

void BM_Sign(benchmark::State& state) {
  const report::ReportBuilder builder(sample_config());
  report::Signer signer(fixed_keys());
  std::string message;
  builder.build(sample_flow(), kStartNs, message);
  report::SignedReport signed_report;
  for (auto _ : state) {
    signer.sign(message, signed_report);
    benchmark::DoNotOptimize(signed_report.line.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sign);

void BM_Verify(benchmark::State& state) {
  const report::ReportBuilder builder(sample_config());
  report::Signer signer(fixed_keys());
  std::string message;
  builder.build(sample_flow(), kStartNs, message);
  report::SignedReport signed_report;
  signer.sign(message, signed_report);
  const std::string line = signed_report.line;
  if (!report::verify_report(line)) {
    state.SkipWithError("the benchmark's own report does not verify");
    return;
  }
  for (auto _ : state) {
    auto v = report::verify_report(line);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Verify);

void BM_Base64(benchmark::State& state) {
  const report::ReportBuilder builder(sample_config());
  std::string message;
  builder.build(sample_flow(), kStartNs, message);
  std::vector<std::uint8_t> signed_message(64 + message.size(), 0xa5);
  std::memcpy(signed_message.data() + 64, message.data(), message.size());
  std::string out;
  for (auto _ : state) {
    out.clear();
    core::append_base64(out, signed_message);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(signed_message.size()));
}
BENCHMARK(BM_Base64);

void BM_Clock(benchmark::State& state) {
  for (auto _ : state) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    benchmark::DoNotOptimize(ts);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Clock);

}  // namespace

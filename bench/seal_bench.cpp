// The encryption mode's cost per report on one core (items/s are reports/s), measured side by side:
//
//   BM_SignPlain      what a plain delivered report costs: build + sign (as report_bench's BM_BuildSign)
//   BM_SignSeal       what a sealed one costs: build + sign, then the DeliverySink's work per
//                     endpoint: the message again with metadata.recipient, sign again, seal the
//                     compact form (crypto_box_seal: an X25519 key exchange per report)
//   BM_SignSealDatagram  the same, sealed as the binary UDP datagram instead (what UDP sends)
//   BM_SignSealBoth   the same, sealed both ways from the one signature (UDP and HTTP(S) enabled)
//   BM_SealOnly       crypto_box_seal + envelope of one prebuilt compact report
//   BM_Open           the receiver's side: parse the envelope, crypto_box_seal_open
#include <benchmark/benchmark.h>

#include <string>

#include "core/flow_record.hpp"
#include "report/keys.hpp"
#include "report_bench_support.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"
#include "report/signer.hpp"

namespace {

using namespace overflowd;
using bench::fixed_keys;
using bench::sample_flow;

report::X25519KeyPair fixed_x25519() {
  std::array<std::uint8_t, 32> s{};
  s.fill(0x11);
  return report::x25519_from_secret(s);
}

constexpr std::int64_t kStartNs = 1'763'850'000'123'456'000;

void BM_SignPlain(benchmark::State& state) {
  const auto flow = sample_flow();
  report::ReportBuilder builder({report::Contact{"noc@example.net", "Example Net"}});
  report::Signer signer(fixed_keys());
  std::string msg;
  report::SignedReport out;
  std::int64_t t = kStartNs;
  for (auto _ : state) {
    builder.build(flow, t += 1000, msg);
    signer.sign(msg, out);
    benchmark::DoNotOptimize(out.line.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignPlain);

void BM_SignSeal(benchmark::State& state) {
  const auto flow = sample_flow();
  const auto x = fixed_x25519();
  report::ReportBuilder builder({report::Contact{"noc@example.net", "Example Net"}});
  report::Signer signer(fixed_keys()), resigner(fixed_keys());
  std::string msg, again, sealed;
  report::SignedReport out, resigned;
  std::int64_t t = kStartNs;
  for (auto _ : state) {
    builder.build(flow, t += 1000, msg);
    signer.sign(msg, out);
    out.message(again);
    if (!report::add_recipient(again, "191.100.10.187")) state.SkipWithError("add_recipient");
    resigner.sign(again, resigned);
    report::seal(resigned.compact(), x.public_key, sealed);
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["sealed_bytes"] = static_cast<double>(sealed.size());
}
BENCHMARK(BM_SignSeal);

void sign_seal_forms(benchmark::State& state, bool datagram, bool json) {
  const auto flow = sample_flow();
  const auto x = fixed_x25519();
  report::ReportBuilder builder({report::Contact{"noc@example.net", "Example Net"}});
  report::Signer signer(fixed_keys()), resigner(fixed_keys());
  std::string msg, again, sealed, dg;
  report::SignedReport out, resigned;
  std::int64_t t = kStartNs;
  for (auto _ : state) {
    builder.build(flow, t += 1000, msg);
    signer.sign(msg, out);
    out.message(again);
    if (!report::add_recipient(again, "191.100.10.187")) state.SkipWithError("add_recipient");
    resigner.sign(again, resigned);
    if (datagram && !report::seal_compact_datagram(resigned.compact(), x.public_key, dg)) state.SkipWithError("dg");
    if (json) report::seal(resigned.compact(), x.public_key, sealed);
    benchmark::DoNotOptimize(dg.data());
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["datagram_bytes"] = static_cast<double>(dg.size());
}
void BM_SignSealDatagram(benchmark::State& state) { sign_seal_forms(state, true, false); }
BENCHMARK(BM_SignSealDatagram);
void BM_SignSealBoth(benchmark::State& state) { sign_seal_forms(state, true, true); }
BENCHMARK(BM_SignSealBoth);

std::string compact_report() {
  report::ReportBuilder builder({report::Contact{"noc@example.net", "Example Net"}});
  report::Signer signer(fixed_keys());
  std::string msg;
  builder.build(sample_flow(), kStartNs, msg);
  report::SignedReport out;
  signer.sign(msg, out);
  return std::string(out.compact());
}

void BM_SealOnly(benchmark::State& state) {
  const auto x = fixed_x25519();
  const std::string p = compact_report();
  std::string sealed;
  for (auto _ : state) {
    report::seal(p, x.public_key, sealed);
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealOnly);

void BM_Open(benchmark::State& state) {
  const auto x = fixed_x25519();
  report::Keyring ring;
  ring.add(x);
  std::string sealed;
  report::seal(compact_report(), x.public_key, sealed);
  for (auto _ : state) {
    auto opened = report::open_sealed(report::as_bytes(sealed), ring);
    if (!opened) state.SkipWithError("open");
    benchmark::DoNotOptimize(opened->report.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Open);

}  // namespace

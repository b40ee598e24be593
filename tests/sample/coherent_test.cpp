// Path-coherent sampling (sample/sampler.hpp, coherent_share): at X = 1 two networks' samplers
// with their own private streams pick exactly the same flows; at X = 0 their picks are
// independent; for any X the probability of a report is still the configured one.
#include "sample/sampler.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "receive/ingest.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"

namespace {

using overflowd::core::Field;
using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::sample::Decision;
using overflowd::sample::Sampler;
using overflowd::sample::SamplerConfig;

// Flow i: distinct 5-tuples, `pcount` packets, started at `stime_ms`.
FlowRecord flow(std::uint32_t i, std::uint64_t pcount, std::int64_t stime_ms = 1'700'000'000'000) {
  FlowRecord f;
  f.src = IpAddress::v4(0x0a000000u + (i >> 8));
  f.dst = IpAddress::v4(0xc6336402);
  f.sport = static_cast<std::uint16_t>(1024 + (i & 0xff));
  f.dport = 80;
  f.protocol = 6;
  f.pcount = pcount;
  f.stime_ms = f.etime_ms = stime_ms;
  f.fields = Field::kSrcAddr | Field::kDstAddr | Field::kPorts | Field::kProtocol | Field::kPackets | Field::kTimes;
  return f;
}

SamplerConfig config(double rate, double share, std::uint64_t seed) {
  SamplerConfig c;
  c.rate = rate;
  c.coherent_share = share;
  c.seed = seed;
  return c;
}

TEST(CoherentSampling, ShareOneTwoSamplersPickExactlyTheSameFlows) {
  // Two networks: different private streams (seeds), the same public key.
  Sampler a(config(1e-3, 1.0, 1)), b(config(1e-3, 1.0, 2));
  std::uint64_t kept = 0;
  constexpr std::uint32_t kFlows = 200'000;
  for (std::uint32_t i = 0; i < kFlows; ++i) {
    const FlowRecord f = flow(i, 100);  // p = 0.1
    const Decision da = a.decide(f), db = b.decide(f);
    ASSERT_EQ(da, db) << "flow " << i;
    ASSERT_NE(da, Decision::kept_private);  // X = 1 leaves nothing to the private draw
    kept += da == Decision::kept_coherent;
  }
  EXPECT_EQ(a.counters().kept, kept);
  EXPECT_EQ(a.counters().kept_coherent, kept);
  // Still the configured rate: binomial(200000, 0.1), 4 standard errors.
  const double n = kFlows, p = 0.1;
  EXPECT_NEAR(static_cast<double>(kept), n * p, 4 * std::sqrt(n * p * (1 - p)));
}

TEST(CoherentSampling, ShareZeroTwoSamplersAreIndependent) {
  Sampler a(config(1e-3, 0.0, 1)), b(config(1e-3, 0.0, 2));
  constexpr std::uint32_t kFlows = 200'000;
  std::uint64_t n11 = 0, n1 = 0, n2 = 0;
  for (std::uint32_t i = 0; i < kFlows; ++i) {
    const FlowRecord f = flow(i, 100);  // p = 0.1
    const bool ka = a.keep(f), kb = b.keep(f);
    n1 += ka;
    n2 += kb;
    n11 += ka && kb;
  }
  EXPECT_EQ(a.counters().kept_coherent, 0u);
  // Independent: both keep a flow with probability p^2 = 0.01 (binomial, 4 standard errors); under
  // X = 1 it would be 0.1, ten times as many.
  const double n = kFlows, pp = 0.01;
  EXPECT_NEAR(static_cast<double>(n11), n * pp, 4 * std::sqrt(n * pp * (1 - pp)));
  // And the 2x2 table passes a chi-square test of independence (1 degree of freedom, 0.1 %: 10.83).
  const double o[2][2] = {{static_cast<double>(n11), static_cast<double>(n1 - n11)},
                          {static_cast<double>(n2 - n11), static_cast<double>(kFlows - n1 - n2 + n11)}};
  const double row[2] = {o[0][0] + o[0][1], o[1][0] + o[1][1]}, col[2] = {o[0][0] + o[1][0], o[0][1] + o[1][1]};
  double chi2 = 0;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      const double e = row[r] * col[c] / n;
      chi2 += (o[r][c] - e) * (o[r][c] - e) / e;
    }
  EXPECT_LT(chi2, 10.83);
}

TEST(CoherentSampling, MixedShareAveragesToTheConfiguredRate) {
  for (const double share : {0.25, 0.5, 0.75}) {
    for (const std::uint64_t packets : {10u, 300u, 900u}) {  // p = 0.01, 0.3, 0.9
      Sampler a(config(1e-3, share, 7)), b(config(1e-3, share, 8));
      constexpr std::uint32_t kFlows = 100'000;
      std::uint64_t kept = 0, coherent = 0, both = 0;
      for (std::uint32_t i = 0; i < kFlows; ++i) {
        const FlowRecord f = flow(i, packets);
        const Decision da = a.decide(f), db = b.decide(f);
        kept += da != Decision::dropped;
        coherent += da == Decision::kept_coherent;
        both += da != Decision::dropped && db != Decision::dropped;
        if (da == Decision::kept_coherent) {
          ASSERT_EQ(db, Decision::kept_coherent);  // same key, same draw
        }
      }
      const double n = kFlows, p = static_cast<double>(packets) * 1e-3, xp = share * p;
      const double q = (p - xp) / (1 - xp);
      SCOPED_TRACE(testing::Message() << "share " << share << " p " << p);
      EXPECT_NEAR(static_cast<double>(kept), n * p, 4 * std::sqrt(n * p * (1 - p)));
      EXPECT_NEAR(static_cast<double>(coherent), n * xp, 4 * std::sqrt(n * xp * (1 - xp)));
      const double pboth = xp + (1 - xp) * q * q;  // the coherent draw, else two private draws
      EXPECT_NEAR(static_cast<double>(both), n * pboth, 4 * std::sqrt(n * pboth * (1 - pboth)));
    }
  }
}

TEST(CoherentSampling, HashIsKeyedAndBucketed) {
  SamplerConfig c = config(1e-3, 1.0, 1);
  const FlowRecord f = flow(1, 1);
  const std::uint64_t h = Sampler::coherent_hash(c, f);
  EXPECT_EQ(h, Sampler::coherent_hash(config(0.5, 1.0, 99), f));  // neither rate nor seed matter
  FlowRecord same_bucket = f;
  same_bucket.stime_ms += 1;  // 1 700 000 000 000 is a multiple of 60 000
  EXPECT_EQ(h, Sampler::coherent_hash(c, same_bucket));
  FlowRecord next_bucket = f;
  next_bucket.stime_ms += c.coherent_bucket_ms;
  EXPECT_NE(h, Sampler::coherent_hash(c, next_bucket));
  FlowRecord other_port = f;
  ++other_port.sport;
  EXPECT_NE(h, Sampler::coherent_hash(c, other_port));
  SamplerConfig other_key = c;
  other_key.coherent_key[0] ^= 1;
  EXPECT_NE(h, Sampler::coherent_hash(other_key, f));
}

TEST(CoherentSampling, ShareZeroDrawsAsBefore) {
  // X = 0 takes no hash and the same private draws: a seeded run repeats the old decisions.
  SamplerConfig c = config(1e-3, 0.0, 5);
  Sampler a(c);
  c.coherent_key[3] ^= 0x55;
  Sampler b(c);
  for (std::uint32_t i = 0; i < 10'000; ++i) ASSERT_EQ(a.decide(flow(i, 200)), b.decide(flow(i, 200)));
}

TEST(CoherentSampling, ReportCarriesMetadataCoherentInCanonicalOrder) {
  const overflowd::report::ReportBuilder builder({});
  std::string out;
  builder.build(flow(1, 1), 1'700'000'000'000'000'000, out, {}, true);
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["metadata"]["coherent"], true);
  // Sorted (RFC 8785): class < coherent < info < time.
  EXPECT_NE(out.find("{\"class\":\"INFORMATIONAL\",\"coherent\":true,\"info\":"), std::string::npos) << out;
  builder.build(flow(1, 1), 1'700'000'000'000'000'000, out, {}, false);
  EXPECT_FALSE(nlohmann::json::parse(out)["metadata"].contains("coherent"));
}

TEST(CoherentSampling, TheReceiverAcceptsAMarkedReportOnBothPaths) {
  // metadata.coherent is not kept by the receiver yet; a report carrying it still verifies, and the
  // fast scanner and the reference agree on it.
  const overflowd::report::ReportBuilder builder({});
  std::string message;
  const std::int64_t now = 1'700'000'000'000'000'000;
  builder.build(flow(1, 1), now, message, {}, true);
  overflowd::report::Signer signer(overflowd::report::generate_keypair());
  overflowd::report::SignedReport signed_report;
  signer.sign(message, signed_report);
  using namespace overflowd::receive;
  const auto fast = ingest_fast(signed_report.line, now, SkewPolicy{});
  ASSERT_TRUE(fast.has_value());
  EXPECT_TRUE(std::holds_alternative<Accepted>(*fast));
  EXPECT_EQ(verdict_difference(*fast, ingest_reference(signed_report.line, now, SkewPolicy{})), "");
}

}  // namespace

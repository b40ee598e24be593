#include "sample/sampler.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "decode/dispatch.hpp"
#include "source/pcap_source.hpp"
#include "support/byte_builder.hpp"

namespace {

using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::sample::Keystream;
using overflowd::sample::Sampler;
using overflowd::sample::SamplerConfig;

FlowRecord flow(std::uint64_t pcount, std::uint8_t protocol = 6, std::uint16_t sport = 1234, std::uint16_t dport = 80,
                std::uint32_t interval = 1) {
  FlowRecord f;
  f.src = IpAddress::v4(0xc0000201);
  f.dst = IpAddress::v4(0xc6336402);
  f.pcount = pcount;
  f.protocol = protocol;
  f.sport = sport;
  f.dport = dport;
  f.sampling_interval = interval;
  return f;
}

Sampler make(double rate, std::optional<std::uint64_t> seed = 1, std::uint16_t report_port = 65535) {
  SamplerConfig c;
  c.rate = rate;
  c.seed = seed;
  c.report_port = report_port;
  return Sampler(c);
}

// ---- probability ----

TEST(SamplerProbability, IsRateTimesPacketsTimesIntervalCappedAtOne) {
  const Sampler s = make(1e-3);
  EXPECT_DOUBLE_EQ(s.probability(flow(1)), 1e-3);
  EXPECT_DOUBLE_EQ(s.probability(flow(250)), 0.25);
  EXPECT_DOUBLE_EQ(s.probability(flow(10, 6, 1, 2, 20)), 0.2);  // 10 packets sampled 1 in 20
  EXPECT_DOUBLE_EQ(s.probability(flow(999)), 0.999);
  EXPECT_EQ(s.probability(flow(1000)), 1.0);
  EXPECT_EQ(s.probability(flow(1'000'000)), 1.0);
  EXPECT_EQ(s.probability(flow(10, 6, 1, 2, 100)), 1.0);
  EXPECT_EQ(s.probability(flow(0)), 0.0);
  EXPECT_EQ(s.probability(flow(UINT64_MAX, 6, 1, 2, UINT32_MAX)), 1.0);
}

TEST(SamplerProbability, RateZeroAndRateOne) {
  EXPECT_EQ(make(0).probability(flow(1'000'000'000)), 0.0);
  EXPECT_EQ(make(1).probability(flow(1)), 1.0);
  EXPECT_EQ(make(1).probability(flow(0)), 0.0);
}

// ---- decisions ----

TEST(SamplerKeep, ProbabilityOneIsAlwaysKept) {
  Sampler s = make(1e-3);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(s.keep(flow(1000 + static_cast<std::uint64_t>(i))));
  Sampler all = make(1.0);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(all.keep(flow(1)));
  EXPECT_EQ(all.counters().kept, 10'000u);
  EXPECT_EQ(all.counters().considered, 10'000u);
}

TEST(SamplerKeep, RateZeroIsNeverKept) {
  Sampler s = make(0.0);
  for (int i = 0; i < 10'000; ++i) ASSERT_FALSE(s.keep(flow(UINT32_MAX)));
  EXPECT_EQ(s.counters().kept, 0u);
  EXPECT_EQ(s.counters().considered, 10'000u);
}

TEST(SamplerKeep, ZeroPacketsIsNeverKept) {
  Sampler s = make(1.0);
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(s.keep(flow(0)));
}

TEST(SamplerKeep, UdpToOrFromTheReportPortIsNeverKeptAndCounted) {
  Sampler s = make(1.0);
  EXPECT_FALSE(s.keep(flow(1'000'000, 17, 65535, 53)));
  EXPECT_FALSE(s.keep(flow(1'000'000, 17, 53, 65535)));
  EXPECT_FALSE(s.keep(flow(1'000'000, 17, 65535, 65535)));
  EXPECT_EQ(s.counters().skipped_report_port, 3u);
  EXPECT_EQ(s.counters().kept, 0u);
  // TCP (and anything not UDP) on that port is ordinary traffic.
  EXPECT_TRUE(s.keep(flow(1'000'000, 6, 65535, 80)));
  EXPECT_TRUE(s.keep(flow(1'000'000, 6, 80, 65535)));
  EXPECT_TRUE(s.keep(flow(1'000'000, 132, 80, 65535)));
  EXPECT_TRUE(s.keep(flow(1'000'000, 17, 65534, 53)));
  EXPECT_EQ(s.counters().skipped_report_port, 3u);
  EXPECT_EQ(s.counters().kept, 4u);
  EXPECT_EQ(s.counters().considered, 7u);
}

TEST(SamplerKeep, TheReportPortIsConfigurable) {
  Sampler s = make(1.0, 1, 7777);
  EXPECT_FALSE(s.keep(flow(10, 17, 7777, 53)));
  EXPECT_TRUE(s.keep(flow(10, 17, 65535, 53)));
  EXPECT_EQ(s.counters().skipped_report_port, 1u);
}

TEST(SamplerKeep, RecordsWithoutAddressesAreSkippedAndCounted) {
  Sampler s = make(1.0);
  FlowRecord no_src = flow(100);
  no_src.src = IpAddress{};
  FlowRecord no_dst = flow(100);
  no_dst.dst = IpAddress{};
  FlowRecord neither = flow(100);
  neither.src = neither.dst = IpAddress{};
  EXPECT_FALSE(s.keep(no_src));
  EXPECT_FALSE(s.keep(no_dst));
  EXPECT_FALSE(s.keep(neither));
  EXPECT_EQ(s.counters().skipped_no_address, 3u);
  FlowRecord v6 = flow(100);
  v6.src = *IpAddress::parse("2001:db8::1");
  v6.dst = *IpAddress::parse("::");  // the unspecified address is still an address
  EXPECT_TRUE(s.keep(v6));
}

// Issue 13 item 5: reports never trigger reports. Flows with either endpoint among the sender's
// own addresses are never reported, counted by what they most likely are.
TEST(SamplerKeep, FlowsOfTheSendersOwnAddressesAreNeverKeptAndCountedByKind) {
  SamplerConfig c;
  c.rate = 1.0;
  c.seed = 1;
  c.http_port = 80;
  c.https_port = 443;
  const IpAddress own = *IpAddress::parse("198.51.100.7");
  const IpAddress own6 = *IpAddress::parse("2001:db8::7");
  c.set_own_addresses({own6, own, own});
  ASSERT_EQ(c.own_addresses.size(), 2u) << "sorted and de-duplicated";
  Sampler s(c);
  const IpAddress other = *IpAddress::parse("203.0.113.9");
  auto make_flow = [](IpAddress src, IpAddress dst, std::uint8_t proto, std::uint16_t sport, std::uint16_t dport) {
    FlowRecord f = flow(1'000'000, proto, sport, dport);
    f.src = src;
    f.dst = dst;
    return f;
  };
  auto icmp = [&](IpAddress src, IpAddress dst, std::uint8_t proto, std::uint8_t type, std::uint8_t code) {
    FlowRecord f = make_flow(src, dst, proto, 0, 0);
    f.icmp_type = type;
    f.icmp_code = code;
    f.fields |= overflowd::core::Field::kIcmp;
    return f;
  };
  // HTTP(S) delivery: from us to the port, and the answers back.
  EXPECT_FALSE(s.keep(make_flow(own, other, 6, 40000, 80)));
  EXPECT_FALSE(s.keep(make_flow(other, own, 6, 443, 40000)));
  EXPECT_EQ(s.counters().skipped_delivery_tcp, 2u);
  // ICMP errors (what UDP reports to closed ports draw): port unreachable to us, v4 and v6.
  EXPECT_FALSE(s.keep(icmp(other, own, 1, 3, 3)));
  EXPECT_FALSE(s.keep(icmp(other, own6, 58, 1, 4)));
  EXPECT_FALSE(s.keep(icmp(own, other, 1, 11, 0)));
  // NetFlow v5 has no ICMP fields: type << 8 | code in the destination port.
  EXPECT_FALSE(s.keep(make_flow(other, own, 1, 0, 3 << 8 | 3)));
  EXPECT_EQ(s.counters().skipped_report_icmp, 4u);
  // Anything else of ours: ping, other TCP ports, UDP.
  EXPECT_FALSE(s.keep(icmp(other, own, 1, 8, 0)));
  EXPECT_FALSE(s.keep(make_flow(own, other, 6, 40000, 22)));
  EXPECT_FALSE(s.keep(make_flow(other, own6, 17, 53, 5353)));
  EXPECT_EQ(s.counters().skipped_own_address, 3u);
  // The report port still wins (it is checked first), and flows of others are reported, even
  // ICMP errors and HTTP.
  EXPECT_FALSE(s.keep(make_flow(own, other, 17, 40000, 65535)));
  EXPECT_EQ(s.counters().skipped_report_port, 1u);
  EXPECT_TRUE(s.keep(icmp(other, *IpAddress::parse("192.0.2.1"), 1, 3, 3)));
  EXPECT_TRUE(s.keep(make_flow(other, *IpAddress::parse("192.0.2.1"), 6, 40000, 80)));
  EXPECT_EQ(s.counters().kept, 2u);
}

TEST(SamplerKeep, DeliveryPortsCountOnlyWhenThatTransportIsOn) {
  SamplerConfig c;
  c.rate = 1.0;
  c.seed = 1;
  c.set_own_addresses({*IpAddress::parse("198.51.100.7")});
  Sampler s(c);  // no HTTP(S) delivery: http_port = https_port = 0
  FlowRecord f = flow(1'000'000, 6, 40000, 80);
  f.src = *IpAddress::parse("198.51.100.7");
  EXPECT_FALSE(s.keep(f));
  EXPECT_EQ(s.counters().skipped_delivery_tcp, 0u);
  EXPECT_EQ(s.counters().skipped_own_address, 1u);
  FlowRecord zero = flow(1'000'000, 6, 40000, 0);
  zero.src = f.src;
  EXPECT_FALSE(s.keep(zero));
  EXPECT_EQ(s.counters().skipped_delivery_tcp, 0u) << "port 0 is not a delivery port";
}

std::vector<bool> run(std::uint64_t seed, std::size_t n = 2000, double rate = 0.5) {
  Sampler s = make(rate, seed);
  std::vector<bool> kept;
  for (std::size_t i = 0; i < n; ++i) kept.push_back(s.keep(flow(1)));
  return kept;
}

TEST(SamplerSeed, SameSeedSameDecisions) {
  EXPECT_EQ(run(42), run(42));
  EXPECT_EQ(run(0), run(0));
}

TEST(SamplerSeed, DifferentSeedsDiffer) {
  const auto a = run(1), b = run(2), c = run(0xffffffffffffffffull);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
  // Neither constant nor alternating.
  const auto kept = static_cast<std::size_t>(std::count(a.begin(), a.end(), true));
  EXPECT_GT(kept, 800u);
  EXPECT_LT(kept, 1200u);
}

TEST(SamplerSeed, UnseededSamplersDiffer) {
  Sampler a = make(0.5, std::nullopt), b = make(0.5, std::nullopt);
  std::vector<bool> ka, kb;
  for (int i = 0; i < 2000; ++i) {
    ka.push_back(a.keep(flow(1)));
    kb.push_back(b.keep(flow(1)));
  }
  EXPECT_NE(ka, kb);
}

TEST(Keystream, SeededIsReproducibleAndLooksUniform) {
  Keystream a(7), b(7), c(8);
  bool differs = false;
  double sum = 0;
  constexpr int kDraws = 200'000;  // past several refills
  for (int i = 0; i < kDraws; ++i) {
    const std::uint64_t x = a.next();
    ASSERT_EQ(x, b.next());
    differs |= x != c.next();
    sum += std::ldexp(static_cast<double>(x), -64);
  }
  EXPECT_TRUE(differs);
  // Mean of U(0,1): 0.5 with standard error sqrt(1/12 / n).
  EXPECT_NEAR(sum / kDraws, 0.5, 4 * std::sqrt(1.0 / 12 / kDraws));
}

TEST(Keystream, UnseededKeepsDrawingPastTheRekeyPoint) {
  Keystream k(std::nullopt);
  const std::size_t draws = 2 * Keystream::kRekeyBytes / 8 + 1000;
  std::uint64_t ones = 0;
  for (std::size_t i = 0; i < draws; ++i) ones += static_cast<std::uint64_t>(std::popcount(k.next()));
  const double mean_bits = static_cast<double>(ones) / static_cast<double>(draws);
  EXPECT_NEAR(mean_bits, 32.0, 4 * std::sqrt(16.0 / static_cast<double>(draws)));
}

TEST(SamplerKeep, SamplingIntervalScalesTheChance) {
  // 1 packet seen at 1 in 100 sampling, rate 1e-3: p = 0.1.
  Sampler s = make(1e-3, 99);
  constexpr int kFlows = 20'000;
  int kept = 0;
  for (int i = 0; i < kFlows; ++i) kept += s.keep(flow(1, 6, 1, 2, 100));
  EXPECT_NEAR(kept, kFlows * 0.1, 4 * std::sqrt(kFlows * 0.1 * 0.9));
}

// ---- the statistical test ----
//
// Over many seeded runs, the number of kept flows must match its expectation, sum of
// min(1, r x pcount), within 4 standard errors, where the standard error of the mean over R runs is
// sqrt(sum p(1-p) / R) (each flow is an independent Bernoulli trial). Checked overall and per
// packet-count bucket, so that a sampler right on average but wrong for small or large flows fails.

std::vector<FlowRecord> capture_records(std::string& origin) {
  const std::string path = overflowd::test::shared_data_file("netflow_4M.pcap");
  std::vector<FlowRecord> records;
  if (::access(path.c_str(), R_OK) == 0) {
    auto source = overflowd::source::PcapSource::open(path);
    if (source) {
      overflowd::decode::Dispatcher dispatcher;
      overflowd::core::Datagram d;
      while ((*source)->next(d)) (void)dispatcher.decode(d, records);
    }
  }
  if (!records.empty()) {
    origin = "netflow_4M.pcap";
    return records;
  }
  // A synthetic heavy-tailed set: packet counts Pareto-like (shape 1.1), 1 to about 10^6.
  origin = "synthetic heavy-tailed records";
  std::uint64_t state = 2024;
  for (int i = 0; i < 60'000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = (static_cast<double>(state >> 11) + 1) / 9007199254740993.0;
    const double pcount = std::min(1e6, std::floor(std::pow(u, -1 / 1.1)));
    records.push_back(flow(static_cast<std::uint64_t>(pcount)));
  }
  return records;
}

std::size_t bucket_of(std::uint64_t pcount) {
  if (pcount <= 1) return 0;
  if (pcount <= 10) return 1;
  if (pcount <= 100) return 2;
  if (pcount <= 1000) return 3;
  return 4;
}

TEST(SamplerStatistics, MeanKeptMatchesTheExpectationOverallAndPerBucket) {
  std::string origin;
  std::vector<FlowRecord> records = capture_records(origin);
  // Only the records the sampler draws for (UDP on the report port is skipped, and tested above).
  std::erase_if(records, [](const FlowRecord& r) { return r.protocol == 17 && (r.sport == 65535 || r.dport == 65535); });
  ASSERT_GT(records.size(), 10'000u);
  const char* bucket_names[] = {"1", "2-10", "11-100", "101-1000", ">1000"};
  constexpr int kRuns = 200;

  for (const double rate : {1e-5, 1e-3, 0.05}) {
    const auto seed_base = static_cast<std::uint64_t>(std::llround(-std::log10(rate) * 1000)) * 100'000;  // distinct per rate
    SamplerConfig config;
    config.rate = rate;
    std::array<double, 6> expected{}, variance{};  // [0..4] per bucket, [5] overall
    std::array<std::uint64_t, 6> flows{};
    std::vector<double> p(records.size());
    const Sampler reference(config);
    for (std::size_t i = 0; i < records.size(); ++i) {
      p[i] = std::min(1.0, rate * static_cast<double>(records[i].pcount) * records[i].sampling_interval);
      ASSERT_DOUBLE_EQ(reference.probability(records[i]), p[i]);
      for (std::size_t b : {bucket_of(records[i].pcount), std::size_t{5}}) {
        expected[b] += p[i];
        variance[b] += p[i] * (1 - p[i]);
        ++flows[b];
      }
    }
    std::array<std::uint64_t, 6> kept{};
    for (int run = 0; run < kRuns; ++run) {
      config.seed = seed_base + static_cast<std::uint64_t>(run);
      Sampler s(config);
      for (const auto& r : records)
        if (s.keep(r)) {
          ++kept[bucket_of(r.pcount)];
          ++kept[5];
        }
      ASSERT_EQ(s.counters().skipped_no_address + s.counters().skipped_report_port, 0u);
    }
    for (std::size_t b = 0; b < 6; ++b) {
      if (flows[b] == 0) continue;
      const double mean = static_cast<double>(kept[b]) / kRuns;
      const double se = std::sqrt(variance[b] / kRuns);
      const std::string what = std::string(origin) + ", rate " + std::to_string(rate) + ", " +
                               (b == 5 ? std::string("all flows") : std::string("pcount ") + bucket_names[b]) +
                               ": mean kept " + std::to_string(mean) + ", expected " + std::to_string(expected[b]) +
                               ", standard error " + std::to_string(se) + ", flows " + std::to_string(flows[b]);
      if (se == 0) {
        EXPECT_NEAR(mean, expected[b], 1e-9) << what;
      } else {
        EXPECT_LE(std::fabs(mean - expected[b]), 4 * se) << what;
      }
      if (b == 5) RecordProperty("rate_" + std::to_string(rate), what);
      std::printf("%s\n", what.c_str());
    }
  }
}

}  // namespace

#include "io/synth.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "decode/dispatch.hpp"
#include "source/pcap_source.hpp"

namespace {

namespace fs = std::filesystem;
using overflowd::core::FlowRecord;
using overflowd::core::Protocol;
using overflowd::io::SynthConfig;
using overflowd::io::write_synth_pcap;

class Synth : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-synth-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  [[nodiscard]] std::string path(const char* name) const { return (dir_ / name).string(); }

  struct Decoded {
    std::uint64_t datagrams = 0;
    std::vector<FlowRecord> records;
    overflowd::core::DecodeCounters counters;
    overflowd::source::SourceCounters source;
    std::string warning;
  };
  static Decoded decode(const std::string& file) {
    Decoded out;
    auto source = overflowd::source::PcapSource::open(file);
    EXPECT_TRUE(source) << source.error();
    if (!source) return out;
    overflowd::decode::Dispatcher dispatcher;
    overflowd::core::Datagram d;
    while ((*source)->next(d)) {
      ++out.datagrams;
      const auto n = dispatcher.decode(d, out.records);
      EXPECT_TRUE(n) << n.error().describe();
    }
    out.counters = dispatcher.counters();
    out.source = (*source)->counters();
    out.warning = (*source)->warning();
    return out;
  }
  static std::string bytes_of(const std::string& file) {
    std::string out(fs::file_size(file), '\0');
    std::ifstream(file, std::ios::binary).read(out.data(), static_cast<std::streamsize>(out.size()));
    return out;
  }

  fs::path dir_;
};

bool in_prefix(const overflowd::core::IpAddress& a, std::uint32_t prefix, int bits) {
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return a.is_v4() && (a.v4_host_order() & mask) == prefix;
}

bool documentation_or_benchmark(const overflowd::core::IpAddress& a) {
  return in_prefix(a, 0xc0000200, 24) ||  // 192.0.2.0/24
         in_prefix(a, 0xc6336400, 24) ||  // 198.51.100.0/24
         in_prefix(a, 0xcb007100, 24) ||  // 203.0.113.0/24
         in_prefix(a, 0xc6120000, 15);    // 198.18.0.0/15
}

TEST_F(Synth, EveryDatagramDecodesWithNoRejectionsAndTheReportedCounts) {
  SynthConfig c;
  c.out = path("s.pcap");
  c.background_flows = 700;
  c.flood_flows = 400;
  c.flood_packets = 500;
  c.seed = 3;
  const auto sum = write_synth_pcap(c);
  ASSERT_TRUE(sum) << sum.error();
  EXPECT_EQ(sum->flows, 1100u);
  EXPECT_EQ(sum->datagrams, (1100u + 29) / 30);

  const Decoded d = decode(c.out);
  EXPECT_EQ(d.datagrams, sum->datagrams);
  EXPECT_EQ(d.records.size(), sum->flows);
  EXPECT_EQ(d.counters.total_rejected(), 0u);
  EXPECT_EQ(d.counters.datagrams[static_cast<std::size_t>(Protocol::netflow_v5)], sum->datagrams);
  EXPECT_EQ(d.source.packets, sum->datagrams);
  EXPECT_TRUE(std::all_of(d.source.rejected.begin(), d.source.rejected.end(), [](auto v) { return v == 0; }));
  EXPECT_TRUE(d.warning.empty()) << d.warning;

  std::uint64_t packets = 0;
  double expected = 0;
  std::size_t flood = 0;
  for (const auto& f : d.records) {
    packets += f.pcount;
    expected += std::min(1.0, 1e-5 * static_cast<double>(f.pcount) * f.sampling_interval);
    EXPECT_TRUE(documentation_or_benchmark(f.src)) << f.src.to_string();
    EXPECT_TRUE(documentation_or_benchmark(f.dst)) << f.dst.to_string();
    EXPECT_TRUE(documentation_or_benchmark(f.exporter)) << f.exporter.to_string();
    EXPECT_LE(f.stime_ms, f.etime_ms);
    EXPECT_EQ(f.sampling_interval, 1u);
    flood += f.dst.to_string() == "203.0.113.80" && f.tcp_flags == 0x02;
  }
  EXPECT_EQ(packets, sum->packets);
  EXPECT_NEAR(expected, sum->expected_reports_at_default_rate, 1e-9);
  EXPECT_EQ(flood, 400u);
}

TEST_F(Synth, LoopbackUsesOnly127Slash8) {
  SynthConfig c;
  c.out = path("lo.pcap");
  c.background_flows = 200;
  c.flood_flows = 100;
  c.loopback = true;
  ASSERT_TRUE(write_synth_pcap(c));
  const Decoded d = decode(c.out);
  ASSERT_EQ(d.records.size(), 300u);
  for (const auto& f : d.records) {
    EXPECT_TRUE(in_prefix(f.src, 0x7f000000, 8)) << f.src.to_string();
    EXPECT_TRUE(in_prefix(f.dst, 0x7f000000, 8)) << f.dst.to_string();
    EXPECT_TRUE(in_prefix(f.nexthop, 0x7f000000, 8)) << f.nexthop.to_string();
    EXPECT_TRUE(in_prefix(f.exporter, 0x7f000000, 8)) << f.exporter.to_string();
  }
}

TEST_F(Synth, SamplingIntervalIsDeclaredAndCounted) {
  SynthConfig c;
  c.out = path("sampled.pcap");
  c.background_flows = 300;
  c.flood_flows = 0;
  c.sampling_interval = 100;
  const auto sum = write_synth_pcap(c);
  ASSERT_TRUE(sum);
  const Decoded d = decode(c.out);
  ASSERT_EQ(d.records.size(), 300u);
  double expected = 0;
  for (const auto& f : d.records) {
    EXPECT_EQ(f.sampling_interval, 100u);
    expected += std::min(1.0, 1e-5 * static_cast<double>(f.pcount) * 100);
  }
  EXPECT_NEAR(expected, sum->expected_reports_at_default_rate, 1e-9);
}

TEST_F(Synth, SameSeedSameFileDifferentSeedDifferentFile) {
  SynthConfig c;
  c.background_flows = 100;
  c.flood_flows = 50;
  c.seed = 11;
  c.out = path("a.pcap");
  ASSERT_TRUE(write_synth_pcap(c));
  c.out = path("b.pcap");
  ASSERT_TRUE(write_synth_pcap(c));
  c.seed = 12;
  c.out = path("c.pcap");
  ASSERT_TRUE(write_synth_pcap(c));
  EXPECT_EQ(bytes_of(path("a.pcap")), bytes_of(path("b.pcap")));
  EXPECT_NE(bytes_of(path("a.pcap")), bytes_of(path("c.pcap")));
}

TEST_F(Synth, DefaultConfigurationDecodesCleanly) {
  SynthConfig c;
  c.out = path("default.pcap");
  const auto sum = write_synth_pcap(c);
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->flows, 5000u);
  const Decoded d = decode(c.out);
  EXPECT_EQ(d.records.size(), 5000u);
  EXPECT_EQ(d.counters.total_rejected(), 0u);
}

TEST_F(Synth, UnwritablePathIsAnError) {
  SynthConfig c;
  c.out = path("no/such/dir/x.pcap");
  const auto sum = write_synth_pcap(c);
  ASSERT_FALSE(sum);
  EXPECT_NE(sum.error().find(c.out), std::string::npos) << sum.error();
}

}  // namespace

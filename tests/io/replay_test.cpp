// The replayer: its loopback-only rule, and a replay of a synthetic capture into the UDP source on
// 127.0.0.1 that arrives byte for byte. Nothing here sends anywhere but loopback.
#include "io/replay.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "io/synth.hpp"
#include "source/pcap_source.hpp"
#include "source/udp_source.hpp"

namespace overflowd::io {
namespace {

namespace fs = std::filesystem;

TEST(ReplayTarget, ParsesIpv4AndBracketedIpv6) {
  auto a = parse_target("127.0.0.1:2055");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->address.to_string(), "127.0.0.1");
  EXPECT_EQ(a->port, 2055);
  auto b = parse_target("[::1]:9995");
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->address.to_string(), "::1");
  EXPECT_EQ(b->port, 9995);
  EXPECT_EQ(b->to_string(), "[::1]:9995");
  auto mapped = parse_target("[::ffff:127.0.0.5]:1");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->address.is_v4()) << "an IPv4-mapped address is the IPv4 address it maps";
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1:2055", "[::1]2055",
                          "localhost:2055", "127.0.0.1:20x", "[127.0.0.1:5"})
    EXPECT_FALSE(parse_target(bad)) << bad;
  // A listener (--metrics) may take port 0, any free one; the error names its own flag.
  auto any = parse_target("127.0.0.1:0", "--metrics", 0);
  ASSERT_TRUE(any);
  EXPECT_EQ(any->port, 0);
  const auto refused = parse_target("127.0.0.1:65536", "--metrics", 0);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().starts_with("--metrics: '127.0.0.1:65536' is not ADDRESS:PORT")) << refused.error();
}

TEST(ReplayTarget, OnlyLoopbackIsAcceptedUnlessAllowed) {
  for (const char* ok : {"127.0.0.1:1", "127.255.255.254:1", "127.1.2.3:9", "[::1]:1", "[::ffff:127.0.0.1]:1"}) {
    auto t = parse_target(ok);
    ASSERT_TRUE(t) << ok;
    EXPECT_TRUE(check_target(*t, false)) << ok;
  }
  for (const char* refused : {"192.0.2.1:9", "10.0.0.1:9", "128.0.0.1:9", "126.255.255.255:9", "0.0.0.0:9",
                              "[2001:db8::1]:9", "[::]:9", "[::2]:9", "[fe80::1]:9", "[::ffff:192.0.2.1]:9",
                              "[::127.0.0.1]:9"}) {
    auto t = parse_target(refused);
    ASSERT_TRUE(t) << refused;
    const auto r = check_target(*t, false);
    ASSERT_FALSE(r) << refused;
    EXPECT_NE(r.error().find("not a loopback address"), std::string::npos) << r.error();
    EXPECT_TRUE(check_target(*t, true)) << "allowed explicitly: " << refused;
  }
}

TEST(Replay, RefusesANonLoopbackTargetBeforeSending) {
  ReplayCapture capture;
  capture.bytes.resize(10);
  capture.datagrams.push_back({0, 10, 0});
  ReplayConfig c;
  c.to = *parse_target("192.0.2.1:9");
  const auto r = replay(capture, c, nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not a loopback address"), std::string::npos) << r.error();
}

class ReplayInto : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-replay-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    SynthConfig sc;
    sc.out = (dir_ / "synth.pcap").string();
    sc.background_flows = 300;
    sc.flood_flows = 100;
    auto sum = write_synth_pcap(sc);
    ASSERT_TRUE(sum) << sum.error();
    synth_ = *sum;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  SynthSummary synth_;
};

TEST_F(ReplayInto, ACaptureIsLoadedWithItsFlowsCounted) {
  auto capture = load_replay_capture((dir_ / "synth.pcap").string(), 0);
  ASSERT_TRUE(capture) << capture.error();
  EXPECT_EQ(capture->datagrams.size(), synth_.datagrams);
  EXPECT_EQ(capture->flows, synth_.flows);
  auto first3 = load_replay_capture((dir_ / "synth.pcap").string(), 3);
  ASSERT_TRUE(first3);
  EXPECT_EQ(first3->datagrams.size(), 3u);
}

TEST_F(ReplayInto, TheUdpSourceGetsExactlyTheCountedDatagramsByteForByte) {
  auto capture = load_replay_capture((dir_ / "synth.pcap").string(), 0);
  ASSERT_TRUE(capture) << capture.error();
  source::UdpSourceConfig uc;
  uc.bind = "127.0.0.1";
  uc.port = 0;
  auto source = source::UdpSource::open(uc, nullptr);
  ASSERT_TRUE(source) << source.error();

  // Wraps around the capture once and a bit: --loop --count.
  const std::uint64_t count = capture->datagrams.size() + 5;
  ReplayConfig c;
  c.to = *parse_target("127.0.0.1:" + std::to_string((*source)->port()));
  c.count = count;
  c.loop = true;
  c.exporters = 2;
  auto sent = replay(*capture, c, nullptr);
  ASSERT_TRUE(sent) << sent.error();
  EXPECT_EQ(sent->datagrams, count);
  EXPECT_EQ(sent->send_errors, 0u);
  std::uint64_t flows = capture->flows, bytes = capture->bytes.size();
  for (std::size_t i = 0; i < 5; ++i) {
    flows += capture->datagrams[i].flows;
    bytes += capture->datagrams[i].size;
  }
  EXPECT_EQ(sent->flows, flows);
  EXPECT_EQ(sent->bytes, bytes);

  // Every datagram is queued by now (loopback delivers within the send).
  std::vector<std::string> got;
  std::array<core::Datagram, 64> batch;
  for (;;) {
    std::size_t n = 0;
    ASSERT_TRUE((*source)->next_batch(batch, n));
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(batch[i].exporter.to_string(), "127.0.0.1");
      got.emplace_back(reinterpret_cast<const char*>(batch[i].bytes.data()), batch[i].bytes.size());
    }
  }
  (*source)->refresh_counters();
  ASSERT_EQ((*source)->counters().kernel_drops, 0u) << "the receive buffer holds the whole capture";
  ASSERT_EQ(got.size(), count);
  std::multiset<std::string> want, have(got.begin(), got.end());
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto& d = capture->datagrams[i % capture->datagrams.size()];
    want.emplace(reinterpret_cast<const char*>(capture->bytes.data() + d.offset), d.size);
  }
  EXPECT_EQ(have, want);  // two sockets: the order between them is the kernel's
}

TEST_F(ReplayInto, WithoutLoopACaptureIsSentOnceAndCountBoundsIt) {
  auto capture = load_replay_capture((dir_ / "synth.pcap").string(), 0);
  ASSERT_TRUE(capture) << capture.error();
  source::UdpSourceConfig uc;
  uc.bind = "127.0.0.1";
  uc.port = 0;
  auto source = source::UdpSource::open(uc, nullptr);
  ASSERT_TRUE(source) << source.error();
  ReplayConfig c;
  c.to = *parse_target("127.0.0.1:" + std::to_string((*source)->port()));
  c.count = capture->datagrams.size() * 3;  // more than the capture holds
  auto sent = replay(*capture, c, nullptr);
  ASSERT_TRUE(sent) << sent.error();
  EXPECT_EQ(sent->datagrams, capture->datagrams.size());
  c.count = 4;
  sent = replay(*capture, c, nullptr);
  ASSERT_TRUE(sent) << sent.error();
  EXPECT_EQ(sent->datagrams, 4u);
}

}  // namespace
}  // namespace overflowd::io

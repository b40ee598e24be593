// Signing on several threads (issue 17): reports come out in the order they went in, each line
// the bytes one Signer on one thread makes; a signing thread that fails (its key cannot be had)
// ends the run with its reason, whether it fails at once or in the middle, and nothing hangs.
// Labelled `threads`: ThreadSanitizer runs it.
#include "app/signing_pool.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "core/clock.hpp"
#include "core/sodium.hpp"
#include "io/synth.hpp"
#include "report/peer_keys.hpp"
#include "report/seal.hpp"
#include "sink/delivery_sink.hpp"
#include "sink/stream_sink.hpp"
#include "core/encoding.hpp"
#include "source/pcap_source.hpp"

namespace overflowd::app {
namespace {

namespace fs = std::filesystem;

report::KeyPair test_keys() {
  report::Seed seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return report::keypair_from_seed(seed);
}

std::string message_of(std::size_t i) { return "{\"n\":" + std::to_string(i) + "}"; }

class Pool : public ::testing::Test {
protected:
  void SetUp() override { core::init_sodium(); }
};

TEST_F(Pool, ReportsComeOutInInputOrderAsOneThreadSignsThem) {
  const report::KeyPair keys = test_keys();
  report::Signer reference(keys);
  constexpr std::size_t kReports = 3000;  // 47 batches through a window of 3 slots
  for (unsigned threads : {1u, 2u, 4u}) {
    std::vector<std::string> lines;
    std::vector<std::uint32_t> ports;
    SigningPool pool(
        keys, threads,
        [&](const SigningPool::Item& item) {
          lines.push_back(item.signed_report.line);
          ports.push_back(item.flow.sport);
        },
        3);
    for (std::size_t i = 0; i < kReports; ++i) {
      core::FlowRecord flow{};
      flow.sport = static_cast<std::uint16_t>(i);
      ASSERT_TRUE(pool.add(flow, message_of(i), false));
    }
    ASSERT_TRUE(pool.finish()) << pool.error();
    ASSERT_EQ(lines.size(), kReports) << threads << " threads";
    report::SignedReport expected;
    for (std::size_t i = 0; i < kReports; ++i) {
      reference.sign(message_of(i), expected);
      ASSERT_EQ(lines[i], expected.line) << "report " << i << ", " << threads << " threads";
      ASSERT_EQ(ports[i], static_cast<std::uint16_t>(i));
    }
  }
}

TEST_F(Pool, ASignerThatCannotBeMadeEndsTheRunWithItsReason) {
  std::size_t emitted = 0;
  SigningPool pool(
      [](unsigned index) -> std::expected<report::Signer, std::string> {
        if (index == 1) return std::unexpected("key file /etc/overflowd/key: No such file or directory");
        return report::Signer(test_keys());
      },
      2, [&](const SigningPool::Item&) { ++emitted; });
  bool refused = false;
  for (std::size_t i = 0; i < 100'000 && !refused; ++i) refused = !pool.add(core::FlowRecord{}, message_of(i), false);
  EXPECT_FALSE(pool.finish());
  EXPECT_NE(pool.error().find("signing thread 1: key file /etc/overflowd/key: No such file"), std::string::npos)
      << pool.error();
}

TEST_F(Pool, AThreadFailingInTheMiddleEndsTheRunNotAHang) {
  std::atomic<std::size_t> added{0};
  SigningPool pool(
      [&](unsigned index) -> std::expected<report::Signer, std::string> {
        if (index == 2) {
          while (added.load() < 500) std::this_thread::yield();  // others have signed batches by now
          throw std::runtime_error("key unreadable");
        }
        return report::Signer(test_keys());
      },
      3, [](const SigningPool::Item&) {}, 2);
  bool refused = false;
  std::size_t i = 0;
  for (; i < 10'000'000 && !refused; ++i) {  // ends as soon as the failure is seen
    refused = !pool.add(core::FlowRecord{}, message_of(i), false);
    added.store(i + 1);
  }
  EXPECT_TRUE(refused) << "add() went on after a signing thread failed";
  EXPECT_FALSE(pool.finish());
  EXPECT_NE(pool.error().find("signing thread 2: key unreadable"), std::string::npos) << pool.error();
}

// Fewer reports than a batch (the default rate on a capture file): no thread is started, the
// reader's thread signs them in finish(), with the same bytes; a signer that cannot be made still
// ends the run with its reason.
TEST_F(Pool, AShortRunSignsOnTheReadersThreadAlone) {
  const report::KeyPair keys = test_keys();
  report::Signer reference(keys);
  std::vector<std::thread::id> made_on;
  std::vector<std::string> lines;
  SigningPool pool(
      [&](unsigned index) -> std::expected<report::Signer, std::string> {
        EXPECT_EQ(index, 0u);
        made_on.push_back(std::this_thread::get_id());
        return report::Signer(keys);
      },
      2, [&](const SigningPool::Item& item) { lines.push_back(item.signed_report.line); });
  constexpr std::size_t kReports = SigningPool::kBatchReports - 1;
  for (std::size_t i = 0; i < kReports; ++i) ASSERT_TRUE(pool.add(core::FlowRecord{}, message_of(i), false));
  EXPECT_TRUE(lines.empty());
  ASSERT_TRUE(pool.finish()) << pool.error();
  ASSERT_EQ(made_on, std::vector<std::thread::id>{std::this_thread::get_id()});
  ASSERT_EQ(lines.size(), kReports);
  report::SignedReport expected;
  for (std::size_t i = 0; i < kReports; ++i) {
    reference.sign(message_of(i), expected);
    EXPECT_EQ(lines[i], expected.line) << "report " << i;
  }

  SigningPool failing([](unsigned) -> std::expected<report::Signer, std::string> { return std::unexpected("key missing"); },
                      2, [](const SigningPool::Item&) {});
  ASSERT_TRUE(failing.add(core::FlowRecord{}, message_of(0), false));
  EXPECT_FALSE(failing.finish());
  EXPECT_NE(failing.error().find("signing thread 0: key missing"), std::string::npos) << failing.error();
}

// The whole pipeline on a capture: the file sink's bytes are the same for 1, 2 and 4 signing
// threads with a fixed seed and time; a failing signer makes run_pipeline return its reason.
class PoolPipeline : public Pool {
protected:
  void SetUp() override {
    Pool::SetUp();
    std::string tmpl = (fs::temp_directory_path() / "overflowd-signing-pool-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    io::SynthConfig sc;
    sc.out = (dir_ / "synth.pcap").string();
    sc.background_flows = 600;
    sc.flood_flows = 200;
    ASSERT_TRUE(io::write_synth_pcap(sc));
  }
  void TearDown() override { fs::remove_all(dir_); }

  PipelineResult run(unsigned threads, const fs::path& out_path, PipelineSettings settings) {
    auto src = source::PcapSource::open((dir_ / "synth.pcap").string());
    EXPECT_TRUE(src);
    auto out = sink::StreamSink::file(out_path.string(), false);
    EXPECT_TRUE(out);
    sink::Sink* const sinks[] = {out->get()};
    settings.sampler.rate = 1;
    settings.sampler.seed = 5;
    settings.keys = test_keys();
    settings.sinks = sinks;
    settings.sign_threads = threads;
    settings.clock = &clock_;
    source::Source* const one[] = {src->get()};
    return run_pipeline(one, settings);
  }

  static std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  fs::path dir_;
  core::ManualClock clock_{1'700'000'000'000'000'000, 0};
};

TEST_F(PoolPipeline, OutputIsByteIdenticalForOneTwoAndFourSigningThreads) {
  std::string first;
  for (unsigned threads : {1u, 2u, 4u}) {
    const fs::path out = dir_ / ("out" + std::to_string(threads));
    const PipelineResult r = run(threads, out, {});
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GT(r.total.reports, 64u * 8);
    const std::string text = read(out);
    if (first.empty()) first = text;
    else EXPECT_EQ(text, first) << threads << " threads";
    EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')), r.total.reports);
  }
}

TEST_F(PoolPipeline, AFailingSigningThreadEndsTheRunWithAnError) {
  PipelineSettings settings;
  settings.signer_factory = [](unsigned index) -> std::expected<report::Signer, std::string> {
    if (index == 0) return std::unexpected("key missing");
    return report::Signer(test_keys());
  };
  const PipelineResult r = run(2, dir_ / "out", settings);
  EXPECT_NE(r.error.find("key missing"), std::string::npos) << r.error;
}

// Sealing on the signing threads: the DeliverySink plans each report (the Guard, the key) as it is
// added, the threads sign and seal it, and the transports get one sealed datagram per report, in
// input order, that opens with the endpoint's key to the report naming its recipient.
class RecordingTransport final : public sink::Transport {
public:
  void send(const core::IpAddress& to, const report::SignedReport& r) override {
    to_.push_back(to.to_string());
    datagrams.push_back(r.datagram);
    sealed.push_back(r.sealed);
  }
  void finish() override {}
  void append_counters(std::vector<core::NamedCount>&) const override {}
  std::vector<std::string> to_, datagrams;
  std::vector<bool> sealed;
};

TEST_F(Pool, SealsOnItsThreadsAndSendsInInputOrder) {
  const report::KeyPair keys = test_keys();
  const auto x = report::generate_x25519();
  auto pins = report::PeerKeys::parse(report::as_bytes("9.9.9.0/24 " + core::to_hex(x.public_key) + "\n"));
  ASSERT_TRUE(pins) << pins.error();
  report::Keyring ring;
  ring.add(x);
  constexpr std::size_t kReports = 320;  // 5 batches through a window of 3 slots
  const auto message = [](std::size_t i) {
    return "{\"n\":" + std::to_string(i) + ",\"metadata\":{\"class\":\"INFORMATIONAL\",\"time\":1}}";
  };
  for (unsigned threads : {1u, 2u, 4u}) {
    SCOPED_TRACE(threads);
    sink::DeliveryConfig c;
    c.to = sink::DeliverTo::both;
    c.guard.global.reset();
    c.guard.per_destination.reset();
    c.encryption.mode = sink::Encrypt::require;
    c.encryption.signing = keys;
    std::vector<std::unique_ptr<sink::Transport>> t;
    t.push_back(std::make_unique<RecordingTransport>());
    auto* rec = static_cast<RecordingTransport*>(t[0].get());
    sink::DeliverySink delivery(c, std::move(t));
    delivery.set_peer_keys(*pins);
    std::size_t emitted = 0;
    SigningPool pool(
        keys, threads,
        [&](const SigningPool::Item& item) {
          ++emitted;
          delivery.write_planned(item.signed_report, item.plan);
        },
        3, &delivery);
    for (std::size_t i = 0; i < kReports; ++i) {
      core::FlowRecord flow{};
      flow.src = *core::IpAddress::parse("1.1.1.1");  // no key: nothing under require
      flow.dst = *core::IpAddress::parse("9.9.9.9");
      flow.sport = static_cast<std::uint16_t>(i + 1);
      flow.dport = 80;
      flow.protocol = 6;
      ASSERT_TRUE(pool.add(flow, message(i), false));
    }
    ASSERT_TRUE(pool.finish()) << pool.error();
    ASSERT_EQ(emitted, kReports);
    ASSERT_EQ(rec->datagrams.size(), kReports);
    EXPECT_EQ(delivery.signatures(), kReports);
    for (std::size_t i = 0; i < kReports; ++i) {
      ASSERT_TRUE(rec->sealed[i]);
      EXPECT_EQ(rec->to_[i], "9.9.9.9");
      auto opened = report::open_sealed_datagram(report::as_bytes(rec->datagrams[i]), ring, 0);
      ASSERT_TRUE(opened) << i;
      // The compact form: its message (base64 after the signature) names report i and its recipient.
      report::SignedReport check;
      std::string inner = message(i);
      ASSERT_TRUE(report::add_recipient(inner, "9.9.9.9"));
      report::Signer(keys).sign(inner, check);
      EXPECT_EQ(opened->report, check.compact()) << "report " << i;
    }
  }
}

}  // namespace
}  // namespace overflowd::app

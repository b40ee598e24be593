// The pipeline with several workers sharing sinks: lines stay whole, counters add up per worker and
// in total, and the delivery Guard's global budget holds for all workers together.
#include "app/pipeline.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <fstream>

#include "decode/export_builder.hpp"
#include "io/replay.hpp"
#include "io/synth.hpp"
#include "sink/delivery_sink.hpp"
#include "sink/stream_sink.hpp"
#include "source/pcap_source.hpp"

namespace overflowd::app {
namespace {

namespace fs = std::filesystem;

class Pipeline : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-pipeline-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    io::SynthConfig sc;
    sc.out = (dir_ / "synth.pcap").string();
    sc.background_flows = 1500;
    sc.flood_flows = 500;
    auto sum = io::write_synth_pcap(sc);
    ASSERT_TRUE(sum) << sum.error();
    synth_ = *sum;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::unique_ptr<source::Source>> sources(std::size_t n) {
    std::vector<std::unique_ptr<source::Source>> out;
    for (std::size_t i = 0; i < n; ++i) {
      auto s = source::PcapSource::open((dir_ / "synth.pcap").string());
      EXPECT_TRUE(s);
      out.push_back(std::move(*s));
    }
    return out;
  }

  fs::path dir_;
  io::SynthSummary synth_;
};

TEST_F(Pipeline, WorkersSharingAFileSinkWriteWholeLinesAndTheirCountersAddUp) {
  auto owned = sources(3);
  std::vector<source::Source*> srcs;
  for (auto& s : owned) srcs.push_back(s.get());
  const auto out_path = dir_ / "reports.jsonl";
  auto out = sink::StreamSink::file(out_path.string(), true);
  ASSERT_TRUE(out);
  sink::Sink* const sinks[] = {out->get()};
  PipelineSettings settings;
  settings.sampler.rate = 1;  // every flow is reported
  settings.keys = report::generate_keypair();
  settings.sinks = sinks;
  const PipelineResult r = run_pipeline(srcs, settings);

  ASSERT_EQ(r.workers.size(), 3u);
  for (const auto& w : r.workers) {
    EXPECT_EQ(w.source.datagrams, synth_.datagrams);
    EXPECT_EQ(w.decoded, synth_.datagrams);
    EXPECT_EQ(w.refused, 0u);
    EXPECT_EQ(w.flows, synth_.flows);
  }
  EXPECT_EQ(r.total.source.datagrams, 3 * synth_.datagrams);
  EXPECT_EQ(r.total.flows, 3 * synth_.flows);
  EXPECT_EQ(r.total.decode.records[static_cast<std::size_t>(core::Protocol::netflow_v5)], 3 * synth_.flows);
  EXPECT_EQ(r.total.reports, r.total.sampler.kept);
  EXPECT_GT(r.total.reports, 0u);

  std::ifstream in(out_path);
  std::string line;
  std::uint64_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "line " << lines << " is not one whole report: " << line.substr(0, 200);
    ASSERT_TRUE(j.contains("signature"));
  }
  EXPECT_EQ(lines, r.total.reports);
}

struct Recorded {
  std::uint64_t sends = 0;
};

class CountingTransport final : public sink::Transport {
public:
  explicit CountingTransport(Recorded& r) : r_(r) {}
  void send(const core::IpAddress&, const report::SignedReport&) override { ++r_.sends; }
  void finish() override {}
  void append_counters(std::vector<core::NamedCount>&) const override {}

private:
  Recorded& r_;
};

TEST_F(Pipeline, TheGlobalBudgetHoldsForAllWorkersTogether) {
  auto owned = sources(2);
  std::vector<source::Source*> srcs;
  for (auto& s : owned) srcs.push_back(s.get());
  sink::DeliveryConfig dc;
  dc.udp = true;
  dc.guard.global = guard::Budget{1e-6, 7};  // 7 reports, and then nothing for the rest of the run
  dc.guard.per_destination.reset();
  dc.guard.allow.push_back(*guard::Cidr::parse("0.0.0.0/0"));  // synth's documentation addresses
  Recorded recorded;
  std::vector<std::unique_ptr<sink::Transport>> transports;
  transports.push_back(std::make_unique<CountingTransport>(recorded));
  sink::DeliverySink delivery(dc, std::move(transports));
  sink::Sink* const sinks[] = {&delivery};
  PipelineSettings settings;
  settings.sampler.rate = 1;
  settings.keys = report::generate_keypair();
  settings.sinks = sinks;
  const PipelineResult r = run_pipeline(srcs, settings);
  EXPECT_EQ(r.total.reports, 2 * synth_.flows);
  EXPECT_EQ(recorded.sends, 7u) << "one Guard for both workers: 7 tokens in all, not 7 each";
  EXPECT_EQ(delivery.guard().counters().count(guard::Verdict::admitted), 7u);
}

// A live source of the capture's datagrams: it hands them all on, then stays idle (as a socket
// with no traffic does) until stopped.
class IdleAfterCapture final : public source::Source {
public:
  IdleAfterCapture(const io::ReplayCapture& capture, const std::atomic<bool>& stop) : capture_(capture), stop_(stop) {}
  bool next(core::Datagram&) override { return false; }
  bool next_batch(std::span<core::Datagram> out, std::size_t& n) override {
    n = 0;
    if (stop_.load()) return false;
    while (at_ < capture_.datagrams.size() && n < out.size()) {
      const auto& d = capture_.datagrams[at_++];
      out[n].exporter = core::IpAddress::v4(0x7f000001);
      out[n].bytes = core::Bytes(capture_.bytes.data() + d.offset, d.size);
      ++n;
      ++counters_.datagrams;
    }
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // idle
    return true;
  }
  bool live() const noexcept override { return true; }
  const std::string& warning() const noexcept override { return warning_; }
  const source::SourceCounters& counters() const noexcept override { return counters_; }

private:
  const io::ReplayCapture& capture_;
  const std::atomic<bool>& stop_;
  std::size_t at_ = 0;
  std::string warning_;
  source::SourceCounters counters_;
};

TEST_F(Pipeline, CountersAreGatheredOnRequestWithoutStoppingTheWorkers) {
  auto capture = io::load_replay_capture((dir_ / "synth.pcap").string(), 0);
  ASSERT_TRUE(capture) << capture.error();
  std::atomic<bool> stop{false}, request{false};
  IdleAfterCapture a(*capture, stop), b(*capture, stop);
  source::Source* const srcs[] = {&a, &b};
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<PipelineResult> snapshots;
  PipelineSettings settings;
  settings.keys = report::generate_keypair();
  settings.counters_request = &request;
  settings.on_counters = [&](const PipelineResult& r) {
    std::lock_guard lock(mutex);
    snapshots.push_back(r);
    cv.notify_all();
  };
  PipelineResult result;
  std::thread runner([&] { result = run_pipeline(srcs, settings); });
  // Ask until a snapshot shows both workers through the whole capture (each ask is answered).
  bool complete = false;
  for (int attempt = 0; attempt < 200 && !complete; ++attempt) {
    std::unique_lock lock(mutex);
    const std::size_t before = snapshots.size();
    request = true;
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return snapshots.size() > before; }))
        << "a request is answered while the workers run";
    complete = snapshots.back().total.flows == 2 * synth_.flows;
  }
  ASSERT_TRUE(complete);
  const PipelineResult snapshot = snapshots.back();
  EXPECT_EQ(snapshot.workers.size(), 2u);
  EXPECT_EQ(snapshot.total.source.datagrams, 2 * synth_.datagrams);
  EXPECT_EQ(snapshot.total.decoded, 2 * synth_.datagrams);
  stop = true;
  runner.join();  // the workers were still running: only now do they end
  EXPECT_EQ(result.total.flows, snapshot.total.flows);
  EXPECT_EQ(result.total.reports, snapshot.total.reports);
}

// A source of given datagrams (each with its exporter), then the end.
class Datagrams final : public source::Source {
public:
  explicit Datagrams(std::vector<core::Datagram> datagrams) : datagrams_(std::move(datagrams)) {}
  bool next(core::Datagram& out) override {
    if (at_ == datagrams_.size()) return false;
    out = datagrams_[at_++];
    ++counters_.datagrams;
    return true;
  }
  bool live() const noexcept override { return false; }
  const std::string& warning() const noexcept override { return warning_; }
  const source::SourceCounters& counters() const noexcept override { return counters_; }

private:
  std::vector<core::Datagram> datagrams_;
  std::size_t at_ = 0;
  std::string warning_;
  source::SourceCounters counters_;
};

TEST_F(Pipeline, TheTemplateCapsHoldForTheWholeProcessEachWorkerTakingItsShare) {
  // An IPFIX template from each of 3 exporters, to each of 2 workers; the process may keep 4
  // domains, so each worker keeps 2 and refuses the third exporter's.
  std::vector<test::Builder> messages;
  for (int i = 0; i < 3; ++i) {
    test::Builder b = test::ipfix_header(1);
    b.begin_set(2).u16(256).u16(2).field(8, 4).field(12, 4).end_set();
    b.end_message();
    messages.push_back(std::move(b));
  }
  const char* exporters[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
  std::vector<std::unique_ptr<source::Source>> owned;
  std::vector<source::Source*> srcs;
  for (int w = 0; w < 2; ++w) {
    std::vector<core::Datagram> ds;
    for (int i = 0; i < 3; ++i) ds.push_back(messages[static_cast<std::size_t>(i)].datagram(exporters[i]));
    owned.push_back(std::make_unique<Datagrams>(std::move(ds)));
    srcs.push_back(owned.back().get());
  }
  auto out = sink::StreamSink::file((dir_ / "reports.jsonl").string(), true);
  ASSERT_TRUE(out);
  sink::Sink* const sinks[] = {out->get()};
  PipelineSettings settings;
  settings.templates.max_domains = 4;
  settings.keys = report::generate_keypair();
  settings.sinks = sinks;
  const PipelineResult r = run_pipeline(srcs, settings);
  ASSERT_EQ(r.workers.size(), 2u);
  for (const auto& w : r.workers)
    EXPECT_EQ(w.decode.rejected_count(core::Protocol::ipfix, core::Errc::exporter_limit), 1u);

  // One worker alone gets the whole cap: all 3 kept.
  std::vector<core::Datagram> ds;
  for (int i = 0; i < 3; ++i) ds.push_back(messages[static_cast<std::size_t>(i)].datagram(exporters[i]));
  Datagrams one(std::move(ds));
  source::Source* const single[] = {&one};
  const PipelineResult r1 = run_pipeline(single, settings);
  EXPECT_EQ(r1.total.decode.rejected_count(core::Protocol::ipfix, core::Errc::exporter_limit), 0u);
}

}  // namespace
}  // namespace overflowd::app

#include "app/pipeline.hpp"
#include "app/signing_pool.hpp"
#include "core/clock.hpp"

#include <array>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>

namespace overflowd::app {

namespace {

constexpr std::size_t kBatch = 64;  // datagrams taken from a source at a time


// What the workers share with the thread that started them: their counters when asked for
// (`request` is bumped; each worker answers at its next batch, or within the source's idle time),
// and when they are done.
struct Board {
  explicit Board(std::size_t n) : counters(n), answered(n, 0), done(n, false) {}
  std::mutex mutex;
  std::condition_variable changed;
  std::atomic<std::uint64_t> request{0};
  std::vector<PipelineCounters> counters;
  std::vector<std::uint64_t> answered;
  std::vector<bool> done;
  std::size_t done_count = 0;
};

class Worker {
public:
  Worker(source::Source& source, const PipelineSettings& settings, Board& board, std::size_t index, std::size_t workers)
      : source_(source), settings_(settings), board_(board), index_(index),
        dispatcher_(settings.templates.shared_among(workers)), sampler_(settings.sampler),
        report_view_(settings.live ? std::make_optional<core::LiveView<report::ReportConfig>>(*settings.live) : std::nullopt),
        builder_(report_view_ ? report_view_->get() : settings.report),
        signer_(settings.keys), clock_(settings.clock ? settings.clock : &core::system_clock()) {
    flows_.reserve(64);
    take_policy();
    if (settings.sign_threads > 1) {
      sealer_ = settings.sealer && settings.sealer->sealing() ? settings.sealer : nullptr;
      auto emit = [this](const SigningPool::Item& item) {
        write(item.flow, item.signed_report, sealer_ ? &item.plan : nullptr);
      };
      if (settings.signer_factory)
        pool_ = std::make_unique<SigningPool>(settings.signer_factory, settings.sign_threads, std::move(emit), 0, sealer_);
      else
        pool_ = std::make_unique<SigningPool>(settings.keys, settings.sign_threads, std::move(emit), 0, sealer_);
    }
  }

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  // Called after every batch on the worker's thread (run_pipeline's duties, when it runs the worker itself).
  std::function<void()> between_batches;

  void run() {
    std::array<core::Datagram, kBatch> batch;
    std::size_t n = 0;
    std::uint64_t seen = 0;
    while (source_.next_batch(batch, n)) {
      if (settings_.reopen && settings_.reopen->load(std::memory_order_relaxed) && settings_.reopen->exchange(false))
        for (sink::Sink* s : settings_.sinks) s->reopen();
      if (settings_.policy && settings_.policy->generation() != policy_generation_) take_policy();
      if (report_view_ && report_view_->refresh()) builder_ = report::ReportBuilder(report_view_->get());
      if (policy_ && policy_->uses_volume()) policy_now_ns_ = core::system_clock().monotonic_ns();  // the volume window's clock, once a batch
      for (std::size_t i = 0; i < n && error_.empty(); ++i) {
        if (i + 1 < n) prefetch(batch[i + 1].bytes);
        handle(batch[i]);
      }
      if (!error_.empty()) break;
      if (const auto r = board_.request.load(std::memory_order_relaxed); r != seen) {
        seen = r;
        publish(r, false);
      }
      if (between_batches) between_batches();
    }
    if (pool_ && !pool_->finish() && error_.empty()) error_ = pool_->error();
    publish(board_.request.load(std::memory_order_relaxed), true);
  }

  void publish(std::uint64_t request, bool done) {
    source_.refresh_counters();
    counters_.source = source_.counters();
    counters_.decode = dispatcher_.counters();
    counters_.sampler = sampler_.counters();
    counters_.template_domains = dispatcher_.templates().domain_count();
    counters_.templates = dispatcher_.templates().template_count();
    {
      std::lock_guard lock(board_.mutex);
      board_.counters[index_] = counters_;
      board_.answered[index_] = request;
      if (done && !board_.done[index_]) {
        board_.done[index_] = true;
        ++board_.done_count;
      }
    }
    board_.changed.notify_all();
  }

private:
  // Asks for the next datagram's bytes while this one is decoded: from the af_packet ring they
  // were written by another core (the sender's softirq), and the decoder's first touch of each
  // line would otherwise wait for it.
  static void prefetch(core::Bytes bytes) noexcept {
    const auto* p = reinterpret_cast<const char*>(bytes.data());
    for (std::size_t at = 0; at < bytes.size(); at += 64) __builtin_prefetch(p + at);
  }

  void handle(const core::Datagram& datagram) {
    flows_.clear();
    if (!dispatcher_.decode(datagram, flows_)) {  // counted by the dispatcher, under its reason
      ++counters_.refused;
      return;
    }
    ++counters_.decoded;
    counters_.flows += flows_.size();
    if (policy_) {
      handle_with_policy();
      return;
    }
    for (const core::FlowRecord& flow : flows_) {
      const sample::Decision decision = sampler_.decide(flow);
      if (decision == sample::Decision::dropped) continue;
      builder_.build(flow, clock_->wall_ns(), message_, {}, decision == sample::Decision::kept_coherent);
      if (!sign_and_write(flow, false)) return;
    }
  }

  // Signs here, or hands the report to the signing pool, which writes it in order later.
  bool sign_and_write(const core::FlowRecord& flow, bool suspicious) {
    if (pool_) {
      if (pool_->add(flow, message_, suspicious)) return true;
      error_ = pool_->error();
      return false;
    }
    signer_.sign(message_, signed_report_);
    signed_report_.suspicious = suspicious;
    write(flow, signed_report_);
    return true;
  }

  // `plan`: the delivery the signing pool planned and sealed for the sealer's sink.
  void write(const core::FlowRecord& flow, const report::SignedReport& report,
             const sink::DeliveryPlan* plan = nullptr) {
    for (sink::Sink* s : settings_.sinks) {
      if (plan && s == sealer_) sealer_->write_planned(report, *plan);
      else s->write(flow, report);
    }
    ++counters_.reports;
    counters_.suspicious_reports += report.suspicious;
  }

  void handle_with_policy() {
    // Every flow counts toward its destination's volume, in this loop (no second pass over the batch).
    policy::BatchObserver seen(*policy_, flows_, *state_, policy_now_ns_);
    // The batch as a span: its size and data loaded once, not again after each opaque call.
    const std::span<const core::FlowRecord> flows(flows_);
    for (std::size_t i = 0; i < flows.size(); ++i) {
      const core::FlowRecord& flow = flows[i];
      decision_.suspicious = false;
      const sample::Decision decision = sampler_.decide(
          flow, [&](double base) { return policy_->ceiling(base); },
          [&](double base) {
            ++counters_.policy_decided;
            policy_->decide(flow, *state_, decision_, i);
            return policy_->boosted(base, decision_);
          });
      // After the draw (decide() reads the volume as the batches before this one left it, so the
      // order is free): fewer values live across the sampler's inlined code (docs/benchmarks.md).
      seen.add(flow, i);
      if (decision == sample::Decision::dropped) continue;
      builder_.build(flow, clock_->wall_ns(), message_,
                     decision_.suspicious ? std::span<const policy::Reason>(decision_.reasons)
                                          : std::span<const policy::Reason>(),
                     decision == sample::Decision::kept_coherent);
      if (!sign_and_write(flow, decision_.suspicious)) return;
    }
  }

  void take_policy() {
    if (!settings_.policy) return;
    policy_generation_ = settings_.policy->generation();
    policy_ = settings_.policy->current();
    if (!policy_) return;
    if (state_) state_->adopt(*policy_);
    else state_ = std::make_unique<policy::PolicyState>(*policy_);
  }

  source::Source& source_;
  const PipelineSettings& settings_;
  Board& board_;
  std::size_t index_;
  decode::Dispatcher dispatcher_;
  sample::Sampler sampler_;
  std::optional<core::LiveView<report::ReportConfig>> report_view_;  // the reloaded report settings
  report::ReportBuilder builder_;
  report::Signer signer_;
  PipelineCounters counters_;
  std::vector<core::FlowRecord> flows_;
  std::string message_;
  report::SignedReport signed_report_;
  std::shared_ptr<const policy::Policy> policy_;  // kept alive while its reasons are in use
  std::uint64_t policy_generation_ = 0;
  std::int64_t policy_now_ns_ = 0;  // monotonic, read once a batch when the policy counts volume
  std::unique_ptr<policy::PolicyState> state_;
  policy::Decision decision_;
  const core::Clock* clock_;
  std::string error_;
  sink::DeliverySink* sealer_ = nullptr;  // settings_.sealer when the pool seals for it
  std::unique_ptr<SigningPool> pool_;  // last: its threads stop before the rest goes
};

PipelineResult gather(const Board& board) {
  PipelineResult r;
  r.workers = board.counters;
  for (const auto& c : board.counters) r.total.merge(c);
  return r;
}

}  // namespace

void PipelineCounters::merge(const PipelineCounters& o) noexcept {
  source.merge(o.source);
  decode.merge(o.decode);
  sampler.considered += o.sampler.considered;
  sampler.kept += o.sampler.kept;
  sampler.kept_coherent += o.sampler.kept_coherent;
  sampler.skipped_report_port += o.sampler.skipped_report_port;
  sampler.skipped_no_address += o.sampler.skipped_no_address;
  sampler.skipped_delivery_tcp += o.sampler.skipped_delivery_tcp;
  sampler.skipped_report_icmp += o.sampler.skipped_report_icmp;
  sampler.skipped_own_address += o.sampler.skipped_own_address;
  decoded += o.decoded;
  refused += o.refused;
  flows += o.flows;
  reports += o.reports;
  policy_decided += o.policy_decided;
  suspicious_reports += o.suspicious_reports;
  template_domains += o.template_domains;
  templates += o.templates;
}

void PipelineCounters::append_to(std::vector<core::NamedCount>& out) const {
  source.append_to(out, "source");
  out.push_back({"datagrams.decoded", decoded});
  out.push_back({"datagrams.refused", refused});
  decode.append_to(out);
  out.push_back({"flows", flows});
  out.push_back({"sampler.considered", sampler.considered});
  out.push_back({"sampler.kept", sampler.kept});
  if (sampler.kept_coherent) out.push_back({"sampler.kept_coherent", sampler.kept_coherent});
  if (sampler.skipped_report_port) out.push_back({"sampler.skipped.report_port", sampler.skipped_report_port});
  if (sampler.skipped_no_address) out.push_back({"sampler.skipped.no_address", sampler.skipped_no_address});
  if (sampler.skipped_delivery_tcp) out.push_back({"sampler.skipped.delivery_tcp", sampler.skipped_delivery_tcp});
  if (sampler.skipped_report_icmp) out.push_back({"sampler.skipped.report_icmp", sampler.skipped_report_icmp});
  if (sampler.skipped_own_address) out.push_back({"sampler.skipped.own_address", sampler.skipped_own_address});
  out.push_back({"reports", reports});
  if (policy_decided) out.push_back({"policy.decided", policy_decided});
  if (suspicious_reports) out.push_back({"policy.suspicious_reports", suspicious_reports});
}

PipelineResult run_pipeline(std::span<source::Source* const> sources, const PipelineSettings& settings) {
  Board board(sources.size());
  std::vector<std::unique_ptr<Worker>> workers;
  workers.reserve(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i)
    workers.push_back(std::make_unique<Worker>(*sources[i], settings, board, i, sources.size()));
  // What this thread does while the workers run: re-reads the policy's lists when due, and answers
  // the counters, snapshot and reload requests. With `lock` held; it is let go around callbacks.
  // `answer`: null when the workers run on threads of their own (this waits for their answers),
  // else the one worker, run here, that answers at once.
  const auto serve = [&](std::unique_lock<std::mutex>& lock, Worker* answer) {
    if (settings.policy) {
      lock.unlock();  // reading list files must not hold up the workers' answers
      const auto refreshed =
          settings.policy->refresh_if_due(static_cast<double>(core::system_clock().monotonic_ns()) * 1e-9);
      if (!refreshed && settings.on_policy_error) settings.on_policy_error(refreshed.error());
      lock.lock();
    }
    const auto asked = [](std::atomic<bool>* flag) {
      return flag && flag->load(std::memory_order_relaxed) && flag->exchange(false);
    };
    const bool for_counters = asked(settings.counters_request);
    const bool for_snapshot = asked(settings.snapshot_request);
    if (asked(settings.reload_request) && settings.on_reload) {
      lock.unlock();
      settings.on_reload();
      lock.lock();
    }
    if (!for_counters && !for_snapshot) return;
    const std::uint64_t request = board.request.fetch_add(1) + 1;
    if (answer) {
      lock.unlock();
      answer->publish(request, false);
      lock.lock();
    }
    // Each running worker answers at its next batch, or after its source's idle time (100 ms for
    // UDP); one stuck in a sink gets 2 s, and its last counters are shown.
    board.changed.wait_for(lock, std::chrono::seconds(2), [&] {
      for (std::size_t i = 0; i < sources.size(); ++i)
        if (!board.done[i] && board.answered[i] < request) return false;
      return true;
    });
    const PipelineResult snapshot = gather(board);
    lock.unlock();
    if (for_counters && settings.on_counters) settings.on_counters(snapshot);
    if (for_snapshot && settings.on_snapshot) settings.on_snapshot(snapshot);
    lock.lock();
  };

  if (sources.size() == 1 && !sources[0]->live()) {
    // A capture file: its one worker runs on this thread (issue 17, start-up: no thread to start,
    // wake and join), and does this thread's duties between its batches, at most every 100 ms.
    Worker& only = *workers[0];
    std::int64_t next_ns = 0;
    only.between_batches = [&] {
      const std::int64_t now = core::system_clock().monotonic_ns();
      if (now < next_ns) return;
      next_ns = now + 100'000'000;
      std::unique_lock lock(board.mutex);
      serve(lock, &only);
    };
    only.run();
  } else {
    std::vector<std::thread> threads;
    threads.reserve(workers.size());
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    std::unique_lock lock(board.mutex);
    // Woken by the last worker to finish; else every 100 ms to look at the counters request.
    while (!board.changed.wait_for(lock, std::chrono::milliseconds(100), [&] { return board.done_count == sources.size(); }))
      serve(lock, nullptr);
    lock.unlock();
    for (auto& t : threads) t.join();
  }
  for (sink::Sink* s : settings.sinks) s->flush();
  PipelineResult result = gather(board);
  for (const auto& w : workers)
    if (!w->error().empty() && result.error.empty()) result.error = w->error();
  return result;
}

PipelineResult run_pipeline(source::Source& source, const sample::SamplerConfig& sampler_config,
                            const report::ReportConfig& report_config, const report::KeyPair& keys,
                            std::span<sink::Sink* const> sinks, std::atomic<bool>* reopen) {
  PipelineSettings settings;
  settings.sampler = sampler_config;
  settings.report = report_config;
  settings.keys = keys;
  settings.sinks = sinks;
  settings.reopen = reopen;
  source::Source* const one[] = {&source};
  return run_pipeline(one, settings);
}

}  // namespace overflowd::app

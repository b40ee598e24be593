// The sender, wired in one place: source -> decode::Dispatcher -> sample::Sampler ->
// report::ReportBuilder -> report::Signer -> sinks.
//
// One worker thread per source. Each worker has its own Dispatcher (with its template cache),
// Sampler, ReportBuilder and Signer, and counts without locks; the sinks are shared and
// thread-safe (the stdout/file sink writes whole lines under a lock, the delivery sink's Guard
// keeps one global budget). With UDP, each source is one SO_REUSEPORT socket, so one exporter's
// datagrams, and its templates, stay with one worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <string>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "app/policy_file.hpp"
#include "core/clock.hpp"
#include "core/counters.hpp"
#include "core/live.hpp"
#include "decode/dispatch.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "sample/sampler.hpp"
#include "sink/sink.hpp"
#include "source/source.hpp"

namespace overflowd::sink {
class DeliverySink;
}

namespace overflowd::app {

struct PipelineCounters {
  source::SourceCounters source;
  core::DecodeCounters decode;   // per protocol: datagrams, records, refusals by reason
  sample::SamplerCounters sampler;
  std::uint64_t decoded = 0;     // datagrams a decoder accepted
  std::uint64_t refused = 0;     // datagrams refused whole (their reasons are in `decode`)
  std::uint64_t flows = 0;       // flow records decoded
  std::uint64_t reports = 0;     // reports signed and written
  // Flows the policy's rules ran on: those whose draw fell below the highest probability any rule
  // could give them (for the others the rules cannot change the outcome, so they are not run).
  std::uint64_t policy_decided = 0;
  std::uint64_t suspicious_reports = 0;  // of the reports, SUSPICIOUS ones
  // Gauges (metrics only, not in the summary): v9/IPFIX template cache contents, summed over workers.
  std::uint64_t template_domains = 0;
  std::uint64_t templates = 0;

  void merge(const PipelineCounters& other) noexcept;
  // "source.datagrams", "datagrams.decoded", "netflow_v5.records", ..., "reports".
  void append_to(std::vector<core::NamedCount>& out) const;
};

struct PipelineResult {
  PipelineCounters total;
  std::vector<PipelineCounters> workers;  // one per source, in the order given
  std::string error;                      // not empty: the run ended early (a signing thread failed)
};

struct PipelineSettings {
  sample::SamplerConfig sampler;
  report::ReportConfig report;
  report::KeyPair keys;
  std::span<sink::Sink* const> sinks;
  // Set by SIGHUP: the first worker to see it clears it and has every sink reopen its file.
  std::atomic<bool>* reopen = nullptr;
  // Set by SIGUSR1: the workers' counters are gathered (without stopping them) and passed to
  // on_counters, which runs on the calling thread.
  std::atomic<bool>* counters_request = nullptr;
  std::function<void(const PipelineResult&)> on_counters;
  // The v9 / IPFIX template caches' caps for the whole process: each worker's cache gets its share.
  decode::TemplateCacheLimits templates;
  // The suspicion policy (none: every report is INFORMATIONAL, as before). Workers take a reloaded
  // one at their next batch; lists with a refresh interval are re-read by run_pipeline's thread.
  PolicyHolder* policy = nullptr;
  std::function<void(const std::string&)> on_policy_error;  // a refresh failed (old policy kept)
  // As counters_request / on_counters, for metrics scrapes (app/metrics.hpp: PipelineSnapshot).
  std::atomic<bool>* snapshot_request = nullptr;
  std::function<void(const PipelineResult&)> on_snapshot;
  // SIGHUP (ExecReload): set by the signal; run_pipeline clears it and calls on_reload on its
  // thread, which may hand new report settings (the contact) to the workers via `live`.
  std::atomic<bool>* reload_request = nullptr;
  std::function<void()> on_reload;
  // The report settings as reloaded (core::Live: published whole); each worker keeps a LiveView,
  // looks at its generation once per batch and rebuilds its ReportBuilder when it moved. None: `report`.
  core::Live<report::ReportConfig>* live = nullptr;
  // Signing threads per worker (app/signing_pool.hpp): 0 or 1 signs on the worker's own thread;
  // N > 1 hands signing to N threads and writes the reports in input order all the same. The
  // sender sets it for a capture file (--workers); live UDP has one worker per socket instead.
  unsigned sign_threads = 0;
  // With sign_threads > 1: the DeliverySink (one of `sinks`) whose sealing (--encrypt) the signing
  // threads do; the workers then deliver through its plan/seal/write_planned steps.
  sink::DeliverySink* sealer = nullptr;
  // The reports' time (metadata.time); none: core::system_clock(). Tests fix it (--report-time).
  const core::Clock* clock = nullptr;
  // Tests: makes each signing thread's signer (SigningPool::SignerFactory); none: from `keys`.
  std::function<std::expected<report::Signer, std::string>(unsigned)> signer_factory;
};

// Runs one worker per source until every source has ended (or was stopped), then flushes the sinks.
[[nodiscard]] PipelineResult run_pipeline(std::span<source::Source* const> sources, const PipelineSettings& settings);

// One source, for tests and benchmarks.
[[nodiscard]] PipelineResult run_pipeline(source::Source& source, const sample::SamplerConfig& sampler_config,
                                          const report::ReportConfig& report_config, const report::KeyPair& keys,
                                          std::span<sink::Sink* const> sinks, std::atomic<bool>* reopen = nullptr);

}  // namespace overflowd::app

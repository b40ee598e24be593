// The metrics of the sender and the receiver (Prometheus text format, core/metrics.hpp), made from
// the counters the stages already keep: the same numbers as the summary, under conventional names
// with low-cardinality labels (protocol, reason, verdict, transport, result; never a flow's
// address). docs/operations.md lists the families.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "app/pipeline.hpp"
#include "core/counters.hpp"
#include "core/metrics.hpp"

namespace overflowd::app {

// The sender's summary counters ("netflow_v5.rejected.count_zero", "guard.admitted", ...) as
// metric samples: overflowd_datagrams_refused_total{protocol="netflow_v5",reason="count_zero"}, ...
// A name no rule knows becomes overflowd_<name, dots as underscores>_total, so that every counter
// of the summary is a metric.
void add_sender_counts(core::metrics::Exposition& e, std::span<const core::NamedCount> counts);

// An api::HttpServer's counters ("http.refused.<reason>", "http.open_connections", ...) as
// overflowd_http_*{listener}: refusals and closes by reason, the two gauges, the rest as counters.
void add_http_server_counts(core::metrics::Exposition& e, const std::string& listener,
                            std::span<const core::NamedCount> counts);

// overflowd_info{version,key,command} 1.
void add_info(core::metrics::Exposition& e, const std::string& command, const std::string& key);

// The latest counters of a running pipeline, for scrapes. A scrape asks the workers for fresh
// counters (run_pipeline answers within about 100 ms plus one batch) and waits for them a bounded
// time; the pipeline's hot loop is untouched between scrapes.
class PipelineSnapshot {
public:
  std::atomic<bool> request{false};  // PipelineSettings::snapshot_request
  void publish(const PipelineResult& r);  // PipelineSettings::on_snapshot
  [[nodiscard]] PipelineResult fresh(std::chrono::milliseconds wait);
  void finish(const PipelineResult& r);  // the pipeline has ended: no more waiting

private:
  std::mutex mutex_;
  std::condition_variable published_;
  std::uint64_t generation_ = 0;
  bool finished_ = false;
  PipelineResult latest_;
};

}  // namespace overflowd::app

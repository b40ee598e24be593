#include "app/pipeline.hpp"

#include <ctime>

namespace overflowd::app {

namespace {
std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

PipelineResult run_pipeline(source::Source& source, const sample::SamplerConfig& sampler_config,
                            const report::ReportConfig& report_config, const report::KeyPair& keys,
                            std::span<sink::Sink* const> sinks, std::atomic<bool>* reopen) {
  decode::Dispatcher dispatcher;
  sample::Sampler sampler(sampler_config);
  const report::ReportBuilder builder(report_config);
  report::Signer signer(keys);

  PipelineResult result;
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  std::string message;
  report::SignedReport signed_report;
  core::Datagram datagram;
  while (source.next(datagram)) {
    if (reopen && reopen->load(std::memory_order_relaxed) && reopen->exchange(false))
      for (sink::Sink* s : sinks) s->reopen();
    flows.clear();
    if (!dispatcher.decode(datagram, flows)) continue;  // counted by the dispatcher
    for (const core::FlowRecord& flow : flows) {
      if (!sampler.keep(flow)) continue;
      builder.build(flow, now_ns(), message);
      signer.sign(message, signed_report);
      for (sink::Sink* s : sinks) s->write(flow, signed_report);
      ++result.reports;
    }
  }
  for (sink::Sink* s : sinks) s->flush();
  result.decode = dispatcher.counters();
  result.sampler = sampler.counters();
  return result;
}

}  // namespace overflowd::app

// The sender, wired in one place: source -> decode::Dispatcher -> sample::Sampler ->
// report::ReportBuilder -> report::Signer -> sinks.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "core/counters.hpp"
#include "decode/dispatch.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "sample/sampler.hpp"
#include "sink/sink.hpp"
#include "source/source.hpp"

namespace overflowd::app {

struct PipelineResult {
  core::DecodeCounters decode;
  sample::SamplerCounters sampler;
  std::uint64_t reports = 0;
};

// `reopen`, when given, is a flag set by SIGHUP: the pipeline clears it and has every sink reopen
// its file before it writes the next report.
[[nodiscard]] PipelineResult run_pipeline(source::Source& source, const sample::SamplerConfig& sampler_config,
                                          const report::ReportConfig& report_config, const report::KeyPair& keys,
                                          std::span<sink::Sink* const> sinks,
                                          std::atomic<bool>* reopen = nullptr);

}  // namespace overflowd::app

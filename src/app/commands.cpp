#include "app/commands.hpp"

#include <fmt/core.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>

#include "io/key_file.hpp"
#include "app/pipeline.hpp"
#include "report/verify.hpp"
#include "sink/stream_sink.hpp"
#include "source/pcap_file_source.hpp"
#include "source/udp_source.hpp"

namespace overflowd::app {

using io::create_key;
using io::load_key;
using io::load_or_create_key;
using io::write_synth_pcap;

namespace {

std::atomic<bool> g_stop{false};  // set by SIGINT/SIGTERM; only the app layer has globals

extern "C" void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void print_summary(const source::Source& source, const PipelineResult& r) {
  std::vector<core::NamedCount> counts;
  source.counters().append_to(counts, "source");
  r.decode.append_to(counts);
  counts.push_back({"sampler.considered", r.sampler.considered});
  counts.push_back({"sampler.kept", r.sampler.kept});
  if (r.sampler.skipped_report_port) counts.push_back({"sampler.skipped.report_port", r.sampler.skipped_report_port});
  if (r.sampler.skipped_no_address) counts.push_back({"sampler.skipped.no_address", r.sampler.skipped_no_address});
  counts.push_back({"reports", r.reports});
  std::string out = "overflowd: summary\n";
  for (const auto& c : counts) out += fmt::format("  {:<40} {}\n", c.name, c.value);
  std::fputs(out.c_str(), stderr);
}

}  // namespace

void print_error(const std::string& message) { fmt::print(stderr, "overflowd: error: {}\n", message); }
void print_warning(const std::string& message) { fmt::print(stderr, "overflowd: warning: {}\n", message); }

int cmd_run(const RunConfig& config) {
  if (auto v = validate(config); !v) {
    print_error(v.error());
    return kExitUsage;
  }
  std::unique_ptr<source::Source> source;
  if (!config.pcap_file.empty()) {
    auto s = source::PcapFileSource::open(config.pcap_file);
    if (!s) {
      print_error(s.error());
      return kExitUsage;
    }
    source = std::move(*s);
  } else {
    install_stop_handlers();
    auto s = source::UdpSource::open(config.udp, &g_stop);
    if (!s) {
      print_error(s.error());
      return kExitUsage;
    }
    if (!config.quiet)
      fmt::print(stderr, "overflowd: listening for flow exports on UDP [{}]:{}\n", config.udp.bind, (*s)->port());
    source = std::move(*s);
  }

  // The key after the source, and its warning after the output opened, so that a bad path or a
  // bad key is the only line on stderr.
  report::KeyPair keys;
  if (config.key_path.empty()) {
    keys = report::generate_keypair();
  } else {
    auto loaded = load_or_create_key(config.key_path);
    if (!loaded) {
      print_error(loaded.error());
      return kExitUsage;
    }
    if (loaded->created && !config.quiet)
      fmt::print(stderr, "overflowd: created key {} (public key {})\n", config.key_path, report::public_key_hex(loaded->keys));
    keys = loaded->keys;
  }

  std::unique_ptr<sink::StreamSink> out;
  if (config.output_file.empty()) {
    out = sink::StreamSink::standard_output(source->live());
  } else {
    auto f = sink::StreamSink::file(config.output_file, source->live());
    if (!f) {
      print_error(f.error());
      return kExitUsage;
    }
    out = std::move(*f);
  }
  if (config.key_path.empty())
    print_warning("no --key given: signing with an ephemeral key " + report::public_key_hex(keys) +
                  " that ends with this run; give --key PATH to keep one");
  sink::Sink* sinks[] = {out.get()};
  const PipelineResult result = run_pipeline(*source, config.sampler, report::ReportConfig{config.contact}, keys, sinks);
  out->flush();
  if (!source->warning().empty()) print_warning(source->warning());
  if (!config.quiet) print_summary(*source, result);
  if (out->failed()) {
    print_error("writing reports failed");
    return kExitFailure;
  }
  return kExitOk;
}

int cmd_keygen(const std::string& path) {
  auto keys = create_key(path);
  if (!keys) {
    print_error(keys.error());
    return kExitUsage;
  }
  fmt::print("{}\n", report::public_key_hex(*keys));
  return kExitOk;
}

int cmd_pubkey(const std::string& path) {
  auto keys = load_key(path);
  if (!keys) {
    print_error(keys.error());
    return kExitUsage;
  }
  fmt::print("{}\n", report::public_key_hex(*keys));
  return kExitOk;
}

int cmd_verify(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      print_error(path + ": cannot open");
      return kExitUsage;
    }
    in = &file;
  }
  std::uint64_t line_no = 0, total = 0, bad = 0;
  std::string line;
  while (std::getline(*in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++total;
    auto v = report::verify_report(line);
    if (!v) {
      ++bad;
      fmt::print("line {}: {}\n", line_no, report::to_string(v.error()));
    }
  }
  fmt::print("verify: {} reports, {} valid, {} invalid\n", total, total - bad, bad);
  return bad ? kExitFailure : kExitOk;
}

int cmd_synth(const SynthConfig& config) {
  auto summary = write_synth_pcap(config);
  if (!summary) {
    print_error(summary.error());
    return kExitUsage;
  }
  fmt::print(stderr, "overflowd synth: wrote {}: {} datagrams, {} flows, {} packets; expected reports at rate 1e-5: {:.2f}\n",
             config.out, summary->datagrams, summary->flows, summary->packets, summary->expected_reports_at_default_rate);
  return kExitOk;
}

}  // namespace overflowd::app

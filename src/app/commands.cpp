#include "app/commands.hpp"

#include <fmt/core.h>
#include <signal.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "io/key_file.hpp"
#include "io/local_addresses.hpp"
#include "io/replay.hpp"
#include "app/log.hpp"
#include "app/reload_diff.hpp"
#include "app/systemd_notify.hpp"
#include "app/privileges.hpp"
#include "app/toml.hpp"
#include "io/text_file.hpp"
#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "api/http_server.hpp"
#include "core/metrics.hpp"
#include "app/pipeline.hpp"
#include "core/clock.hpp"
#include "core/live.hpp"
#include "core/encoding.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"
#include "report/document.hpp"
#include "report/verify.hpp"
#include "sink/delivery_sink.hpp"
#include "sink/kafka_sink.hpp"
#include "sink/stream_sink.hpp"
#include "core/log_limit.hpp"
#include "source/kafka_source.hpp"
#include "source/pcap_source.hpp"
#include "source/af_packet_source.hpp"
#include "source/udp_source.hpp"
#include "core/parse.hpp"

namespace overflowd::app {

using io::create_key;
using io::load_key;
using io::load_or_create_key;
using io::write_synth_pcap;

namespace {

std::atomic<bool> g_stop{false};      // set by SIGINT/SIGTERM; only the app layer has globals
std::atomic<bool> g_reopen{false};    // set by SIGHUP: reopen the output file (log rotation)
std::atomic<bool> g_reload{false};    // set by SIGHUP too: re-read the --config file
std::atomic<bool> g_counters{false};  // set by SIGUSR1: print the counters, keep running

extern "C" void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
extern "C" void on_reopen_signal(int) {
  g_reopen.store(true, std::memory_order_relaxed);
  g_reload.store(true, std::memory_order_relaxed);
}
extern "C" void on_counters_signal(int) { g_counters.store(true, std::memory_order_relaxed); }

void install_handler(int sig, void (*handler)(int), bool restart) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(sig, &sa, nullptr);
}

void install_stop_handlers() {
  install_handler(SIGINT, on_stop_signal, false);
  install_handler(SIGTERM, on_stop_signal, false);
}

// The counters, one per line under `title` ("overflowd: summary" at the end, "overflowd: counters"
// on SIGUSR1, closed by "overflowd: end of counters" since the process goes on), written to
// stderr in one piece.
std::vector<core::NamedCount> summary_counts(const PipelineResult& r, std::span<sink::Sink* const> sinks) {
  std::vector<core::NamedCount> counts;
  r.total.append_to(counts);
  for (const sink::Sink* s : sinks) s->append_counters(counts);
  if (r.workers.size() > 1) {
    for (std::size_t i = 0; i < r.workers.size(); ++i) {
      counts.push_back({fmt::format("worker.{}.datagrams", i), r.workers[i].source.datagrams});
      counts.push_back({fmt::format("worker.{}.flows", i), r.workers[i].flows});
    }
  }
  return counts;
}

void print_counters(const char* title, const PipelineResult& r, std::span<sink::Sink* const> sinks,
                    const char* end = nullptr) {
  const std::vector<core::NamedCount> counts = summary_counts(r, sinks);
  log::Counts out;
  out.reserve(counts.size());
  for (const auto& c : counts) out.emplace_back(c.name, c.value);
  log::counters("overflowd", title, out, end ? std::string_view(end) : std::string_view{});
}

}  // namespace

void print_error(const std::string& message) { log::error("overflowd", message); }
void print_warning(const std::string& message) { log::warning("overflowd", message); }

namespace {
// The sender's own addresses, whose flows are never reported (reports never trigger reports):
// those configured (--own-address), and, when it delivers, its source addresses and its interfaces'
// addresses at start. Loopback addresses are left out of what is found: they are not where reports
// come from, and allow-listed loopback is how delivery is tested (configure them to include them).
std::vector<core::IpAddress> own_addresses(const RunConfig& config) {
  std::vector<core::IpAddress> own = config.sampler.own_addresses;
  const auto& d = config.delivery;
  if (!d.any()) return own;
  for (const auto& a : {d.udp_sender.source_v4, d.udp_sender.source_v6})
    if (a) own.push_back(*a);
  auto found = io::local_addresses();
  if (!found) {
    print_warning(found.error() + ": only the configured own addresses are skipped");
    return own;
  }
  const auto v6_loopback = core::IpAddress::parse("::1");
  for (const auto& a : *found) {
    const bool loopback = a.is_v4() ? a.bytes()[0] == 127 : a == v6_loopback;
    if (!loopback) own.push_back(a);
  }
  return own;
}
}  // namespace

namespace {
// The sections of a --config file as read now, to tell which changed at a reload.
std::expected<toml::table, std::string> config_sections(const std::string& path) {
  constexpr std::size_t kMaxConfigBytes = 1u << 20;
  const auto text = io::read_text_file(path, kMaxConfigBytes);
  if (!text) return std::unexpected(text.error());
  return parse_toml(*text, path);
}
}  // namespace

namespace {
// What a reload applies while running (docs/operations.md, "Reload"): the contact, the Guard's
// budgets and lists, which endpoints get reports, and the output file when reports go to one.
bool live_key(const FileKey& k, bool file_output, bool delivering) {
  if (k.section == "contact") return k.key == "email" || k.key == "identity";
  if (k.section == "output") return k.key == "file" && file_output;
  if (k.section == "delivery" && delivering)
    for (const char* key : {"budget", "budget_burst", "per_destination_budget", "per_destination_burst", "suspicious_share",
                            "allow", "deny", "opt_out_file", "to"})
      if (k.key == key) return true;
  return false;
}

std::string budget_text(const std::optional<guard::Budget>& b) {
  return b ? fmt::format("{}/s burst {}", b->per_second, b->burst) : std::string("off");
}
}  // namespace

namespace {

// A sealed report over UDP is one binary datagram of at most 1,200 bytes (never fragmented): the
// contact must leave room for the widest report (IPv6, every field at its widest, its recipient;
// a rotation that does not fit is left out there, the policy's reasons are not bounded). Checked at
// start and at a reload, not found out report by report as udp.too_large (docs/manual.md, "Encryption").
std::expected<void, std::string> contact_fits_datagram(const RunConfig& config, const report::Contact& contact) {
  if (!config.delivery.udp || config.delivery.encryption.mode == sink::Encrypt::off) return {};
  report::ReportConfig with{contact};
  const std::size_t worst =
      report::sealed_datagram_bytes(report::worst_case_message_bytes(with, report::kMaxAddressText, false));
  if (worst <= sink::kMaxUdpPayload) return {};
  const std::size_t fixed =
      report::sealed_datagram_bytes(report::worst_case_message_bytes({}, report::kMaxAddressText, false));
  const std::size_t room = sink::kMaxUdpPayload - std::min(fixed, sink::kMaxUdpPayload);
  // `"contact":{"email":"","identity":""},` around the two texts.
  constexpr std::size_t kContactOverhead = std::string_view(R"("contact":{"email":"","identity":""},)").size();
  return std::unexpected(fmt::format(
      "--email/--identity ([contact] email, identity): with --deliver udp and --encrypt, a sealed report can "
      "reach {} bytes, over the {}-byte UDP datagram; the contact takes {} bytes of the report and may take at "
      "most {}: shorten the two texts to at most {} bytes together (as JSON-escaped), or deliver over HTTP(S) only",
      worst, sink::kMaxUdpPayload, worst - fixed, room, room > kContactOverhead ? room - kContactOverhead : 0));
}

}  // namespace

int cmd_run(const RunConfig& given, const std::string& config_file, ConfigLoader reload) {
  if (auto v = validate(given); !v) {
    print_error(v.error());
    return kExitUsage;
  }
  RunConfig config = given;
  if (auto o = load_opt_out(config); !o) {
    print_error(o.error());
    return kExitUsage;
  }
  std::unique_ptr<PolicyHolder> policy;
  if (!config.policy_file.empty()) {
    policy = std::make_unique<PolicyHolder>(config.policy_file);
    if (auto l = policy->load(); !l) {
      print_error(l.error());
      return kExitUsage;
    }
    config.delivery.guard.suspicious_share = config.suspicious_share;
  }
  // SIGUSR1's default action ends the process: take it over before anything can be sent to it.
  install_handler(SIGUSR1, on_counters_signal, true);
  std::vector<std::unique_ptr<source::Source>> owned;
  if (!config.pcap_file.empty()) {
    auto s = source::PcapSource::open(config.pcap_file);
    if (!s) {
      print_error(s.error());
      return kExitUsage;
    }
    owned.push_back(std::move(*s));
  } else if (!config.kafka.brokers.empty()) {
    install_stop_handlers();
    source::KafkaSourceConfig kc = config.kafka;
    // Assignments are told as they come; consumer errors (a broker away: every few seconds) at
    // most 10 a minute, all of them counted (source.rejected.kafka_error).
    auto limiter = std::make_shared<core::LogLimiter>(10);
    kc.on_event = [limiter](const std::string& line) {
      if (line.starts_with("kafka: assigned") || line.starts_with("kafka: revoked")) return log::info("overflowd", line);
      const auto d = limiter->admit(core::system_clock().monotonic_ns());
      if (d.suppressed_before) log::warning("overflowd", fmt::format("kafka: {} more errors not logged", d.suppressed_before));
      if (d.log) log::warning("overflowd", line);
    };
    auto s = source::KafkaSource::open(kc, &g_stop);
    if (!s) {
      print_error(s.error());
      return kExitUsage;
    }
    if (!config.quiet)
      log::info("overflowd", fmt::format("consuming goflow2 {} flow messages from Kafka {} topic {} group {}",
                                         kc.format == core::Protocol::goflow_json ? "JSON" : "protobuf", kc.brokers,
                                         kc.topic, kc.group));
    owned.push_back(std::move(*s));
  } else {
    install_stop_handlers();
    const unsigned workers = config.workers ? config.workers : available_cores();
    std::vector<std::unique_ptr<source::UdpSource>> group;
    if (config.af_packet) {
      auto g = source::AfPacketSource::open_group(config.udp, config.udp_interface, workers, &g_stop);
      if (!g) {
        print_error(g.error());
        return kExitUsage;
      }
      if (!config.quiet) {
        const auto& first = *g->front();
        log::info("overflowd", fmt::format("listening for flow exports on UDP [{}]:{}", config.udp.bind, first.port()));
        log::info("overflowd", fmt::format("{} worker{} (af_packet: TPACKET_V3 ring of {} bytes each on {}, fanout by flow hash{})",
                                           workers, workers == 1 ? "" : "s", first.ring_bytes(),
                                           first.interface_name().empty() ? std::string("every interface") : first.interface_name(),
                                           first.ignores_outgoing() ? "" : "; this kernel cannot skip outgoing packets in a fanout, "
                                                                           "so IPv4 fragments sent by this host are not reassembled"));
      }
      for (auto& s : *g) owned.push_back(std::move(s));
    } else if (workers == 1) {  // no SO_REUSEPORT: nobody else can join the port
      auto s = source::UdpSource::open(config.udp, &g_stop);
      if (!s) {
        print_error(s.error());
        return kExitUsage;
      }
      group.push_back(std::move(*s));
    } else {
      auto g = source::UdpSource::open_group(config.udp, workers, &g_stop);
      if (!g) {
        print_error(g.error());
        return kExitUsage;
      }
      group = std::move(*g);
    }
    if (!config.quiet && !group.empty()) {
      const auto& rb = group.front()->receive_buffer();
      const char* how = rb.forced ? ", SO_RCVBUFFORCE"
                        : rb.granted < 2 * static_cast<std::int64_t>(rb.asked) ? ", capped by net.core.rmem_max"
                                                                                : "";
      // The first line as it always was (scripts read the port from its end), then the details.
      log::info("overflowd", fmt::format("listening for flow exports on UDP [{}]:{}", config.udp.bind, group.front()->port()));
      log::info("overflowd", fmt::format("{} worker{}{}; receive buffer per socket: asked {} bytes, kernel granted {}{}",
                 workers, workers == 1 ? "" : "s", workers == 1 ? "" : " (SO_REUSEPORT)", rb.asked, rb.granted, how));
    }
    for (auto& s : group) owned.push_back(std::move(s));
  }
  const bool live = owned.front()->live();

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
      log::info("overflowd", fmt::format("created key {} (public key {})", config.key_path, report::public_key_hex(loaded->keys)));
    keys = loaded->keys;
  }

  // metadata.rotation: my statement, checked now (both signatures, to this key) and carried for its period.
  report::ReportConfig report_config;
  report_config.contact = config.contact;
  std::string rotation_statement;  // over UDP, sent on its own where a report cannot carry it
  if (!config.rotation_file.empty()) {
    auto text = io::read_text_file(config.rotation_file, 64 * 1024);
    if (!text) {
      print_error("--rotation " + config.rotation_file + ": " + text.error());
      return kExitUsage;
    }
    auto rotation = report::verify_rotation(report::as_bytes(*text));
    auto member = report::rotation_member(report::as_bytes(*text));
    if (!rotation || !member) {
      print_error("--rotation " + config.rotation_file + ": " +
                  report::to_string(!rotation ? rotation.error() : member.error()));
      return kExitUsage;
    }
    if (rotation->new_key != keys.public_key) {
      print_error("--rotation " + config.rotation_file + ": the statement rotates to another key than --key");
      return kExitUsage;
    }
    report_config.rotation = std::move(*member);
    rotation_statement = *text;
    while (!rotation_statement.empty() && (rotation_statement.back() == '\n' || rotation_statement.back() == '\r' ||
                                           rotation_statement.back() == ' '))
      rotation_statement.pop_back();
    report_config.rotation_until_ns = (rotation->time + config.rotation_period_s) * 1'000'000'000;
  }

  if (auto fits = contact_fits_datagram(config, report_config.contact); !fits) {
    print_error(fits.error());
    return kExitUsage;
  }

  std::unique_ptr<sink::StreamSink> out;
  if (config.output_file.empty()) {
    out = sink::StreamSink::standard_output(live);
  } else {
    auto f = sink::StreamSink::file(config.output_file, live);
    if (!f) {
      print_error(f.error());
      return kExitUsage;
    }
    out = std::move(*f);
  }
  // Delivery (opt-in) comes after the stdout/file sink, so its line is written first, always.
  // Metrics (opt-in): the delivery latency is measured only when something will read it.
  core::metrics::Histogram delivery_seconds[2] = {core::metrics::Histogram(core::metrics::latency_bounds()),
                                                  core::metrics::Histogram(core::metrics::latency_bounds())};
  sink::DeliveryConfig delivery_config = config.delivery;
  if (!config.metrics_listen.empty())
    delivery_config.http_sender.on_done = [&delivery_seconds](int scheme, double s) { delivery_seconds[scheme ? 1 : 0].observe(s); };
  std::unique_ptr<sink::DeliverySink> delivery;
  if (config.delivery.any()) {
    sink::DeliveryConfig dc = delivery_config;
    dc.encryption.signing = keys;  // sealed reports are signed again, with their recipient
    if (config.delivery.udp && !rotation_statement.empty()) dc.rotation = {rotation_statement, keys};
    auto d = sink::DeliverySink::open(dc);
    if (!d) {
      print_error(d.error());
      return kExitUsage;
    }
    delivery = std::move(*d);
  }
  if (config.key_path.empty())
    print_warning("no --key given: signing with an ephemeral key " + report::public_key_hex(keys) +
                  " that ends with this run; give --key PATH to keep one");
  std::unique_ptr<sink::KafkaSink> kafka_reports;  // --deliver kafka: no Guard (the operator's own pipeline)
  if (config.deliver_kafka) {
    auto k = sink::KafkaSink::open(config.kafka_reports);
    if (!k) {
      print_error(k.error());
      return kExitUsage;
    }
    kafka_reports = std::move(*k);
  }
  std::vector<sink::Sink*> sinks = {out.get()};
  if (delivery) sinks.push_back(delivery.get());
  if (kafka_reports) sinks.push_back(kafka_reports.get());

  // GET /metrics: the summary's counters as they are now (the workers are asked for them), the
  // template caches, the delivery latency.
  PipelineSnapshot snapshot;
  std::unique_ptr<MetricsServer> metrics;
  if (!config.metrics_listen.empty()) {
    const std::string key = report::public_key_hex(keys);
    auto render = [&snapshot, &sinks, &delivery_seconds, &config, key, delivery = delivery.get()](const api::HttpServer& server) {
      using core::metrics::Type;
      const PipelineResult r = snapshot.fresh(std::chrono::seconds(2));
      core::metrics::Exposition e;
      add_info(e, "send", key);
      add_sender_counts(e, summary_counts(r, sinks));
      const char* held = "v9/IPFIX template cache contents over all workers, and the caps.";
      e.add("overflowd_template_cache_domains", Type::gauge, held, {}, static_cast<double>(r.total.template_domains));
      e.add("overflowd_template_cache_templates", Type::gauge, held, {}, static_cast<double>(r.total.templates));
      e.add("overflowd_template_cache_max_domains", Type::gauge, held, {}, static_cast<double>(config.templates.max_domains));
      e.add("overflowd_template_cache_max_templates", Type::gauge, held, {}, static_cast<double>(config.templates.max_templates));
      if (delivery && (config.delivery.http || config.delivery.https))
        e.add("overflowd_queue_depth", Type::gauge, "Items waiting in a bounded queue.", {{"queue", "http_delivery"}},
              static_cast<double>(delivery->queue_depth()));
      if (delivery && config.delivery.http)
        e.add_histogram("overflowd_delivery_duration_seconds", "HTTP(S) delivery: time of one POST, any outcome.",
                        {{"transport", "http"}}, delivery_seconds[0].snapshot());
      if (delivery && config.delivery.https)
        e.add_histogram("overflowd_delivery_duration_seconds", "HTTP(S) delivery: time of one POST, any outcome.",
                        {{"transport", "https"}}, delivery_seconds[1].snapshot());
      add_http_server_counts(e, "metrics", server.counters());
      return e.text();
    };
    auto m = MetricsServer::start(config.metrics_listen, std::move(render));
    if (!m) {
      print_error(m.error());
      return kExitUsage;
    }
    metrics = std::move(*m);
    if (!config.quiet) log::info("overflowd", "metrics: http://" + metrics->where() + "/metrics");
  }

  // Every socket is bound and every file open: root is no longer needed.
  if (auto dropped = drop_privileges(config.user, "overflowd"); !dropped) {
    print_error(dropped.error());
    return kExitUsage;
  }

  install_handler(SIGHUP, on_reopen_signal, true);
  std::vector<source::Source*> sources;
  for (auto& s : owned) sources.push_back(s.get());
  PipelineSettings settings;
  settings.templates = config.templates;
  settings.sampler = config.sampler;
  settings.sampler.set_own_addresses(own_addresses(config));
  if (config.delivery.http) settings.sampler.http_port = config.delivery.http_sender.http_port;
  if (config.delivery.https) settings.sampler.https_port = config.delivery.http_sender.https_port;
  settings.report = report_config;
  settings.keys = keys;
  settings.sinks = sinks;
  if (!live) settings.sign_threads = config.workers ? config.workers : available_cores();  // a file
  settings.sealer = delivery.get();  // --encrypt: sealing on the signing threads too
  std::optional<core::ManualClock> fixed_time;
  if (config.report_time_ns) settings.clock = &fixed_time.emplace(*config.report_time_ns, 0);
  settings.reopen = &g_reopen;
  settings.counters_request = &g_counters;
  settings.policy = policy.get();
  settings.on_policy_error = [](const std::string& e) { print_warning("policy refresh failed: " + e); };
  settings.on_counters = [&sinks](const PipelineResult& r) { print_counters("counters", r, sinks, "end of counters");
  };
  if (metrics) {
    settings.snapshot_request = &snapshot.request;
    settings.on_snapshot = [&snapshot](const PipelineResult& r) { snapshot.publish(r); };
  }
  // SIGHUP: reopen the output (the workers) and re-read the --config file (here, on the thread
  // that runs the pipeline): the contact changes live, the rest is said.
  core::Live<report::ReportConfig> live_report(settings.report);
  settings.live = &live_report;
  settings.reload_request = &g_reload;
  std::optional<toml::table> sections;
  if (!config_file.empty())
    if (auto t = config_sections(config_file)) sections = std::move(*t);
  report::Contact contact = config.contact;
  settings.on_reload = [&] {
    systemd::reloading();
    const auto done = [](std::string_view status) { systemd::reloaded(status); };
    if (policy) {  // the suspicion policy is re-read whole; a bad file keeps the running one
      if (auto r = policy->reload(); r) log::info("overflowd", "reload: policy " + config.policy_file + " re-read");
      else log::warning("overflowd", "reload: policy: " + r.error() + "; keeping the running policy");
    }
    if (!reload) {
      log::info("overflowd", "SIGHUP: output reopened; no --config file to re-read");
      return done("running");
    }
    auto fresh = reload();
    if (fresh) {
      if (auto v = validate(*fresh); !v) fresh = std::unexpected(v.error());
    }
    if (fresh) {  // the opt-out list is read again at every reload, changed or not
      if (auto o = load_opt_out(*fresh); !o) fresh = std::unexpected(o.error());
    }
    auto now = config_sections(config_file);
    if (!fresh || !now) {
      log::warning("overflowd", "reload: " + (!fresh ? fresh.error() : now.error()) + "; keeping the running configuration");
      return done("running; the last reload failed (see the log)");
    }
    // One line per key that changed in the file: applied, or said to need a restart.
    const bool file_output = out->is_file();
    const auto changed = changed_keys(sections ? &*sections : nullptr, *now);
    bool output_failed = false;
    for (const auto& key : changed) {
      if (!live_key(key, file_output && !fresh->output_file.empty(), delivery != nullptr)) {
        log::warning("overflowd", "reload: [" + key.section + "] " + key.key +
                                      " changed but cannot change while running; restart to apply");
        continue;
      }
      if (key.section == "output" && fresh->output_file != config.output_file) {
        if (auto r = out->retarget(fresh->output_file); !r) {
          output_failed = true;
          log::warning("overflowd", "reload: [output] file: " + r.error() + "; still writing to " + config.output_file);
          continue;
        }
        config.output_file = fresh->output_file;
      }
      log::info("overflowd", "reload: [" + key.section + "] " + key.key + " applied");
    }
    if (auto fits = contact_fits_datagram(config, fresh->contact);
        !fits && (fresh->contact.email != contact.email || fresh->contact.identity != contact.identity)) {
      log::warning("overflowd", "reload: " + fits.error() + "; keeping the running contact");
    } else if (fresh->contact.email != contact.email || fresh->contact.identity != contact.identity) {
      contact = fresh->contact;
      report::ReportConfig next = *live_report.current();
      next.contact = contact;  // the rotation stays as it was
      live_report.publish(std::move(next));
      log::info("overflowd", fmt::format("reload: contact is now email '{}' identity '{}'", contact.email, contact.identity));
    }
    if (delivery) {  // budgets, lists, endpoints: published whole, taken at the next report
      sink::DeliveryLive next{fresh->delivery.to, fresh->delivery.guard};
      next.guard.suspicious_share = policy ? fresh->suspicious_share : 0;
      next.guard.report_port = config.delivery.guard.report_port;  // fixed: the transports use it
      delivery->update(std::move(next));
      log::info("overflowd", fmt::format("reload: delivery: budget {}, per destination {}, {} allowed, {} denied, {} opted-out blocks",
                                         budget_text(fresh->delivery.guard.global), budget_text(fresh->delivery.guard.per_destination),
                                         fresh->delivery.guard.allow.size(), fresh->delivery.guard.deny.size(),
                                         fresh->delivery.guard.opt_out.size()));
    }
    sections = std::move(*now);
    log::info("overflowd", "reload: done");
    done(output_failed ? "running; configuration reloaded but the output file was kept (see the log)"
                       : "running; configuration reloaded");
  };
  systemd::ready(live ? "reading flow exports" : "reading a capture file");
  const PipelineResult result = run_pipeline(sources, settings);
  systemd::stopping();
  snapshot.finish(result);  // scrapes from now on are answered at once, with the final counters
  out->flush();
  if (delivery) delivery->flush();  // bounded: pending HTTP(S) sends get at most the total timeout
  for (const auto& s : owned)
    if (!s->warning().empty()) print_warning(s->warning());
  if (!out->reopen_error().empty()) print_warning("reopening the output file failed: " + out->reopen_error());
  if (!result.error.empty()) {
    print_error(result.error);
    return kExitFailure;
  }
  if (!config.quiet) print_counters("summary", result, sinks);
  if (out->failed()) {
    print_error("writing reports failed");
    return kExitFailure;
  }
  return kExitOk;
}

int cmd_policy_example() {
  fmt::print("{}", example_policy());
  return kExitOk;
}

int cmd_policy_check(const std::string& path) {
  auto p = load_policy(path);
  if (!p) {
    print_error(p.error());
    return kExitUsage;
  }
  fmt::print("{}: ok\n{}", path, (*p)->describe());
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

int cmd_keygen_x25519(const std::string& path) {
  auto keys = io::create_x25519(path);
  if (!keys) {
    print_error(keys.error());
    return kExitUsage;
  }
  fmt::print("{}\n", core::to_hex(keys->public_key));
  return kExitOk;
}

int cmd_pubkey_x25519(const std::string& path) {
  auto keys = io::load_x25519(path);
  if (!keys) {
    print_error(keys.error());
    return kExitUsage;
  }
  fmt::print("{} kid {}\n", core::to_hex(keys->public_key), report::kid_hex(keys->public_key));
  return kExitOk;
}

int cmd_rotate_key(const std::string& old_path, const std::string& new_path, const std::string& out) {
  auto old_keys = load_key(old_path);
  if (!old_keys) {
    print_error(old_keys.error());
    return kExitUsage;
  }
  auto new_keys = io::load_or_create_key(new_path);
  if (!new_keys) {
    print_error(new_keys.error());
    return kExitUsage;
  }
  if (new_keys->keys.public_key == old_keys->public_key) {
    print_error("--old and --new are the same key");
    return kExitUsage;
  }
  const std::string statement =
      report::build_rotation(*old_keys, new_keys->keys, core::system_clock().wall_ns() / 1'000'000'000) + "\n";
  if (out.empty()) {
    fmt::print("{}", statement);
    return kExitOk;
  }
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  if (!(f << statement) || !f.flush()) {
    print_error(out + ": cannot write");
    return kExitFailure;
  }
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
  log::info("overflowd synth", fmt::format("wrote {}: {} datagrams, {} flows, {} packets; expected reports at rate 1e-5: {:.2f}",
             config.out, summary->datagrams, summary->flows, summary->packets, summary->expected_reports_at_default_rate));
  return kExitOk;
}

namespace {

std::expected<double, std::string> parse_positive_number(std::string_view what, const std::string& text, double max) {
  const auto v = core::parse_real(text, 0, max);
  if (!v || *v <= 0) return std::unexpected(fmt::format("{}: '{}' is not a positive number up to {}", what, text, max));
  return *v;
}

std::expected<std::uint64_t, std::string> parse_whole(std::string_view what, const std::string& text, std::uint64_t max) {
  const auto v = core::parse_whole<std::uint64_t>(text, 1, max);
  if (!v) return std::unexpected(fmt::format("{}: '{}' is not a whole number from 1 to {}", what, text, max));
  return *v;
}

}  // namespace

int cmd_replay(const ReplayArgs& args) {
  // The destination first: a refused one is the only thing that happens.
  auto target = io::parse_target(args.to);
  if (!target) {
    print_error(target.error());
    return kExitUsage;
  }
  if (auto ok = io::check_target(*target, args.allow_non_loopback); !ok) {
    print_error(ok.error());
    return kExitUsage;
  }
  io::ReplayConfig config;
  config.to = *target;
  config.allow_non_loopback = args.allow_non_loopback;
  config.loop = args.loop;
  if (!args.rate.empty()) {
    auto r = parse_positive_number("--rate", args.rate, 1e9);
    if (!r) {
      print_error(r.error());
      return kExitUsage;
    }
    config.rate = *r;
  }
  if (!args.count.empty()) {
    auto c = parse_whole("--count", args.count, std::uint64_t{1} << 40);
    if (!c) {
      print_error(c.error());
      return kExitUsage;
    }
    config.count = *c;
  }
  if (!args.duration.empty()) {
    auto d = parse_positive_number("--duration", args.duration, 86400);
    if (!d) {
      print_error(d.error());
      return kExitUsage;
    }
    config.duration_s = *d;
  }
  if (!args.exporters.empty()) {
    auto e = parse_whole("--exporters", args.exporters, 64);
    if (!e) {
      print_error(e.error());
      return kExitUsage;
    }
    config.exporters = static_cast<unsigned>(*e);
  }
  if (config.loop && config.count == 0 && config.duration_s == 0) {
    print_error("replay: --loop needs --count or --duration (a replay is always bounded)");
    return kExitUsage;
  }
  auto capture = io::load_replay_capture(args.file, config.loop ? 0 : config.count);
  if (!capture) {
    print_error(capture.error());
    return kExitUsage;
  }
  if (capture->datagrams.empty()) {
    print_error("replay: " + args.file + " holds no UDP datagrams");
    return kExitUsage;
  }
  install_stop_handlers();
  auto sent = io::replay(*capture, config, &g_stop);
  if (!sent) {
    print_error(sent.error());
    return kExitFailure;
  }
  const double secs = sent->elapsed_s > 0 ? sent->elapsed_s : 1e-9;
  std::string out = fmt::format("overflowd replay: sent to {}\n", config.to.to_string());
  const auto line = [&out](std::string_view name, auto value) { out += fmt::format("  {:<24} {}\n", name, value); };
  line("datagrams", sent->datagrams);
  line("flows", sent->flows);
  line("bytes", sent->bytes);
  line("send_errors", sent->send_errors);
  line("elapsed_s", fmt::format("{:.6f}", sent->elapsed_s));
  line("datagrams_per_s", fmt::format("{:.0f}", static_cast<double>(sent->datagrams) / secs));
  line("flows_per_s", fmt::format("{:.0f}", static_cast<double>(sent->flows) / secs));
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace overflowd::app

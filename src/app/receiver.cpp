#include "app/receiver.hpp"

#include <fmt/core.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>

#include "decode/dispatch.hpp"
#include "io/key_file.hpp"
#include "api/http_api.hpp"
#include "store/queries.hpp"
#include "receive/spoof_window.hpp"
#include "store/store.hpp"
#include "receive/verifier.hpp"
#include "store/writer.hpp"
#include "source/pcap_source.hpp"
#include "source/udp_source.hpp"

namespace overflowd::app {

using namespace receive;
using namespace store;
using namespace api;

namespace {

std::atomic<bool> g_stop{false};  // set by SIGINT/SIGTERM
extern "C" void on_receive_stop(int) { g_stop.store(true, std::memory_order_relaxed); }

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_receive_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a peer that hangs up must not end the receiver
}

std::int64_t wall_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void error(const std::string& m) { fmt::print(stderr, "overflowd: error: {}\n", m); }
void warning(const std::string& m) { fmt::print(stderr, "overflowd receive: warning: {}\n", m); }

bool in_any(const std::vector<Cidr>& ps, const core::IpAddress& a) {
  return std::any_of(ps.begin(), ps.end(), [&](const Cidr& p) { return p.contains(a); });
}

// Feeds the window with my own flows whose source is in my prefixes.
struct OwnExports {
  SpoofWindow& window;
  const std::vector<Cidr>& mine;
  decode::Dispatcher dispatcher;
  std::vector<core::FlowRecord> flows;
  std::atomic<std::uint64_t> datagrams{0}, flows_seen{0}, flows_mine{0};

  void take(const core::Datagram& d) {
    flows.clear();
    ++datagrams;
    if (!dispatcher.decode(d, flows)) return;
    for (const auto& f : flows) {
      ++flows_seen;
      const core::IpAddress src = f.src.unmapped();
      if (!in_any(mine, src)) continue;
      ++flows_mine;
      window.add(FlowTuple{src, f.dst.unmapped(), f.sport, f.dport, f.protocol}, f.etime_ms);
    }
  }
};

}  // namespace

int run_receive(const ReceiveConfig& config) {
  auto checked = check(config);
  if (!checked) {
    error(checked.error());
    return 2;
  }
  install_signals();
  g_stop.store(false);
  keep_freed_heap();

  // The receiver's own key, published for discovery (and for the encryption mode to come).
  report::KeyPair keys;
  if (config.key_path.empty()) {
    keys = report::generate_keypair();
  } else {
    auto loaded = io::load_or_create_key(config.key_path);
    if (!loaded) {
      error(loaded.error());
      return 2;
    }
    keys = loaded->keys;
  }

  StoreConfig sc;
  sc.path = config.db;
  sc.retention_s = static_cast<std::int64_t>(std::llround(config.retention_days * 86'400));
  sc.max_reports = config.max_reports;
  sc.max_invalid = config.max_invalid;
  sc.max_alerts = config.max_alerts;
  sc.max_keys = config.max_keys;
  auto store = Store::open(sc);
  if (!store) {
    error(store.error());
    return 2;
  }
  auto queries = Queries::open(config.db);
  if (!queries) {
    error(queries.error());
    return 2;
  }

  SpoofWindowConfig wc;
  wc.bucket_ms = std::max<std::int64_t>(config.own_window_s * 1000 / 60, 1000);
  wc.buckets = std::max<std::int64_t>(config.own_window_s * 1000 / wc.bucket_ms, 1);
  wc.max_flows = static_cast<std::size_t>(config.own_window_max_flows);
  wc.tolerance_ms = config.spoof_tolerance_s * 1000;
  SpoofWindow window(wc);
  const bool own_exports = config.own_exports_port != kOff || !config.own_exports_file.empty();
  OwnExports own{window, checked->my_prefixes, {}, {}, {}, {}, {}};

  // My own exports from a file are read before any report is taken, so that the first reports are
  // judged against them.
  if (!config.own_exports_file.empty()) {
    auto src = source::PcapSource::open(config.own_exports_file);
    if (!src) {
      error("--own-exports-file: " + src.error());
      return 2;
    }
    core::Datagram d;
    while ((*src)->next(d)) own.take(d);
    if (!(*src)->warning().empty()) warning((*src)->warning());
  }

  const std::vector<Cidr>& mine = checked->my_prefixes;
  SpoofClassifier classify = [&](const ReportFields& f) {
    if (!in_any(mine, f.saddr)) return SpoofStatus::not_mine;
    if (!own_exports) return SpoofStatus::unknown;
    const FlowTuple t{f.saddr, f.daddr, static_cast<std::uint16_t>(f.sport), static_cast<std::uint16_t>(f.dport),
                      static_cast<std::uint8_t>(f.protocol)};
    switch (window.check(t, f.stime, f.etime)) {
      case WindowVerdict::seen:
        return SpoofStatus::seen;
      case WindowVerdict::not_seen:
        return SpoofStatus::suspect;
      case WindowVerdict::not_covered:
        break;
    }
    return SpoofStatus::unknown;
  };
  WriterConfig wcfg;
  wcfg.batch_size = static_cast<std::size_t>(config.batch_size);
  wcfg.batch_ms = config.batch_ms;
  wcfg.queue_capacity = static_cast<std::size_t>(config.queue);
  wcfg.queue_bytes = static_cast<std::size_t>(config.queue_mib) << 20;
  Writer writer(**store, wcfg, classify);
  writer.start();

  const SkewPolicy skew{static_cast<double>(config.skew_future_s), static_cast<double>(config.skew_past_s)};
  // UDP and capture reports are verified on a pool of threads and reach the writer in the order
  // they came. While a capture file is read the pool waits for room in the writer's queue (a file
  // can wait); otherwise what does not fit is dropped and counted, as the writer would.
  const bool file_input = !config.capture_file.empty();
  VerifierConfig vcfg;
  vcfg.threads = static_cast<std::size_t>(config.verify_threads);
  // A replayed report (same key, message and signature as one already checked) is not checked
  // again, on any input: a replay flood costs a hash per report, not an Ed25519 check.
  VerifiedCache verified_cache;
  Verifier verifier(
      vcfg, skew,
      [&](std::vector<Item>& items) {
        if (file_input) writer.put_all(items);
        else writer.offer_all(items);
      },
      &verified_cache);
  verifier.start();
  auto submit = [&](const Arrival& arrival, std::string_view raw, bool wait) {
    if (wait) verifier.put(arrival, raw);
    else if (!verifier.offer(arrival, raw)) writer.count_dropped(1);
  };
  auto stop_pipeline = [&] {
    verifier.stop();
    writer.stop();
  };
  std::vector<std::thread> threads;
  std::vector<std::string> listening;
  std::atomic<std::uint64_t> udp_datagrams{0}, capture_datagrams{0};

  // UDP reports.
  std::unique_ptr<source::UdpSource> udp;
  if (config.udp_port != kOff) {
    source::UdpSourceConfig uc;
    uc.bind = config.bind;
    uc.port = static_cast<std::uint16_t>(config.udp_port);
    auto s = source::UdpSource::open(uc, &g_stop);
    if (!s) {
      error(s.error());
      stop_pipeline();
      return 2;
    }
    udp = std::move(*s);
    listening.push_back(fmt::format("udp [{}]:{}", config.bind, udp->port()));
    threads.emplace_back([&] {
      core::Datagram d;
      while (udp->next(d)) {
        ++udp_datagrams;
        const std::string_view raw(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
        submit(Arrival{Input::udp, d.exporter.to_string(), d.received_ns}, raw, false);
      }
      if (!udp->warning().empty()) warning(udp->warning());
    });
  }

  // My own exports over UDP.
  std::unique_ptr<source::UdpSource> own_udp;
  if (config.own_exports_port != kOff) {
    source::UdpSourceConfig uc;
    uc.bind = config.own_exports_bind;
    uc.port = static_cast<std::uint16_t>(config.own_exports_port);
    auto s = source::UdpSource::open(uc, &g_stop);
    if (!s) {
      error("--own-exports-port: " + s.error());
      g_stop = true;
      for (auto& t : threads) t.join();
      stop_pipeline();
      return 2;
    }
    own_udp = std::move(*s);
    listening.push_back(fmt::format("own-exports [{}]:{}", config.own_exports_bind, own_udp->port()));
    threads.emplace_back([&] {
      core::Datagram d;
      while (own_udp->next(d)) own.take(d);
    });
  }

  // The capture.
  std::unique_ptr<source::PcapSource> capture;
  std::atomic<bool> capture_done{false};
  if (!config.capture_file.empty() || !config.capture_interface.empty()) {
    source::PcapConfig cc;
    cc.file = config.capture_file;
    cc.interface = config.capture_interface;
    cc.filter = config.capture_filter;
    // The report port: the UDP port when one is set, else 65535.
    cc.port = static_cast<std::uint16_t>(config.udp_port == kOff || config.udp_port == 0 ? 65535 : config.udp_port);
    cc.stop = &g_stop;
    auto c = source::PcapSource::open(cc);
    if (!c) {
      error(c.error());
      g_stop = true;
      for (auto& t : threads) t.join();
      stop_pipeline();
      return 2;
    }
    capture = std::move(*c);
    listening.push_back(capture->live() ? "capture on " + config.capture_interface : "capture file " + config.capture_file);
    threads.emplace_back([&] {
      const bool live = capture->live();
      core::Datagram d;
      while (capture->next(d)) {
        ++capture_datagrams;
        const std::string_view raw(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
        submit(Arrival{Input::capture, d.exporter.unmapped().to_string(), wall_ns()}, raw, !live);
      }
      if (!capture->warning().empty()) warning(capture->warning());
      verifier.flush();
      writer.flush();
      capture_done = true;
    });
  }

  // HTTP and HTTPS.
  nlohmann::json discovery = {
      {"service", "overflowd"},
      {"keys", nlohmann::json::array({{{"key", report::public_key_hex(keys)}, {"algorithm", "ed25519"}}})},
      {"contact", {{"email", config.contact.email}, {"identity", config.contact.identity}}},
      {"accepts",
       {{"forms", {"full", "compact"}},
        {"http_path", "/.well-known/overflowd"},
        {"udp_port", config.udp_port == kOff ? nlohmann::json(nullptr) : nlohmann::json(udp ? udp->port() : 0)},
        {"max_report_bytes", report::kMaxReportBytes},
        {"max_body_bytes", kMaxBodyBytes}}},
  };
  ApiConfig api_config;
  api_config.tls_cert = config.tls_cert;
  api_config.tls_key = config.tls_key;
  api_config.http_threads = config.http_threads;
  api_config.max_connections = config.max_connections;
  api_config.http_timeout_s = config.http_timeout_s;
  api_config.api_allow = checked->api_allow;
  api_config.my_prefixes = checked->my_prefixes;
  HttpContext ctx{writer, **queries, api_config, skew, discovery, {}, {}, &verified_cache};
  ctx.recheck = [&](const FlowTuple& t, std::int64_t stime, std::int64_t etime, SpoofStatus stored) {
    if (!own_exports) return stored;
    switch (window.check(t, stime, etime)) {
      case WindowVerdict::seen:
        return SpoofStatus::seen;
      case WindowVerdict::not_seen:
        return SpoofStatus::suspect;
      case WindowVerdict::not_covered:
        break;
    }
    return stored;
  };
  ctx.runtime_stats = [&] {
    const WriterStats ws = writer.stats();
    const SpoofWindowStats w = window.stats();
    nlohmann::json inputs = {{"udp_datagrams", udp_datagrams.load()}, {"capture_datagrams", capture_datagrams.load()}};
    if (capture) {
      std::vector<core::NamedCount> counts;
      capture->counters().append_to(counts, "capture");
      for (const auto& c : counts) inputs[c.name] = c.value;
    }
    const VerifierStats vs = verifier.stats();
    return nlohmann::json{
        {"verifier",
         {{"threads", verifier.threads()}, {"verified", vs.verified}, {"dropped", vs.dropped}, {"queued", vs.queued},
          {"cached_signatures", verified_cache.hits()}}},
        {"writer",
         {{"batches", ws.batches}, {"stored", ws.stored}, {"duplicates", ws.duplicates}, {"rejected", ws.rejected},
          {"dropped", ws.dropped}, {"write_errors", ws.write_errors}, {"queued", ws.queued}}},
        {"inputs", inputs},
        {"own_exports",
         {{"configured", own_exports},
          {"datagrams", own.datagrams.load()},
          {"flows", own.flows_seen.load()},
          {"flows_mine", own.flows_mine.load()},
          {"window_flows", w.flows},
          {"window_evicted", w.evicted},
          {"window_too_old", w.too_old},
          {"covers_from", static_cast<double>(w.covers_from_ms) / 1000.0},
          {"covers_to", static_cast<double>(w.covers_to_ms) / 1000.0}}},
    };
  };
  std::vector<std::unique_ptr<httplib::Server>> servers;
  auto start_server = [&](bool tls, int port) -> bool {
    auto s = make_http_server(ctx, tls);
    if (!s) {
      error(s.error());
      return false;
    }
    auto bound = bind_http(**s, config.http_bind, port);
    if (!bound) {
      error(bound.error());
      return false;
    }
    listening.push_back(fmt::format("{} [{}]:{}", tls ? "https" : "http", config.http_bind, *bound));
    httplib::Server* raw = s->get();
    servers.push_back(std::move(*s));
    threads.emplace_back([raw] { serve_http(*raw); });
    // stop() acts only on a running server: wait until it runs, so that shutting down never races.
    for (int i = 0; i < 500 && !raw->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return true;
  };
  bool ok = true;
  if (config.http_port != kOff) ok = start_server(false, config.http_port);
  if (ok && !config.tls_cert.empty() && config.https_port != kOff) ok = start_server(true, config.https_port);

  if (ok && !config.quiet) {
    if (config.key_path.empty())
      warning("no --key given: publishing an ephemeral key " + report::public_key_hex(keys) + " that ends with this run");
    for (const auto& l : listening) fmt::print(stderr, "overflowd receive: listening: {}\n", l);
    fmt::print(stderr, "overflowd receive: key {} database {}\n", report::public_key_hex(keys), config.db);
  }

  // Only a capture file: done when it is read. Otherwise until a signal.
  const bool only_file = !config.capture_file.empty() && !udp && servers.empty() && !own_udp;
  while (ok && !g_stop.load()) {
    if (only_file && capture_done.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  g_stop = true;
  for (auto& s : servers) stop_http(*s);
  for (auto& t : threads) t.join();
  stop_pipeline();
  if (!config.quiet) {
    const WriterStats ws = writer.stats();
    fmt::print(stderr,
               "overflowd receive: summary\n  stored {}\n  duplicates {}\n  invalid {}\n  dropped {}\n  write_errors {}\n",
               ws.stored, ws.duplicates, ws.rejected, ws.dropped, ws.write_errors);
  }
  return ok ? 0 : 2;
}

}  // namespace overflowd::app

#include "core/report_port.hpp"
#include "app/receiver.hpp"

#include <fmt/core.h>
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>
#include <utility>

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
#include "core/clock.hpp"

namespace overflowd::app {

using namespace receive;
using namespace store;
using namespace api;

namespace {


void error(const std::string& m) { fmt::print(stderr, "overflowd: error: {}\n", m); }
void warning(const std::string& m) { fmt::print(stderr, "overflowd receive: warning: {}\n", m); }

bool in_any(const std::vector<Cidr>& ps, const core::IpAddress& a) {
  return std::any_of(ps.begin(), ps.end(), [&](const Cidr& p) { return p.contains(a); });
}

// Feeds the window with my own flows whose source is in my prefixes.
struct OwnExports {
  OwnExports(SpoofWindow& w, const std::vector<Cidr>& m) : window(w), mine(m) {}
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

// Everything a running receiver holds, in the order it is made: destroyed in reverse, so the
// threads (last) end before the sockets, the queues and the database they use.
struct Receiver::Parts {
  ReceiveConfig config;
  CheckedConfig checked;
  report::KeyPair keys;
  SkewPolicy skew;
  bool own_exports = false;  // my own exports configured: the spoofing view can judge

  // open()
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<SqliteQueries> queries;
  std::unique_ptr<SpoofWindow> window;
  std::unique_ptr<OwnExports> own;
  std::unique_ptr<Writer> writer;
  VerifiedCache verified_cache;  // replays are not checked again, on any input
  std::unique_ptr<Verifier> verifier;

  // bind()
  std::atomic<bool> stopping{false};  // the sources' stop flag, set by stop()
  std::unique_ptr<source::UdpSource> udp, own_udp;
  std::unique_ptr<source::PcapSource> capture;
  ApiConfig api_config;
  std::unique_ptr<HttpContext> http;
  struct Listener {
    std::unique_ptr<httplib::Server> server;
    bool tls = false;
  };
  std::vector<Listener> listeners;
  std::vector<std::string> listening;

  // start()
  std::atomic<std::uint64_t> udp_datagrams{0}, capture_datagrams{0};
  std::atomic<bool> capture_done{false};
  bool started = false, stopped = false;
  std::vector<std::jthread> threads;  // inputs and HTTP listeners; last, so joined first

  [[nodiscard]] SpoofStatus judge(const FlowTuple& t, std::int64_t stime, std::int64_t etime, SpoofStatus otherwise) const {
    if (!own_exports) return otherwise;
    switch (window->check(t, stime, etime)) {
      case WindowVerdict::seen:
        return SpoofStatus::seen;
      case WindowVerdict::not_seen:
        return SpoofStatus::suspect;
      case WindowVerdict::not_covered:
        break;
    }
    return otherwise;
  }

  // A report from UDP or a capture: verified on the pool. A capture file waits for room (a file
  // can wait); otherwise what does not fit is dropped and counted, as the writer would.
  void submit(const Arrival& arrival, std::string_view raw, bool wait) {
    if (wait) verifier->put(arrival, raw);
    else if (!verifier->offer(arrival, raw)) writer->count_dropped(1);
  }

  [[nodiscard]] nlohmann::json runtime_stats() const;
};

std::expected<std::unique_ptr<Receiver>, std::string> Receiver::open(const ReceiveConfig& config) {
  auto checked = check(config);
  if (!checked) return std::unexpected(checked.error());
  auto p = std::make_unique<Parts>();
  p->config = config;
  p->checked = std::move(*checked);
  p->skew = SkewPolicy{static_cast<double>(config.skew_future_s), static_cast<double>(config.skew_past_s)};

  // The receiver's own key, published for discovery (and for the encryption mode to come).
  if (config.key_path.empty()) {
    p->keys = report::generate_keypair();
  } else {
    auto loaded = io::load_or_create_key(config.key_path);
    if (!loaded) return std::unexpected(loaded.error());
    p->keys = loaded->keys;
  }

  StoreConfig sc;
  sc.path = config.db;
  sc.retention_s = static_cast<std::int64_t>(std::llround(config.retention_days * 86'400));
  sc.max_reports = config.max_reports;
  sc.max_invalid = config.max_invalid;
  sc.invalid_per_s = config.invalid_per_s;
  sc.max_db_mib = config.max_db_mib;
  sc.max_alerts = config.max_alerts;
  sc.max_keys = config.max_keys;
  sc.my_prefixes = p->checked.my_prefixes;
  auto store = SqliteStore::open(sc);
  if (!store) return std::unexpected(store.error());
  p->store = std::move(*store);
  auto queries = SqliteQueries::open(config.db);
  if (!queries) return std::unexpected(queries.error());
  p->queries = std::move(*queries);

  SpoofWindowConfig wc;
  wc.bucket_ms = std::max<std::int64_t>(config.own_window_s * 1000 / 60, 1000);
  wc.buckets = std::max<std::int64_t>(config.own_window_s * 1000 / wc.bucket_ms, 1);
  wc.max_flows = static_cast<std::size_t>(config.own_window_max_flows);
  wc.tolerance_ms = config.spoof_tolerance_s * 1000;
  p->window = std::make_unique<SpoofWindow>(wc);
  p->own_exports = config.own_exports_port != kOff || !config.own_exports_file.empty();
  p->own = std::make_unique<OwnExports>(*p->window, p->checked.my_prefixes);
  // The flows my exporters saw before a restart are still mine: the window is persisted in the
  // store (the writer's tick saves what was added) and refilled here, oldest first.
  if (p->own_exports) {
    auto loaded = p->store->load_own_flows([w = p->window.get()](const OwnFlow& f) { w->restore(f); });
    if (!loaded) return std::unexpected("cannot read my own exports' flows: " + loaded.error());
  }

  // My own exports from a file are read before any report is taken, so that the first reports are
  // judged against them.
  if (!config.own_exports_file.empty()) {
    auto src = source::PcapSource::open(config.own_exports_file);
    if (!src) return std::unexpected("--own-exports-file: " + src.error());
    core::Datagram d;
    while ((*src)->next(d)) p->own->take(d);
    if (!(*src)->warning().empty()) warning((*src)->warning());
  }

  Parts* parts = p.get();
  const std::vector<Cidr>& mine = p->checked.my_prefixes;
  SpoofClassifier classify = [parts, &mine](const ReportFields& f) {
    if (!in_any(mine, f.saddr)) return SpoofStatus::not_mine;
    const FlowTuple t{f.saddr, f.daddr, static_cast<std::uint16_t>(f.sport), static_cast<std::uint16_t>(f.dport),
                      static_cast<std::uint8_t>(f.protocol)};
    return parts->judge(t, f.stime, f.etime, SpoofStatus::unknown);
  };
  WriterConfig wcfg;
  wcfg.batch_size = static_cast<std::size_t>(config.batch_size);
  wcfg.batch_ms = config.batch_ms;
  wcfg.queue_capacity = static_cast<std::size_t>(config.queue);
  wcfg.queue_bytes = static_cast<std::size_t>(config.queue_mib) << 20;
  if (p->own_exports) {
    const std::int64_t window_ms = config.own_window_s * 1000;
    wcfg.tick = [parts, classify, window_ms, max_flows = config.own_window_max_flows] {
      const std::vector<OwnFlow> flows = parts->window->take_unsaved();
      if (flows.empty()) return;
      auto saved = parts->store->save_own_flows(flows, window_ms, max_flows);
      if (!saved) return warning("cannot persist my own exports' flows: " + saved.error());
      // Reports judged before my exports caught up: the verdicts they now clear.
      const std::int64_t since = core::system_clock().wall_ns() - 2 * window_ms * 1'000'000;
      if (auto r = parts->store->rejudge_suspects(classify, since, 10'000); !r)
        warning("cannot judge stored suspects again: " + r.error());
    };
  }
  p->writer = std::make_unique<Writer>(*p->store, wcfg, classify);

  // UDP and capture reports are verified on a pool of threads and reach the writer in the order
  // they came.
  VerifierConfig vcfg;
  vcfg.threads = static_cast<std::size_t>(config.verify_threads);
  const bool file_input = !config.capture_file.empty();
  p->verifier = std::make_unique<Verifier>(
      vcfg, p->skew,
      [parts, file_input](std::vector<Item>& items) {
        if (file_input) parts->writer->put_all(items);
        else parts->writer->offer_all(items);
      },
      &p->verified_cache);
  return std::unique_ptr<Receiver>(new Receiver(std::move(p)));
}

Receiver::Receiver(std::unique_ptr<Parts> parts) : p_(std::move(parts)) {}

Receiver::~Receiver() { stop(); }

std::expected<void, std::string> Receiver::bind() {
  Parts& p = *p_;
  const ReceiveConfig& config = p.config;
  if (config.udp_port != kOff) {
    source::UdpSourceConfig uc;
    uc.bind = config.bind;
    uc.port = static_cast<std::uint16_t>(config.udp_port);
    auto s = source::UdpSource::open(uc, &p.stopping);
    if (!s) return std::unexpected(s.error());
    p.udp = std::move(*s);
    p.listening.push_back(fmt::format("udp [{}]:{}", config.bind, p.udp->port()));
  }
  if (config.own_exports_port != kOff) {
    source::UdpSourceConfig uc;
    uc.bind = config.own_exports_bind;
    uc.port = static_cast<std::uint16_t>(config.own_exports_port);
    auto s = source::UdpSource::open(uc, &p.stopping);
    if (!s) return std::unexpected("--own-exports-port: " + s.error());
    p.own_udp = std::move(*s);
    p.listening.push_back(fmt::format("own-exports [{}]:{}", config.own_exports_bind, p.own_udp->port()));
  }
  if (!config.capture_file.empty() || !config.capture_interface.empty()) {
    source::PcapConfig cc;
    cc.file = config.capture_file;
    cc.interface = config.capture_interface;
    cc.filter = config.capture_filter;
    // The report port: the UDP port when one is set, else the default.
    cc.port = static_cast<std::uint16_t>(config.udp_port == kOff || config.udp_port == 0 ? core::kReportPort : config.udp_port);
    cc.stop = &p.stopping;
    auto c = source::PcapSource::open(cc);
    if (!c) return std::unexpected(c.error());
    p.capture = std::move(*c);
    p.listening.push_back(p.capture->live() ? "capture on " + config.capture_interface
                                            : "capture file " + config.capture_file);
  }

  // HTTP and HTTPS.
  nlohmann::json discovery = {
      {"service", "overflowd"},
      {"keys", nlohmann::json::array({{{"key", report::public_key_hex(p.keys)}, {"algorithm", "ed25519"}}})},
      {"contact", {{"email", config.contact.email}, {"identity", config.contact.identity}}},
      {"accepts",
       {{"forms", {"full", "compact"}},
        {"http_path", "/.well-known/overflowd"},
        {"udp_port", config.udp_port == kOff ? nlohmann::json(nullptr) : nlohmann::json(p.udp ? p.udp->port() : 0)},
        {"max_report_bytes", report::kMaxReportBytes},
        {"max_body_bytes", kMaxBodyBytes}}},
  };
  p.api_config.tls_cert = config.tls_cert;
  p.api_config.tls_key = config.tls_key;
  p.api_config.http_threads = config.http_threads;
  p.api_config.max_connections = config.max_connections;
  p.api_config.http_timeout_s = config.http_timeout_s;
  p.api_config.api_allow = p.checked.api_allow;
  p.api_config.my_prefixes = p.checked.my_prefixes;
  Parts* parts = p_.get();
  p.http = std::make_unique<HttpContext>(HttpContext{*p.writer, *p.queries, p.api_config, p.skew, std::move(discovery),
                                                     {}, {}, &p.verified_cache});
  p.http->recheck = [parts](const FlowTuple& t, std::int64_t stime, std::int64_t etime, SpoofStatus stored) {
    return parts->judge(t, stime, etime, stored);
  };
  p.http->runtime_stats = [parts] { return parts->runtime_stats(); };
  auto listen = [&](bool tls, int port) -> std::expected<void, std::string> {
    auto s = make_http_server(*p.http, tls);
    if (!s) return std::unexpected(s.error());
    auto bound = bind_http(**s, config.http_bind, port);
    if (!bound) return std::unexpected(bound.error());
    p.listening.push_back(fmt::format("{} [{}]:{}", tls ? "https" : "http", config.http_bind, *bound));
    p.listeners.push_back({std::move(*s), tls});
    return {};
  };
  if (config.http_port != kOff)
    if (auto r = listen(false, config.http_port); !r) return r;
  if (!config.tls_cert.empty() && config.https_port != kOff)
    if (auto r = listen(true, config.https_port); !r) return r;
  return {};
}

void Receiver::start() {
  Parts& p = *p_;
  if (p.started) return;
  p.started = true;
  p.writer->start();
  p.verifier->start();
  Parts* parts = p_.get();
  if (p.udp) {
    p.threads.emplace_back([parts](std::stop_token stop) {
      core::Datagram d;
      while (!stop.stop_requested() && parts->udp->next(d)) {
        ++parts->udp_datagrams;
        const std::string_view raw(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
        parts->submit(Arrival{Input::udp, d.exporter.to_string(), d.received_ns}, raw, false);
      }
      if (!parts->udp->warning().empty()) warning(parts->udp->warning());
    });
  }
  if (p.own_udp) {
    p.threads.emplace_back([parts](std::stop_token stop) {
      core::Datagram d;
      while (!stop.stop_requested() && parts->own_udp->next(d)) parts->own->take(d);
    });
  }
  if (p.capture) {
    p.threads.emplace_back([parts](std::stop_token stop) {
      const bool live = parts->capture->live();
      core::Datagram d;
      while (!stop.stop_requested() && parts->capture->next(d)) {
        ++parts->capture_datagrams;
        const std::string_view raw(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
        parts->submit(Arrival{Input::capture, d.exporter.unmapped().to_string(), core::system_clock().wall_ns()}, raw, !live);
      }
      if (!parts->capture->warning().empty()) warning(parts->capture->warning());
      parts->verifier->flush();
      parts->writer->flush();
      parts->capture_done = true;
    });
  }
  for (auto& l : p.listeners) {
    httplib::Server* server = l.server.get();
    p.threads.emplace_back([server] { serve_http(*server); });
    // stop() acts only on a running server: wait until it runs, so that shutting down never races.
    for (int i = 0; i < 500 && !server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Receiver::wait(std::stop_token stop) {
  const Parts& p = *p_;
  // Only a capture file: done when it is read. Otherwise until asked to stop.
  const bool only_file = !p.config.capture_file.empty() && !p.udp && p.listeners.empty() && !p.own_udp;
  while (!stop.stop_requested()) {
    if (only_file && p.capture_done.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Receiver::stop() {
  Parts& p = *p_;
  if (p.stopped) return;
  p.stopped = true;
  p.stopping = true;
  for (auto& l : p.listeners) stop_http(*l.server);
  for (auto& t : p.threads) t.request_stop();
  p.threads.clear();  // joins
  p.verifier->stop();
  p.writer->stop();
}

const std::vector<std::string>& Receiver::listening() const noexcept { return p_->listening; }

std::string Receiver::public_key() const { return report::public_key_hex(p_->keys); }

std::string Receiver::summary() const {
  const WriterStats ws = p_->writer->stats();
  return fmt::format("overflowd receive: summary\n  stored {}\n  duplicates {}\n  invalid {}\n  dropped {}\n  write_errors {}\n",
                     ws.stored, ws.duplicates, ws.rejected, ws.dropped, ws.write_errors);
}

nlohmann::json Receiver::Parts::runtime_stats() const {
  const WriterStats ws = writer->stats();
  const SpoofWindowStats w = window->stats();
  nlohmann::json inputs = {{"udp_datagrams", udp_datagrams.load()}, {"capture_datagrams", capture_datagrams.load()}};
  if (capture) {
    std::vector<core::NamedCount> counts;
    capture->counters().append_to(counts, "capture");
    for (const auto& c : counts) inputs[c.name] = c.value;
  }
  const VerifierStats vs = verifier->stats();
  return nlohmann::json{
      {"verifier",
       {{"threads", verifier->threads()}, {"verified", vs.verified}, {"dropped", vs.dropped}, {"queued", vs.queued},
        {"cached_signatures", verified_cache.hits()}}},
      {"writer",
       {{"batches", ws.batches}, {"stored", ws.stored}, {"duplicates", ws.duplicates}, {"rejected", ws.rejected},
        {"dropped", ws.dropped}, {"write_errors", ws.write_errors},
        {"commit_timeouts", ws.commit_timeouts}, {"queued", ws.queued}}},
      {"inputs", inputs},
      {"own_exports",
       {{"configured", own_exports},
        {"datagrams", own->datagrams.load()},
        {"flows", own->flows_seen.load()},
        {"flows_mine", own->flows_mine.load()},
        {"window_flows", w.flows},
        {"window_evicted", w.evicted},
        {"window_too_old", w.too_old},
        {"covers_from", static_cast<double>(w.covers_from_ms) / 1000.0},
        {"covers_to", static_cast<double>(w.covers_to_ms) / 1000.0}}},
  };
}

namespace {

// SIGINT and SIGTERM, taken by a thread of their own (sigtimedwait) rather than by a handler, so
// that they can request a stop of the stop source run_receive owns. They are blocked in every
// thread from construction on (threads inherit the mask) and unblocked again at the end.
class StopOnSignals {
public:
  explicit StopOnSignals(std::stop_source& stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    ::signal(SIGPIPE, SIG_IGN);  // a peer that hangs up must not end the receiver
    thread_ = std::jthread([this, &stop](std::stop_token own) {
      const timespec tick{0, 100'000'000};
      while (!own.stop_requested()) {
        if (sigtimedwait(&set_, nullptr, &tick) > 0) stop.request_stop();
      }
    });
  }
  ~StopOnSignals() {
    thread_.request_stop();
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

private:
  sigset_t set_{}, previous_{};
  std::jthread thread_;
};

}  // namespace

int run_receive(const ReceiveConfig& config) {
  std::stop_source stop;
  StopOnSignals signals(stop);
  keep_freed_heap();
  auto receiver = Receiver::open(config);
  if (!receiver) {
    error(receiver.error());
    return 2;
  }
  if (auto bound = (*receiver)->bind(); !bound) {
    error(bound.error());
    return 2;
  }
  (*receiver)->start();
  if (!config.quiet) {
    if (config.key_path.empty())
      warning("no --key given: publishing an ephemeral key " + (*receiver)->public_key() + " that ends with this run");
    for (const auto& l : (*receiver)->listening()) fmt::print(stderr, "overflowd receive: listening: {}\n", l);
    fmt::print(stderr, "overflowd receive: key {} database {}\n", (*receiver)->public_key(), config.db);
  }
  (*receiver)->wait(stop.get_token());
  (*receiver)->stop();
  if (!config.quiet) fmt::print(stderr, "{}", (*receiver)->summary());
  return 0;
}

}  // namespace overflowd::app

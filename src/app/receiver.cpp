#include "core/report_port.hpp"
#include "app/receiver.hpp"
#include "app/process.hpp"

#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <mutex>
#include <chrono>
#include <ctime>
#include <thread>
#include <utility>

#include "app/log.hpp"
#include "app/systemd_notify.hpp"
#include "app/privileges.hpp"
#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "core/live.hpp"
#include "core/metrics.hpp"
#include "app/reload_diff.hpp"
#include "app/toml.hpp"
#include "decode/dispatch.hpp"
#include "io/key_file.hpp"
#include "io/text_file.hpp"
#include "report/document.hpp"
#include "api/http_api.hpp"
#include "store/queries.hpp"
#include "receive/rotation_book.hpp"
#include "receive/spoof_window.hpp"
#include "store/store.hpp"
#include "store/pg_store.hpp"
#include "receive/verifier.hpp"
#include "store/writer.hpp"
#include "source/pcap_source.hpp"
#include "source/udp_source.hpp"
#include "core/clock.hpp"
#include "report/signer.hpp"
#include "app/operator_events.hpp"
#include "notify/notifier.hpp"

namespace overflowd::app {

using namespace receive;
using namespace store;
using namespace api;

namespace {


void error(const std::string& m) { log::error("overflowd", m); }
void warning(const std::string& m) { log::warning("overflowd receive", m); }

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
  // The encryption mode: my X25519 keys (opened by kid), as published, and my rotation statements.
  report::Keyring keyring;
  std::vector<report::PublishedKey> published_keys;
  nlohmann::json rotations = nlohmann::json::array();
  // Senders' rotation statements taken as datagrams of their own (UDP, captures): kept by new key,
  // applied by ingest to that key's reports. At most kStatementsPerSecond are verified a second.
  static constexpr std::uint64_t kStatementsPerSecond = 100;
  RotationBook rotation_book;
  std::mutex statement_mutex;
  std::int64_t statement_second = 0;
  std::uint64_t statements_this_second = 0;
  std::atomic<std::uint64_t> statements_valid{0}, statements_invalid{0}, statements_limited{0};
  nlohmann::json discovery;  // the members older readers know ("keys", "contact", "accepts")
  std::mutex document_mutex;
  std::string document;
  std::int64_t document_expires = 0;
  bool own_exports = false;  // my own exports configured: the spoofing view can judge
  core::metrics::Histogram commit_seconds{core::metrics::latency_bounds()};  // the writer's batches
  // --api-allow as it is now: swapped whole by a reload (core::Live), read by the HTTP threads.
  core::Live<std::vector<Cidr>> api_allow{std::vector<Cidr>{}};
  // Alerts stored since start, by kind (contact_changed, identity_new_key, ...; spoof_suspect).
  mutable std::mutex alerts_mutex;
  std::map<std::string, std::uint64_t> alerts_by_kind;
  [[nodiscard]] bool api_allowed(const core::IpAddress& peer) const { return in_any(*api_allow.current(), peer); }

  // open()
  std::unique_ptr<ReportStore> store;      // SqliteStore, or PgStore for --db postgresql://
  std::unique_ptr<ReportQueries> queries;
  std::unique_ptr<SpoofWindow> window;
  std::unique_ptr<OwnExports> own;
  std::unique_ptr<notify::OperatorNotifier> notifier;  // told by the writer: outlives it
  std::unique_ptr<Writer> writer;
  std::function<void()> flush_events;  // tells the held suspect counts (after the writer stops)
  VerifiedCache verified_cache;  // replays are not checked again, on any input
  std::unique_ptr<Verifier> verifier;

  // bind()
  std::atomic<bool> stopping{false};  // the sources' stop flag, set by stop()
  std::unique_ptr<source::UdpSource> udp, own_udp;
  std::unique_ptr<source::PcapSource> capture;
  ApiConfig api_config;
  std::unique_ptr<HttpContext> http;
  struct Listener {
    std::unique_ptr<HttpServer> server;
    bool tls = false;
  };
  std::vector<Listener> listeners;
  std::vector<std::string> listening;
  std::unique_ptr<MetricsServer> metrics_server;  // --metrics: serves on its own thread from bind()

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
    if (RotationBook::looks_like_statement(raw)) return take_statement(arrival, raw);
    if (wait) verifier->put(arrival, raw);
    else if (!verifier->offer(arrival, raw)) writer->count_dropped(1);
  }

  // A rotation statement datagram: verified here (two Ed25519 checks, at most kStatementsPerSecond
  // a second, the rest counted) and kept; never stored as a report.
  void take_statement(const Arrival& arrival, std::string_view raw) {
    {
      std::lock_guard lock(statement_mutex);
      const std::int64_t second = arrival.received_ns / 1'000'000'000;
      if (second != statement_second) {
        statement_second = second;
        statements_this_second = 0;
      }
      if (++statements_this_second > kStatementsPerSecond) {
        ++statements_limited;
        return;
      }
    }
    ++(rotation_book.take(report::as_bytes(raw)) ? statements_valid : statements_invalid);
  }

  [[nodiscard]] nlohmann::json runtime_stats() const;
  // The HTTP servers' counters (refusals by reason, connections), per listener: {"http": {...}, "https": {...}}.
  [[nodiscard]] nlohmann::json http_counters() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& l : listeners) {
      nlohmann::json c = nlohmann::json::object();
      for (const auto& n : l.server->counters()) c[n.name] = n.value;
      out[l.tls ? "https" : "http"] = c;
    }
    return out;
  }

  // The signed document, re-signed when less than half of its day is left.
  std::string published_document() {
    std::lock_guard lock(document_mutex);
    const std::int64_t now = core::system_clock().wall_ns() / 1'000'000'000;
    if (now + kDocumentLifetime / 2 < document_expires) return document;
    report::Document d;
    d.identity = keys.public_key;
    d.expires = now + kDocumentLifetime;
    // Each key with its window; one without an end is promised as long as the document; keys
    // already past their end are left out (several may be valid at once during a rotation).
    for (auto k : published_keys) {
      if (k.not_after <= now) continue;
      k.not_after = std::min(k.not_after, d.expires);
      d.encryption_keys.push_back(k);
    }
    d.contact = discovery["contact"];
    d.accepts = discovery["accepts"];
    for (const auto& c : checked.my_prefixes) d.prefixes.push_back(c.to_string());
    d.rotations = rotations;
    d.extra = {{"keys", discovery["keys"]}};
    report::Signer signer(keys);
    document = report::build_document(d, signer);
    document_expires = d.expires;
    return document;
  }
  static constexpr std::int64_t kDocumentLifetime = 86'400;
};

std::expected<std::unique_ptr<Receiver>, std::string> Receiver::open(const ReceiveConfig& config) {
  auto checked = check(config);
  if (!checked) return std::unexpected(checked.error());
  auto p = std::make_unique<Parts>();
  p->config = config;
  p->checked = std::move(*checked);
  p->api_allow.publish(p->checked.api_allow);
  p->skew = SkewPolicy{static_cast<double>(config.skew_future_s), static_cast<double>(config.skew_past_s)};

  // The receiver's own key, published for discovery (and for the encryption mode to come).
  if (config.key_path.empty()) {
    p->keys = report::generate_keypair();
  } else {
    auto loaded = io::load_or_create_key(config.key_path);
    if (!loaded) return std::unexpected(loaded.error());
    p->keys = loaded->keys;
  }
  for (const auto& given : config.encryption_keys) {
    auto spec = parse_encryption_key(given);
    if (!spec) return std::unexpected("--encryption-key " + given + ": " + spec.error());
    const std::string& path = spec->path;
    auto loaded = io::load_or_create_x25519(path);
    if (!loaded) return std::unexpected(loaded.error());
    struct stat st {};
    const std::int64_t made = ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_mtime) : 0;
    if (p->keyring.find(report::key_id(loaded->keys.public_key)))
      return std::unexpected("--encryption-key " + path + ": the same key is given twice");
    // Opened only while valid (the time of receipt); published with its window (from the key
    // file's time when no not_before is given).
    p->keyring.add(loaded->keys, spec->validity);
    const std::int64_t nb = spec->validity.not_before == INT64_MIN ? made : spec->validity.not_before;
    p->published_keys.push_back({loaded->keys.public_key, nb, spec->validity.not_after});
  }
  for (const auto& path : config.rotations) {
    auto text = io::read_text_file(path, 64 * 1024);
    if (!text) return std::unexpected("--rotation " + path + ": " + text.error());
    auto rotation = report::verify_rotation(report::as_bytes(*text));
    if (!rotation) return std::unexpected("--rotation " + path + ": " + report::to_string(rotation.error()));
    if (rotation->new_key != p->keys.public_key)
      return std::unexpected("--rotation " + path + ": the statement rotates to another key than --key");
    p->rotations.push_back(nlohmann::json::parse(*text));
  }
  p->skew.keyring = &p->keyring;
  p->skew.rotations = &p->rotation_book;
  p->skew.my_prefixes = &p->checked.my_prefixes;

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
  if (is_postgres_url(config.db)) {
    auto store = PgStore::open(sc);
    if (!store) return std::unexpected(store.error());
    p->store = std::move(*store);
    auto queries = PgQueries::open(config.db, 4, std::chrono::milliseconds(config.api_time_limit_ms));
    if (!queries) return std::unexpected(queries.error());
    p->queries = std::move(*queries);
  } else {
    auto store = SqliteStore::open(sc);
    if (!store) return std::unexpected(store.error());
    p->store = std::move(*store);
    auto queries = SqliteQueries::open(config.db, 4, std::chrono::milliseconds(config.api_time_limit_ms));
    if (!queries) return std::unexpected(queries.error());
    p->queries = std::move(*queries);
  }

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
  wcfg.warn = [](const std::string& m) { warning(m); };
  notify::OperatorNotifierConfig ncfg;
  ncfg.webhook = config.alert_webhook;
  ncfg.syslog = config.alert_syslog;
  ncfg.per_minute = static_cast<std::uint32_t>(config.alert_rate);
  ncfg.timeout_ms = config.alert_webhook_timeout_ms;
  ncfg.connect_timeout_ms = std::min<long>(ncfg.timeout_ms, 2000);
  auto notifier = notify::OperatorNotifier::open(ncfg);
  if (!notifier) return std::unexpected(notifier.error());
  p->notifier = std::move(*notifier);
  wcfg.on_commit = [parts](std::int64_t ns) { parts->commit_seconds.observe(static_cast<double>(ns) / 1e9); };
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
  // New suspects' held counts are told when their window ends, on the writer's tick when nothing
  // more arrives, and at stop (flush_events).
  OperatorEvents events = operator_events(*p->notifier);
  p->flush_events = std::move(events.flush);
  wcfg.tick = [own = std::move(wcfg.tick), tell = std::move(events.tick)] {
    if (own) own();
    tell();
  };
  p->writer = std::make_unique<Writer>(*p->store, wcfg, classify);
  // Alerts by kind and spoofing suspects stored, counted for /metrics, then told to the operator.
  p->writer->set_observer([parts = p.get(), tell = std::move(events.observer)](std::span<const store::Item> items,
                                                                                 const store::BatchResult& result) {
    {
      std::lock_guard lock(parts->alerts_mutex);
      for (const auto& a : result.new_alerts) ++parts->alerts_by_kind[a.kind];
      for (std::size_t i = 0; i < items.size() && i < result.outcomes.size(); ++i)
        if (items[i].spoof == store::SpoofStatus::suspect && result.outcomes[i] == store::Outcome::stored)
          ++parts->alerts_by_kind["spoof_suspect"];
    }
    tell(items, result);
  });

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
  const auto max_body = static_cast<std::size_t>(config.max_body_bytes);
  const std::size_t kMaxLineBytes = std::min(report::kMaxReportBytes, max_body);
  constexpr std::size_t kMaxUdpV4Payload = 65'535 - 20 - 8;  // IP total length less the IPv4 and UDP headers
  nlohmann::json discovery = {
      {"service", "overflowd"},
      {"keys", nlohmann::json::array({{{"key", report::public_key_hex(p.keys)}, {"algorithm", "ed25519"}}})},
      {"contact", {{"email", config.contact.email}, {"identity", config.contact.identity}}},
      {"accepts",
       {{"forms", {"full", "compact"}},
        {"http_path", "/.well-known/overflowd"},
        {"udp_port", config.udp_port == kOff ? nlohmann::json(nullptr) : nlohmann::json(p.udp ? p.udp->port() : 0)},
        // The largest signed message accepted in each form: a line (and a POST body) holds at
        // most 64 KiB, signature block included (report/signer.hpp).
        {"max_report_bytes", {{"full", report::max_message_bytes(false, kMaxLineBytes)},
                              {"compact", report::max_message_bytes(true, kMaxLineBytes)}}},
        // Over UDP the datagram bounds the line: 65,507 bytes of payload over IPv4 (65,527 over IPv6).
        {"max_udp_report_bytes", {{"full", report::max_message_bytes(false, kMaxUdpV4Payload)},
                                  {"compact", report::max_message_bytes(true, kMaxUdpV4Payload)}}},
        {"max_body_bytes", max_body}}},
  };
  p.api_config.tls_cert = config.tls_cert;
  p.api_config.tls_key = config.tls_key;
  ServerLimits& lim = p.api_config.limits;
  lim.workers = static_cast<std::size_t>(config.http_threads);
  lim.max_connections = static_cast<std::size_t>(config.max_connections);
  lim.max_connections_per_client = static_cast<std::size_t>(config.max_connections_per_client);
  lim.read_timeout_ms = config.http_timeout_s * 1000;
  lim.request_deadline_ms = config.http_request_deadline_s * 1000;
  lim.keepalive_idle_ms = config.http_keepalive_s * 1000;
  lim.keepalive_requests = config.http_keepalive_requests;
  lim.max_request_line = static_cast<std::size_t>(config.http_max_request_line);
  lim.max_header_bytes = static_cast<std::size_t>(config.http_max_header_bytes);
  lim.max_headers = static_cast<std::size_t>(config.http_max_headers);
  lim.max_body = max_body;
  p.api_config.max_body = max_body;
  lim.hosts = config.http_hosts;
  p.api_config.api_allow = p.checked.api_allow;
  p.api_config.my_prefixes = p.checked.my_prefixes;
  Parts* parts = p_.get();
  p.http = std::make_unique<HttpContext>(HttpContext{*p.writer, *p.queries, p.api_config, p.skew, std::move(discovery),
                                                     {}, {}, &p.verified_cache, {}, {}});
  p.http->recheck = [parts](const FlowTuple& t, std::int64_t stime, std::int64_t etime, SpoofStatus stored) {
    return parts->judge(t, stime, etime, stored);
  };
  p.http->runtime_stats = [parts] { return parts->runtime_stats(); };
  p.discovery = p.http->discovery;
  p.http->document = [parts] { return parts->published_document(); };
  p.http->api_allowed = [parts](const core::IpAddress& peer) { return parts->api_allowed(peer); };
  auto listen = [&](bool tls, int port) -> std::expected<void, std::string> {
    auto s = make_http_server(*p.http, tls);
    if (!s) return std::unexpected(s.error());
    // Prometheus metrics, to --api-allow addresses (and a Host naming this receiver) like the API.
    api::RouteOptions allowed;
    allowed.allow = [parts](const core::IpAddress& peer) { return parts->api_allowed(peer); };
    (*s)->add_route("GET", "/metrics", [this](const api::Request&, api::Response& res) {
      res.set_content(metrics(), kMetricsContentType);
    }, allowed);
    auto bound = bind_http(**s, config.http_bind, port);
    if (!bound) return std::unexpected(bound.error());
    p.listening.push_back(fmt::format("{} [{}]:{}", tls ? "https" : "http", config.http_bind, *bound));
    p.listeners.push_back({std::move(*s), tls});
    return {};
  };
  if (!config.metrics_listen.empty()) {
    auto m = MetricsServer::start(
        config.metrics_listen, [this](const api::HttpServer& own) { return metrics(&own); },
        [parts](const core::IpAddress& peer) { return parts->api_allowed(peer); });
    if (!m) return std::unexpected(m.error());
    p.listening.push_back("metrics " + (*m)->where());
    p.metrics_server = std::move(*m);
  }
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
    HttpServer* server = l.server.get();
    p.threads.emplace_back([server] { serve_http(*server); });
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
  p.metrics_server.reset();
  for (auto& t : p.threads) t.request_stop();
  p.threads.clear();  // joins
  p.verifier->stop();
  p.writer->stop();
  if (p.flush_events) p.flush_events();
  p.notifier->stop();
}

const std::vector<std::string>& Receiver::listening() const noexcept { return p_->listening; }

std::string Receiver::public_key() const { return report::public_key_hex(p_->keys); }

std::vector<std::pair<std::string, std::uint64_t>> Receiver::summary_counts() const {
  const WriterStats ws = p_->writer->stats();
  return {{"stored", ws.stored}, {"duplicates", ws.duplicates}, {"invalid", ws.rejected}, {"dropped", ws.dropped},
          {"write_errors", ws.write_errors}};
}

std::string Receiver::metrics(const api::HttpServer* own) const {
  using core::metrics::Type;
  const Parts& p = *p_;
  const WriterStats ws = p.writer->stats();
  const VerifierStats vs = p.verifier->stats();
  const SpoofWindowStats w = p.window->stats();
  core::metrics::Exposition e;
  add_info(e, "receive", report::public_key_hex(p.keys));
  const auto counter = [&e](std::string_view name, std::string_view help, core::metrics::Labels labels, std::uint64_t v) {
    e.add(name, Type::counter, help, labels, static_cast<double>(v));
  };
  const auto gauge = [&e](std::string_view name, std::string_view help, core::metrics::Labels labels, double v) {
    e.add(name, Type::gauge, help, labels, v);
  };
  const char* reports_help = "Reports the writer handled: stored, duplicate (already stored), refused (invalid, kept for "
                             "inspection), dropped (a queue was full).";
  counter("overflowd_receiver_reports_total", reports_help, {{"result", "stored"}}, ws.stored);
  counter("overflowd_receiver_reports_total", reports_help, {{"result", "duplicate"}}, ws.duplicates);
  counter("overflowd_receiver_reports_total", reports_help, {{"result", "refused"}}, ws.rejected);
  counter("overflowd_receiver_reports_total", reports_help, {{"result", "dropped"}}, ws.dropped);
  counter("overflowd_receiver_write_errors_total", "Batches that could not be stored.", {}, ws.write_errors);
  counter("overflowd_receiver_batches_total", "Batches committed.", {}, ws.batches);
  counter("overflowd_receiver_commit_timeouts_total", "HTTP requests whose reports were not committed in time (503).", {},
          ws.commit_timeouts);
  counter("overflowd_receiver_verified_total", "Reports the verifying threads checked (UDP and capture).", {}, vs.verified);
  counter("overflowd_receiver_signature_cache_hits_total", "Signatures found already checked (replays).", {},
          p.verified_cache.hits());
  counter("overflowd_receiver_datagrams_total", "Datagrams read, by input.", {{"input", "udp"}}, p.udp_datagrams.load());
  counter("overflowd_receiver_datagrams_total", "Datagrams read, by input.", {{"input", "capture"}}, p.capture_datagrams.load());
  gauge("overflowd_queue_depth", "Items waiting in a bounded queue.", {{"queue", "verifier"}}, static_cast<double>(vs.queued));
  gauge("overflowd_queue_depth", "Items waiting in a bounded queue.", {{"queue", "writer"}}, static_cast<double>(ws.queued));
  counter("overflowd_receiver_own_export_datagrams_total", "Datagrams of my own exports read.", {}, p.own->datagrams.load());
  counter("overflowd_receiver_own_export_flows_total", "Flows of my own exports, all and from my prefixes.", {{"scope", "all"}},
          p.own->flows_seen.load());
  counter("overflowd_receiver_own_export_flows_total", "Flows of my own exports, all and from my prefixes.", {{"scope", "mine"}},
          p.own->flows_mine.load());
  {
    const char* help = "Alerts stored, by kind (spoof_suspect: a stored report of a flow from my prefixes my exporters never saw).";
    std::lock_guard lock(p.alerts_mutex);
    for (const char* kind : {"contact_changed", "identity_new_key", "spoof_suspect"})  // always shown, 0 or not
      if (!p.alerts_by_kind.contains(kind)) counter("overflowd_receiver_alerts_total", help, {{"kind", kind}}, 0);
    for (const auto& [kind, n] : p.alerts_by_kind) counter("overflowd_receiver_alerts_total", help, {{"kind", kind}}, n);
  }
  gauge("overflowd_receiver_spoof_window_flows", "Flows held by the spoofing window.", {}, static_cast<double>(w.flows));
  for (const auto& l : p.listeners) add_http_server_counts(e, l.tls ? "https" : "http", l.server->counters());
  if (own) add_http_server_counts(e, "metrics", own->counters());
  e.add_histogram("overflowd_receiver_batch_commit_seconds", "Time to write and commit one batch of reports.", {},
                  p.commit_seconds.snapshot());
  return e.text();
}

std::expected<void, std::string> Receiver::reload(const ReceiveConfig& fresh) {
  auto checked = check(fresh);
  if (!checked) return std::unexpected(checked.error());
  Parts& p = *p_;
  {
    std::lock_guard lock(p.document_mutex);
    if (fresh.contact.email != p.config.contact.email || fresh.contact.identity != p.config.contact.identity) {
      p.discovery["contact"] = {{"email", fresh.contact.email}, {"identity", fresh.contact.identity}};
      p.document_expires = 0;  // signed again at the next GET
    }
  }
  p.config.contact = fresh.contact;
  p.api_allow.publish(checked->api_allow);
  if (fresh.alert_rate != p.config.alert_rate) {
    p.notifier->set_per_minute(static_cast<std::uint32_t>(fresh.alert_rate));
    p.config.alert_rate = fresh.alert_rate;
  }
  return {};
}

std::string Receiver::summary() const {
  std::string out = "overflowd receive: summary\n";
  for (const auto& [name, value] : summary_counts()) out += fmt::format("  {} {}\n", name, value);
  return out;
}

namespace {
nlohmann::json notify_stats(const notify::OperatorNotifier& n) {
  const notify::NotifierStats s = n.stats();
  return {{"told", s.told}, {"suppressed", s.suppressed}, {"webhook_sent", s.webhook_sent},
          {"webhook_failed", s.webhook_failed}, {"webhook_dropped", s.webhook_dropped}};
}
}  // namespace

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
      {"rotation_statements",
       {{"valid", statements_valid.load()}, {"invalid", statements_invalid.load()},
        {"rate_limited", statements_limited.load()}, {"kept", rotation_book.size()}}},
      {"notify", notify_stats(*notifier)},
      {"http", http_counters()},
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
    sigaddset(&set_, SIGHUP);  // ExecReload: taken here, so that it never ends the receiver
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    ::signal(SIGPIPE, SIG_IGN);  // a peer that hangs up must not end the receiver
    thread_ = std::jthread([this, &stop](std::stop_token own) {
      const timespec tick{0, 100'000'000};
      while (!own.stop_requested()) {
        const int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig == SIGHUP) {
          // Run under the lock: clearing on_hup (before the receiver ends) waits for a reload in progress.
          std::lock_guard lock(mutex_);
          systemd::reloading();
          if (on_hup_) {
            on_hup_();
          } else {
            log::warning("overflowd receive", "SIGHUP: nothing to re-read (no --config file, or not running yet)");
            systemd::reloaded("running");
          }
        } else if (sig > 0) {
          stop.request_stop();
        }
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
  // What SIGHUP does from now on (run on the signal thread; it sends READY=1 itself).
  void on_hup(std::function<void()> f) {
    std::lock_guard lock(mutex_);
    on_hup_ = std::move(f);
  }

private:
  std::mutex mutex_;
  std::function<void()> on_hup_;
  sigset_t set_{}, previous_{};
  std::jthread thread_;
};


// What a reload applies while running (docs/operations.md, "Reload").
bool receive_live_key(const FileKey& k) {
  if (k.section != "receive") return false;
  for (const char* key : {"email", "identity", "api_allow", "alert_rate"})
    if (k.key == key) return true;
  return false;
}

std::optional<toml::table> receive_sections(const std::string& path) {
  const auto text = io::read_text_file(path, kMaxConfigBytes);
  if (!text) return std::nullopt;
  auto t = parse_toml(*text, path);
  if (!t) return std::nullopt;
  return std::move(*t);
}

}  // namespace

int run_receive(const ReceiveConfig& config, const std::string& config_file, ReceiveLoader reload) {
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
  if (auto dropped = drop_privileges(config.user, "overflowd receive"); !dropped) {
    error(dropped.error());
    return 2;
  }
  (*receiver)->start();
  if (!config.quiet) {
    if (config.key_path.empty())
      warning("no --key given: publishing an ephemeral key " + (*receiver)->public_key() + " that ends with this run");
    if (config.tls_cert.empty() && config.https_port != kOff)
      warning("HTTPS is off: no --tls-cert and --tls-key given (reports are taken over UDP and HTTP only; "
              "--https-port off silences this)");
    for (const auto& l : (*receiver)->listening()) log::info("overflowd receive", "listening: " + l);
    log::info("overflowd receive", fmt::format("key {} database {}", (*receiver)->public_key(), redact_url(config.db)));
  }
  std::optional<toml::table> sections;
  if (reload) sections = receive_sections(config_file);
  Receiver* running = receiver->get();
  if (reload)
    signals.on_hup([&, running] {
      auto fresh = reload();
      std::optional<toml::table> now = receive_sections(config_file);
      if (fresh && !now) fresh = std::unexpected(config_file + ": cannot be read again");
      if (fresh)
        if (auto r = running->reload(*fresh); !r) fresh = std::unexpected(r.error());
      if (!fresh) {
        log::warning("overflowd receive", "reload: " + fresh.error() + "; keeping the running configuration");
        return systemd::reloaded("running; the last reload failed (see the log)");
      }
      for (const auto& key : changed_keys(sections ? &*sections : nullptr, *now)) {
        if (receive_live_key(key)) log::info("overflowd receive", "reload: [" + key.section + "] " + key.key + " applied");
        else
          log::warning("overflowd receive", "reload: [" + key.section + "] " + key.key +
                                                " changed but cannot change while running; restart to apply");
      }
      sections = std::move(now);
      log::info("overflowd receive", "reload: done");
      systemd::reloaded("running; configuration reloaded");
    });
  systemd::ready("receiving reports");
  (*receiver)->wait(stop.get_token());
  signals.on_hup({});
  systemd::stopping();
  (*receiver)->stop();
  if (!config.quiet) log::counters("overflowd receive", "summary", (*receiver)->summary_counts(), {}, 0);
  return 0;
}

}  // namespace overflowd::app

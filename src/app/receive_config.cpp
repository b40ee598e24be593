#include "app/receive_config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/parse.hpp"
#include "app/toml.hpp"
#include "io/text_file.hpp"
#include "report/json_writer.hpp"

namespace overflowd::app {

namespace {

using Result = SettingResult;
using V = std::string_view;
using S = ReceiveSetting;
constexpr const char* kSection = "receive";

std::expected<std::int64_t, std::string> parse_int(V what, V text, std::int64_t lo, std::int64_t hi) {
  const auto v = core::parse_whole<std::int64_t>(text, lo, hi);
  if (!v)
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a whole number from " +
                           std::to_string(lo) + " to " + std::to_string(hi));
  return *v;
}

S text(const char* flag, const char* key, const char* value_name, const char* help, std::string ReceiveConfig::*field) {
  return {flag, kSection, key, value_name, help, SettingKind::text, [field](ReceiveConfig& c, V v, V) -> Result {
            c.*field = std::string(v);
            return {};
          }};
}

S port(const char* flag, const char* key, const char* help, int ReceiveConfig::*field) {
  return {flag, kSection, key, "PORT|off", help, SettingKind::whole_or_text,
          [field](ReceiveConfig& c, V v, V what) -> Result {
            if (v == "off" || v == "none") {
              c.*field = kOff;
              return {};
            }
            const auto p = core::parse_whole<int>(v, 0, 65535);
            if (!p)
              return std::unexpected(std::string(what) + ": '" + std::string(v) +
                                     "' is not a port number (0 to 65535, 0 picks a free one) or off");
            c.*field = *p;
            return {};
          },
          {}, "a port number or \"off\""};
}

S integer(const char* flag, const char* key, const char* value_name, const char* help, std::int64_t ReceiveConfig::*field,
          std::int64_t lo, std::int64_t hi) {
  return {flag, kSection, key, value_name, help, SettingKind::whole,
          [field, lo, hi](ReceiveConfig& c, V v, V what) { return set_parsed(parse_int(what, v, lo, hi), c.*field); }};
}

S list(const char* flag, const char* key, const char* value_name, const char* help, std::vector<std::string> ReceiveConfig::*field) {
  return {flag, kSection, key, value_name, help, SettingKind::list,
          [field](ReceiveConfig& c, V v, V) -> Result {
            (c.*field).emplace_back(v);
            return {};
          },
          [field](ReceiveConfig& c) { (c.*field).clear(); }};
}

S boolean(const char* flag, const char* key, const char* help, bool ReceiveConfig::*field) {
  return {flag, kSection, key, "", help, SettingKind::boolean, [field](ReceiveConfig& c, V v, V what) -> Result {
            if (v != "true" && v != "false") return std::unexpected(std::string(what) + ": '" + std::string(v) + "' is not true or false");
            c.*field = v == "true";
            return {};
          }};
}

}  // namespace

const std::vector<ReceiveSetting>& receive_settings() {
  using C = ReceiveConfig;
  static const std::vector<ReceiveSetting> table = [] {
  std::vector<ReceiveSetting> t = {
      text("--db", "db", "PATH", "SQLite database of reports (created when absent; default overflowd-receive.db), or a PostgreSQL URL (postgresql://...) that several receivers share", &C::db),
      port("--udp-port", "udp_port", "Take reports (either form) on this UDP port, IPv4 and IPv6 (default 65535)", &C::udp_port),
      text("--bind", "bind", "ADDRESS", "Address of the UDP socket (default ::, which takes IPv4 too)", &C::bind),
      port("--http-port", "http_port", "Take POST /.well-known/overflowd, serve the API and the page over HTTP (default 80)", &C::http_port),
      text("--http-bind", "http_bind", "ADDRESS", "Address of the HTTP and HTTPS listeners (default ::)", &C::http_bind),
      port("--https-port", "https_port", "The same over HTTPS, with --tls-cert and --tls-key (default 443)", &C::https_port),
      text("--tls-cert", "tls_cert", "FILE", "PEM certificate (chain) for HTTPS", &C::tls_cert),
      text("--tls-key", "tls_key", "FILE", "PEM private key for HTTPS", &C::tls_key),
      text("--capture-file", "capture_file", "FILE", "Take reports from a pcap or pcapng file (UDP datagrams to the report port)", &C::capture_file),
      text("--capture-interface", "capture_interface", "IFACE", "Take reports seen on a live interface (libpcap; needs CAP_NET_RAW)", &C::capture_interface),
      text("--capture-filter", "capture_filter", "BPF", "Filter for the capture (default \"udp port <udp-port>\", 65535 when UDP is off)", &C::capture_filter),
      text("--metrics", "metrics", "ADDRESS:PORT", "Serve GET /metrics (Prometheus) on this address too (port 0: any free one, logged), to --api-allow addresses (it is always on the HTTP(S) listeners)", &C::metrics_listen),
      text("--user", "user", "NAME", "Started as root (without systemd): switch to this user once the sockets are bound", &C::user),
      text("--key", "key", "PATH", "The receiver's own key, published at GET /.well-known/overflowd; created (mode 0600) when absent", &C::key_path),
      list("--encryption-key", "encryption_keys", "PATH", "X25519 key (64 hex digits, mode 0600; created when absent) to open sealed reports with, optionally valid only in a window: PATH,not_before=UNIX_S,not_after=UNIX_S; repeat during a rotation (all valid ones are published and accepted, by kid)", &C::encryption_keys),
      list("--rotation", "rotations", "FILE", "A rotation statement of my key (overflowd rotate-key), published in the document's \"rotations\" (repeatable)", &C::rotations),
      {"--email", kSection, "email", "EMAIL", "Contact email published at GET /.well-known/overflowd", SettingKind::text,
       [](C& c, V v, V) -> Result {
         c.contact.email = std::string(v);
         return {};
       }},
      {"--identity", kSection, "identity", "NAME", "Contact identity published at GET /.well-known/overflowd", SettingKind::text,
       [](C& c, V v, V) -> Result {
         c.contact.identity = std::string(v);
         return {};
       }},
      list("--my-prefix", "my_prefixes", "CIDR", "A prefix of mine (repeat for several): for the summary and spoofing views", &C::my_prefixes),
      list("--api-allow", "api_allow", "CIDR", "Who may read the API and the page (repeatable; default 127.0.0.0/8 and ::1; 0.0.0.0/0 and ::/0 for all)", &C::api_allow),
      port("--own-exports-port", "own_exports_port", "Take MY OWN flow exports (NetFlow v5/v9, IPFIX, sFlow) on this UDP port, to spot spoofing (default off)", &C::own_exports_port),
      text("--own-exports-bind", "own_exports_bind", "ADDRESS", "Address of the own-exports socket (default ::)", &C::own_exports_bind),
      text("--own-exports-file", "own_exports_file", "FILE", "Read MY OWN flow exports from a capture file at start", &C::own_exports_file),
      integer("--own-window", "own_window", "SECONDS", "How much recent time of my own flows is kept (default 3600)", &C::own_window_s, 60, 7 * 86'400),
      integer("--own-window-max-flows", "own_window_max_flows", "N", "At most this many of my own flows are kept (default 1000000)", &C::own_window_max_flows, 1, 100'000'000),
      integer("--spoof-tolerance", "spoof_tolerance", "SECONDS", "Clock difference allowed between a report's flow and mine (default 300)", &C::spoof_tolerance_s, 0, 86'400),
      integer("--batch-size", "batch_size", "N", "Commit after this many reports (default 1000)", &C::batch_size, 1, 100'000),
      integer("--batch-ms", "batch_ms", "MS", "...or this long after the first uncommitted one: what a crash can lose of UDP and capture input (default 200)", &C::batch_ms, 1, 60'000),
      integer("--queue", "queue", "N", "Reports waiting for the writer at most; UDP input beyond it is dropped and counted (default 100000)", &C::queue, 1, 10'000'000),
      integer("--queue-mib", "queue_mib", "MIB", "...and at most this many MiB of them (a report may hold 64 KiB; default 256)", &C::queue_mib, 1, 1'048'576),
      integer("--verify-threads", "verify_threads", "N", "Threads verifying UDP and capture reports, in parallel, for the one writer (default 0: one per core; HTTP reports are verified on the HTTP threads)", &C::verify_threads, 0, 1024),
      {"--retention-days", kSection, "retention_days", "DAYS", "Delete reports, refused inputs, alerts and keys older than this (default 30; 0: no age limit)",
       SettingKind::number, [](C& c, V v, V what) -> Result {
         const auto d = core::parse_real(v, 0, 36'500);
         if (!d) return std::unexpected(std::string(what) + ": '" + std::string(v) + "' is not a number of days from 0 to 36500");
         c.retention_days = *d;
         return {};
       }},
      integer("--max-reports", "max_reports", "N", "Keep at most this many reports, the newest (default 1000000; 0: no limit)", &C::max_reports, 0, INT64_MAX),
      integer("--max-invalid", "max_invalid", "N", "Keep at most this many refused inputs (default 10000)", &C::max_invalid, 0, INT64_MAX),
      integer("--invalid-rate", "invalid_rate", "N", "Store at most N refused inputs whole per second; beyond, 1 in 100, cut to 256 bytes (default 100; 0: all)", &C::invalid_per_s, 0, INT64_MAX),
      integer("--max-db-mib", "max_db_mib", "MIB", "Bound the database's size: beyond, the oldest refused inputs then reports go (default 0: no bound)", &C::max_db_mib, 0, INT64_MAX / (1 << 20)),
      integer("--max-alerts", "max_alerts", "N", "Keep at most this many alerts (default 100000)", &C::max_alerts, 0, INT64_MAX),
      text("--alert-webhook", "alert_webhook", "URL", "POST each new alert and spoofing suspect as JSON to this http(s) URL (default: none)", &C::alert_webhook),
      integer("--alert-webhook-timeout", "alert_webhook_timeout", "MS", "Time-out of one webhook POST in milliseconds (default 5000)", &C::alert_webhook_timeout_ms, 1, 600'000),
      boolean("--alert-syslog", "alert_syslog", "Also send each new alert and spoofing suspect to syslog (daemon facility)", &C::alert_syslog),
      integer("--alert-rate", "alert_rate", "N", "Alerts and suspects told per minute at most; the rest are counted and summarized (default 60)", &C::alert_rate, 0, 1'000'000),
      integer("--max-keys", "max_keys", "N", "Remember at most this many keys, the most recently seen (default 1000000)", &C::max_keys, 0, INT64_MAX),
      integer("--skew-future", "skew_future", "SECONDS", "Flag reports claiming a time further ahead than this (default 86400)", &C::skew_future_s, 0, INT64_MAX / 2'000'000'000),
      integer("--skew-past", "skew_past", "SECONDS", "Flag reports claiming a time further back than this (default 2592000)", &C::skew_past_s, 0, INT64_MAX / 2'000'000'000),
      integer("--http-threads", "http_threads", "N", "Threads running HTTP(S) handlers (verifying POSTs, answering the API), per listener: how many requests may wait for a commit at once, each commit taking them all; connections are served by one event loop (default 32)", &C::http_threads, 1, 256),
      integer("--max-connections", "max_connections", "N", "Open HTTP(S) connections in all, per listener; beyond it a new one is closed at once (default 4096; capped by the open-files limit)", &C::max_connections, 1, 1'000'000),
      integer("--max-connections-per-client", "max_connections_per_client", "N", "Open HTTP(S) connections per client address (IPv6: per /64); beyond it a new one is closed at once (default 64)", &C::max_connections_per_client, 1, 1'000'000),
      integer("--http-timeout", "http_timeout", "SECONDS", "Longest wait for any one read or write of an HTTP(S) connection (default 5)", &C::http_timeout_s, 1, 300),
      integer("--http-request-deadline", "http_request_deadline", "SECONDS", "Time for a whole HTTP(S) request, headers and body (and the TLS handshake of a new connection); slower ones are cut off (default 10)", &C::http_request_deadline_s, 1, 600),
      integer("--http-keepalive", "http_keepalive", "SECONDS", "How long a kept-alive connection may wait idle for its next request (default 5)", &C::http_keepalive_s, 1, 3600),
      integer("--http-keepalive-requests", "http_keepalive_requests", "N", "Requests per HTTP(S) connection, then it is closed (default 100)", &C::http_keepalive_requests, 1, 1'000'000),
      integer("--http-max-request-line", "http_max_request_line", "BYTES", "Longest request target; longer: 414 (default 4096)", &C::http_max_request_line, 64, 65'536),
      integer("--http-max-header-bytes", "http_max_header_bytes", "BYTES", "Request line and headers together at most; more: 431 (default 8192)", &C::http_max_header_bytes, 256, 1'048'576),
      integer("--http-max-headers", "http_max_headers", "N", "Header fields per request at most; more: 431 (default 64)", &C::http_max_headers, 1, 10'000),
      integer("--max-body-bytes", "max_body_bytes", "BYTES", "A POST body at most, whatever the framing (chunked too); larger: 413. Published as max_body_bytes; a report line stays within 64 KiB (default 65536)", &C::max_body_bytes, 4096, 32 << 20),
      integer("--api-time-limit", "api_time_limit", "MS", "An API query (summary, reports, spoofing...) runs at most this long; past it the answer is 503 with Retry-After (default 2000)", &C::api_time_limit_ms, 1, 60'000),
      list("--http-host", "http_hosts", "NAME", "A name the API and the page answer under (Host; repeatable). Always: localhost, loopback addresses, the listen address and the address a connection came to; others get 421", &C::http_hosts),
      boolean("-q,--quiet", "quiet", "No start-up lines and no summary at the end", &C::quiet),
  };
  for (auto& row : settings_of_member(log_settings(), &C::log)) t.push_back(std::move(row));
  return t;
  }();
  return table;
}

std::expected<void, std::string> load_receive_toml(const std::string& path, ReceiveConfig& c) {
  const auto text = io::read_text_file(path, kMaxConfigBytes);
  if (!text) return std::unexpected(text.error());
  return load_receive_toml_text(*text, path, c);
}

std::expected<void, std::string> load_receive_toml_text(std::string_view text, const std::string& path,
                                                        ReceiveConfig& c) {
  auto parsed = parse_toml(text, path);
  if (!parsed) return std::unexpected(parsed.error());
  return load_settings(*parsed, path, receive_settings(), setting_sections(sender_settings()), c);  // the sender's are left to it
}

std::expected<CheckedConfig, std::string> check(const ReceiveConfig& c) {
  CheckedConfig out;
  if (c.my_prefixes.size() > 64) return std::unexpected("--my-prefix: at most 64 prefixes");
  for (const auto& p : c.my_prefixes) {
    auto cidr = Cidr::parse(p);
    if (!cidr) return std::unexpected("--my-prefix: '" + p + "' is not a prefix like 192.0.2.0/24 or 2001:db8::/32 (host bits zero)");
    out.my_prefixes.push_back(*cidr);
  }
  if (c.api_allow.size() > 64) return std::unexpected("--api-allow: at most 64 prefixes");
  for (const auto& p : c.api_allow) {
    auto cidr = Cidr::parse(p);
    if (!cidr) return std::unexpected("--api-allow: '" + p + "' is not a prefix like 127.0.0.0/8 (host bits zero)");
    out.api_allow.push_back(*cidr);
  }
  for (auto [flag, addr, used] : {std::tuple{"--bind", &c.bind, c.udp_port != kOff},
                                  std::tuple{"--http-bind", &c.http_bind, c.http_port != kOff || !c.tls_cert.empty()},
                                  std::tuple{"--own-exports-bind", &c.own_exports_bind, c.own_exports_port != kOff}})
    if (used && !core::IpAddress::parse(*addr)) return std::unexpected(std::string(flag) + ": '" + *addr + "' is not an IP address");
  if (c.tls_cert.empty() != c.tls_key.empty()) return std::unexpected("--tls-cert and --tls-key go together");
  if (!c.capture_file.empty() && !c.capture_interface.empty())
    return std::unexpected("--capture-file and --capture-interface exclude each other");
  if (c.db.empty()) return std::unexpected("--db: a path is needed");
  if (!report::json::valid_utf8(c.contact.email) || !report::json::valid_utf8(c.contact.identity) ||
      c.contact.email.size() > 256 || c.contact.identity.size() > 256)
    return std::unexpected("--email and --identity must be UTF-8 text of at most 256 bytes");
  const bool https = !c.tls_cert.empty() && c.https_port != kOff;
  if (c.udp_port == kOff && c.http_port == kOff && !https && c.capture_file.empty() && c.capture_interface.empty())
    return std::unexpected("no input: every one of UDP, HTTP, HTTPS and capture is off");
  return out;
}

std::expected<EncryptionKeySpec, std::string> parse_encryption_key(std::string_view text) {
  EncryptionKeySpec out;
  const auto comma = text.find(",not_");
  out.path = std::string(text.substr(0, comma));
  if (out.path.empty()) return std::unexpected("no path");
  std::string_view rest = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  bool before = false, after = false;
  while (!rest.empty()) {
    const auto next = rest.find(',');
    const std::string_view item = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    const auto eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::nullopt
                                                    : core::parse_whole<std::int64_t>(item.substr(eq + 1), 0, INT64_MAX - 1);
    if (!value) return std::unexpected("'" + std::string(item) + "' is not not_before=UNIX_S or not_after=UNIX_S");
    if (name == "not_before" && !before) out.validity.not_before = *value, before = true;
    else if (name == "not_after" && !after) out.validity.not_after = *value, after = true;
    else return std::unexpected("'" + std::string(item) + "': want not_before= and not_after= at most once each");
  }
  if (out.validity.not_before >= out.validity.not_after) return std::unexpected("not_before is not before not_after");
  return out;
}

}  // namespace overflowd::app

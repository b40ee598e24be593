// The receiver's settings: one table (receive_config.cpp) names each setting's flag, its key in the
// [receive] section of a TOML file, its help text and how its value is checked, so the command
// line and the file cannot drift apart. Flags override the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/report_port.hpp"
#include "app/config.hpp"
#include "app/settings.hpp"
#include "receive/prefix.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"

namespace overflowd::app {

using receive::Cidr;

inline constexpr int kOff = -1;  // a port that is switched off

struct ReceiveConfig {
  std::string db = "overflowd-receive.db";
  int udp_port = core::kReportPort;
  std::string bind = "::";
  int http_port = 80;
  std::string http_bind = "::";
  int https_port = 443;  // used only with tls_cert and tls_key
  std::string tls_cert, tls_key;
  std::string capture_file, capture_interface, capture_filter;
  std::string key_path;
  std::string user;  // --user: as root, switch to this user once the sockets are bound
  std::string metrics_listen;  // --metrics: GET /metrics also on this ADDRESS:PORT (to --api-allow); empty: off
  std::vector<std::string> encryption_keys;  // X25519 key files, each PATH[,not_before=S][,not_after=S]
  std::vector<std::string> rotations;        // rotation statements of my identity key, published
  report::Contact contact;
  std::vector<std::string> my_prefixes;
  std::vector<std::string> api_allow = {"127.0.0.0/8", "::1"};
  int own_exports_port = kOff;
  std::string own_exports_bind = "::";
  std::string own_exports_file;
  std::int64_t own_window_s = 3600;
  std::int64_t own_window_max_flows = 1'000'000;
  std::int64_t spoof_tolerance_s = 300;
  std::int64_t batch_size = 1000;
  std::int64_t batch_ms = 200;
  std::int64_t queue = 100'000;
  std::int64_t queue_mib = 256;
  std::int64_t verify_threads = 0;  // 0: one per core
  double retention_days = 30;
  std::int64_t max_reports = 1'000'000;
  std::int64_t max_invalid = 10'000;
  std::int64_t invalid_per_s = 100;
  std::int64_t max_db_mib = 0;
  std::int64_t max_alerts = 100'000;
  std::string alert_webhook;  // telling the operator (src/notify/)
  std::int64_t alert_webhook_timeout_ms = 5000;
  bool alert_syslog = false;
  std::int64_t alert_rate = 60;  // per minute
  std::int64_t max_keys = 1'000'000;
  std::int64_t skew_future_s = 86'400;
  std::int64_t skew_past_s = 30 * 86'400;
  std::int64_t http_threads = 32;
  std::int64_t max_connections = 4096;
  std::int64_t max_connections_per_client = 64;
  std::int64_t http_timeout_s = 5;
  std::int64_t http_request_deadline_s = 10;
  std::int64_t http_keepalive_s = 5;
  std::int64_t http_keepalive_requests = 100;
  std::int64_t http_max_request_line = 4096;
  std::int64_t http_max_header_bytes = 8192;
  std::int64_t http_max_headers = 64;
  std::int64_t max_body_bytes = 64 * 1024;  // a POST body at most, whatever the framing
  std::int64_t api_time_limit_ms = 2000;    // an API query at most; past it, 503 with Retry-After
  std::vector<std::string> http_hosts;  // names the API answers under (Host), besides the built-in ones
  bool quiet = false;
  LogSettings log;  // [log] format, level: the same rows as the sender's (app/log_settings.hpp)
};

// The receiver's settings, one row each, all in [receive] (app/settings.hpp).
using ReceiveSetting = Setting<ReceiveConfig>;
[[nodiscard]] const std::vector<ReceiveSetting>& receive_settings();

// Reads the [receive] section of a TOML file. Unknown keys in it are errors; the sender's sections
// (those of sender_settings()) are left to the sender; any other section is an error.
// A file over kMaxConfigBytes is refused unread.
[[nodiscard]] std::expected<void, std::string> load_receive_toml(const std::string& path, ReceiveConfig& config);
// The same over TOML text already read; `name` stands for the file in messages. Never throws on
// any text (syntax errors become the error string).
[[nodiscard]] std::expected<void, std::string> load_receive_toml_text(std::string_view text, const std::string& name,
                                                                      ReceiveConfig& config);

// Checks what the table cannot check alone (combinations, addresses, at least one input).
struct CheckedConfig {
  std::vector<Cidr> my_prefixes;
  std::vector<Cidr> api_allow;
};
[[nodiscard]] std::expected<CheckedConfig, std::string> check(const ReceiveConfig& config);

// One --encryption-key: PATH, then optionally ",not_before=UNIX_S" and/or ",not_after=UNIX_S"
// (the key opens sealed reports received in [not_before, not_after); unbounded when not given).
struct EncryptionKeySpec {
  std::string path;
  report::Validity validity;
};
[[nodiscard]] std::expected<EncryptionKeySpec, std::string> parse_encryption_key(std::string_view text);

}  // namespace overflowd::app

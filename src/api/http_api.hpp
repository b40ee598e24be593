// The receiver's HTTP(S) side (routes on api::HttpServer, http_server.hpp):
//   POST /.well-known/overflowd   one report, or several one per line (full or compact form);
//                                 answered only after the reports are committed (2xx = durable)
//   GET  /.well-known/overflowd   discovery: the receiver's public keys and contact
//   GET  /api/reports, /api/keys, /api/alerts, /api/summary, /api/spoofing, /api/invalid, /api/stats
//   GET  /                        the page (static HTML and JS in the binary, nothing external)
// The API and the page answer only addresses in --api-allow (loopback by default); reports are
// taken from anyone; the API and the page also need a Host this receiver serves. Bodies are capped at
// 64 KiB whatever the framing, compressed bodies refused; the server's limits (ServerLimits) bound
// connections, time per request and per read, header sizes and keep-alive.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api/http_server.hpp"
#include "receive/ingest.hpp"
#include "receive/prefix.hpp"
#include "receive/spoof_window.hpp"
#include "store/queries.hpp"
#include "store/writer.hpp"

namespace overflowd::api {

inline constexpr std::size_t kMaxReportsPerRequest = 512;

// What the HTTP side is configured with (from the receive command's settings, src/app/).
struct ApiConfig {
  std::string tls_cert, tls_key;  // HTTPS
  ServerLimits limits;  // the HTTP server's (workers, connections, time-outs, sizes, Host names)
  std::vector<receive::Cidr> api_allow;    // who may read the API and the page
  std::vector<receive::Cidr> my_prefixes;  // for the summary and spoofing views
  std::size_t max_body = 64 * 1024;        // a POST body at most, whatever the framing (--max-body-bytes)
};

struct HttpContext {
  store::Writer& writer;
  store::ReportQueries& queries;
  const ApiConfig& config;
  receive::SkewPolicy skew;
  nlohmann::json discovery;
  store::SpoofRecheck recheck;
  std::function<nlohmann::json()> runtime_stats;  // writer, inputs, window
  receive::VerifiedCache* cache = nullptr;         // signatures already checked (shared with the verifier)
  // The signed published document (report/document.hpp), served by GET /.well-known/overflowd;
  // when unset, `discovery` is served as it is.
  std::function<std::string()> document;
  // Who may read the API and the page, when it can change while running (a reload); unset:
  // config.api_allow.
  std::function<bool(const core::IpAddress&)> api_allowed;
};

// A server (HTTPS when cert and key are given) with every route; not yet bound. An error says why
// (a certificate that does not load).
[[nodiscard]] std::expected<std::unique_ptr<HttpServer>, std::string> make_http_server(HttpContext& ctx, bool tls);

// Binds (port 0: a free one) and returns the port, or an error.
[[nodiscard]] std::expected<int, std::string> bind_http(HttpServer& server, const std::string& address, int port);
// Serves until stop_http(); call on a thread of its own.
void serve_http(HttpServer& server);
void stop_http(HttpServer& server);

// The page, embedded.
[[nodiscard]] const std::string& web_page();

}  // namespace overflowd::api

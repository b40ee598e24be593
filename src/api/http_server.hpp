// A small event-driven HTTP/1.1 server (Boost.Beast on Asio; HTTPS with asio::ssl), generic: it
// knows routes, limits and counters, nothing of reports. One thread runs the event loop (accepts,
// TLS handshakes, reads, writes, timers), so an idle or slow connection costs a socket and a few
// KiB, never a thread; handlers run on a small pool of worker threads, so a handler that waits
// (a POST waiting for its batch to commit) does not hold the loop.
//
// What a request must satisfy, checked before its body is read (refused: answered and the
// connection closed, each refusal a named counter):
//   - the whole request (headers and body) within `request_deadline`, and no read waits longer than
//     `read_timeout` (slowloris);
//   - request line within `max_request_line`, request line plus headers within `max_header_bytes`,
//     at most `max_headers` header fields (a line without a newline is refused at the byte limit);
//   - a body within the route's limit whatever the framing (Content-Length or chunked);
//   - a path the server has (404) and a method that path serves (405 with Allow; unknown methods
//     501); compressed bodies (Content-Encoding) 415;
//   - Host naming this server (421) on routes that check it: configured names, localhost, loopback
//     literals, the listen address and the address the connection came to;
//   - the route's allow-list hook (403).
// Connections are capped per client address and in all (beyond: closed at once), keep-alive is
// bounded in requests and in idle time, and `Range` is never honoured (answers are always whole).
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ip_address.hpp"
#include "core/counters.hpp"

namespace overflowd::api {

// One request, read whole (bounded by the limits below).
struct Request {
  std::string method;  // "GET"
  std::string target;  // "/api/reports?limit=10" as sent
  std::string path;    // "/api/reports"
  std::vector<std::pair<std::string, std::string>> params;   // the query, percent-decoded
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, names as sent
  std::string body;
  core::IpAddress peer;  // unmapped (an IPv4 client on a dual-stack socket is IPv4)

  [[nodiscard]] bool has_param(std::string_view name) const;
  [[nodiscard]] std::string get_param_value(std::string_view name) const;  // the first, or ""
  [[nodiscard]] bool has_header(std::string_view name) const;              // names case-insensitive
  [[nodiscard]] std::string get_header_value(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones

  void set_content(std::string b, std::string type) {
    body = std::move(b);
    content_type = std::move(type);
  }
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

using Handler = std::function<void(const Request&, Response&)>;

struct RouteOptions {
  // Who may use the route (nullptr: anyone); refused: 403.
  std::function<bool(const core::IpAddress&)> allow;
  bool check_host = true;    // Host must name this server (421 otherwise)
  std::size_t max_body = 0;  // 0: the server's default
};

struct ServerLimits {
  std::int64_t request_deadline_ms = 10'000;  // a whole request: headers and body
  std::int64_t read_timeout_ms = 5'000;       // any one read (and write)
  std::int64_t keepalive_idle_ms = 5'000;     // waiting for the next request on a kept connection
  std::int64_t keepalive_requests = 100;      // requests per connection
  std::size_t max_request_line = 4096;
  std::size_t max_header_bytes = 8192;        // request line and headers
  std::size_t max_headers = 64;
  std::size_t max_body = 64 * 1024;           // the default of routes that take a body
  std::size_t max_connections = 4096;         // in all (capped by RLIMIT_NOFILE at bind)
  std::size_t max_connections_per_client = 64;
  std::size_t workers = 8;                    // threads running handlers
  std::size_t max_pending = 0;                // handlers waiting for a worker (0: 64 per worker); beyond: 503
  std::vector<std::string> hosts;             // names accepted in Host besides the built-in ones
  std::vector<std::pair<std::string, std::string>> default_headers;  // on every answer
};

class HttpServer {
public:
  // A server (HTTPS when cert and key are given); an error says why (a certificate that does not
  // load, a limit out of range).
  [[nodiscard]] static std::expected<std::unique_ptr<HttpServer>, std::string> create(const ServerLimits& limits,
                                                                                      const std::string& tls_cert = {},
                                                                                      const std::string& tls_key = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Before run(). A method is "GET", "POST", ... The same path may take several methods.
  void add_route(const std::string& method, const std::string& path, Handler handler, RouteOptions options = {});
  // Listens (port 0: a free one) and returns the port; several binds are allowed.
  [[nodiscard]] std::expected<int, std::string> bind(const std::string& address, int port);
  // Serves until stop(); call on a thread of its own.
  void run();
  // From any thread: stops accepting, closes every connection, waits for running handlers.
  void stop();
  [[nodiscard]] bool running() const noexcept;
  [[nodiscard]] bool tls() const noexcept;

  // Named counters ("http.connections", "http.refused.<reason>", ...), the open connections too.
  [[nodiscard]] std::vector<core::NamedCount> counters() const;

  struct Impl;

private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Pure helpers (fuzzed: fuzz/http_request_fuzz.cpp).
// The query of a target, split and percent-decoded ('+' is a space); malformed escapes kept as sent.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
// The host of a Host header value, without the port and brackets, lower case; empty if malformed.
[[nodiscard]] std::string host_of(std::string_view host_header);

}  // namespace overflowd::api

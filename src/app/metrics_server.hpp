// The sender's metrics endpoint (--metrics ADDRESS:PORT, [metrics] listen): GET /metrics answers
// the Prometheus text exposition that `render` makes, served by api::HttpServer (the receiver's
// server type) on a thread of its own. Anything else is 404.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "core/ip_address.hpp"

namespace overflowd::api {
class HttpServer;
}

namespace overflowd::app {

class MetricsServer {
public:
  // Binds (port 0: a free one) and starts serving; an error says why (a bad address, a port in use).
  // `render` gets the server, whose own counters are metrics too (add_http_server_counts).
  // `allow` (may be empty: anyone) says which peers may scrape; others get 403.
  [[nodiscard]] static std::expected<std::unique_ptr<MetricsServer>, std::string> start(
      const std::string& listen, std::function<std::string(const api::HttpServer&)> render,
      std::function<bool(const core::IpAddress&)> allow = {});
  ~MetricsServer();  // stops serving and joins its thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  [[nodiscard]] const std::string& where() const noexcept;  // "[127.0.0.1]:9500"

  struct Impl;

private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The content type of the text exposition.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace overflowd::app

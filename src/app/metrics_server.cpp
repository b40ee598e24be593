#include "app/metrics_server.hpp"

#include <fmt/core.h>

#include <chrono>
#include <thread>

#include "api/http_server.hpp"
#include "io/replay.hpp"

namespace overflowd::app {

struct MetricsServer::Impl {
  std::unique_ptr<api::HttpServer> server;
  std::string where;
  std::jthread thread;
};

std::expected<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(
    const std::string& listen, std::function<std::string(const api::HttpServer&)> render,
    std::function<bool(const core::IpAddress&)> allow) {
  const auto target = io::parse_target(listen, "--metrics", 0);  // port 0: any free one (the log says which)
  if (!target) return std::unexpected(target.error());
  // The receiver's server type (api::HttpServer), small: a scrape at a time is the use.
  api::ServerLimits limits;
  limits.workers = 2;
  limits.max_connections = 64;
  limits.max_connections_per_client = 16;
  limits.max_body = 0;
  limits.default_headers = {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}, {"Server", "overflowd"}};
  auto server = api::HttpServer::create(limits);
  if (!server) return std::unexpected("--metrics: " + server.error());
  auto impl = std::make_unique<Impl>();
  impl->server = std::move(*server);
  const api::HttpServer* self = impl->server.get();
  // Host must name this server (DNS rebinding): scrape it by address, as Prometheus's static
  // configurations do.
  api::RouteOptions options;
  options.allow = std::move(allow);
  impl->server->add_route("GET", "/metrics", [render = std::move(render), self](const api::Request&, api::Response& res) {
    res.set_content(render(*self), kMetricsContentType);
  }, options);
  const std::string address = target->address.unmapped().to_string();
  auto bound = impl->server->bind(address, target->port);
  if (!bound) return std::unexpected("--metrics: " + bound.error());
  impl->where = target->address.unmapped().is_v4() ? fmt::format("{}:{}", address, *bound) : fmt::format("[{}]:{}", address, *bound);
  api::HttpServer* s = impl->server.get();
  impl->thread = std::jthread([s] { s->run(); });
  for (int i = 0; i < 500 && !s->running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& MetricsServer::where() const noexcept { return impl_->where; }

}  // namespace overflowd::app

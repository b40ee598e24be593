#include "app/metrics_server.hpp"

#include <fmt/core.h>
#include <httplib.h>

#include <thread>

#include "api/http_api.hpp"
#include "io/replay.hpp"

namespace overflowd::app {

struct MetricsServer::Impl {
  httplib::Server server;
  std::string where;
  std::jthread thread;
};

std::expected<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(const std::string& listen,
                                                                               std::function<std::string()> render) {
  const auto target = io::parse_target(listen);
  if (!target) return std::unexpected("--metrics: " + target.error());
  auto impl = std::make_unique<Impl>();
  impl->server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  impl->server.set_read_timeout(5, 0);
  impl->server.set_write_timeout(5, 0);
  impl->server.set_payload_max_length(4096);
  impl->server.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), kMetricsContentType);
  });
  const std::string address = target->address.unmapped().to_string();
  auto bound = api::bind_http(impl->server, address, target->port);
  if (!bound) return std::unexpected("--metrics: " + bound.error());
  impl->where = target->address.unmapped().is_v4() ? fmt::format("{}:{}", address, *bound) : fmt::format("[{}]:{}", address, *bound);
  httplib::Server* server = &impl->server;
  impl->thread = std::jthread([server] { api::serve_http(*server); });
  for (int i = 0; i < 500 && !server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  api::stop_http(impl_->server);
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& MetricsServer::where() const noexcept { return impl_->where; }

}  // namespace overflowd::app

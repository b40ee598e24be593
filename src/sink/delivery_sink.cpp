#include "sink/delivery_sink.hpp"

#include "core/clock.hpp"

#include <time.h>

namespace overflowd::sink {

std::expected<std::unique_ptr<DeliverySink>, std::string> DeliverySink::open(const DeliveryConfig& config) {
  std::vector<std::unique_ptr<Transport>> transports;
  if (config.udp) {
    auto udp = UdpSender::open(config.udp_sender);
    if (!udp) return std::unexpected(udp.error());
    transports.push_back(std::move(*udp));
  }
  if (config.http || config.https) {
    HttpSenderConfig h = config.http_sender;
    h.http = config.http;
    h.https = config.https;
    auto http = HttpSender::open(h);
    if (!http) return std::unexpected(http.error());
    transports.push_back(std::move(*http));
  }
  return std::make_unique<DeliverySink>(config, std::move(transports));
}

DeliverySink::DeliverySink(const DeliveryConfig& config, std::vector<std::unique_ptr<Transport>> transports)
    : to_(config.to), guard_(config.guard), transports_(std::move(transports)) {}

void DeliverySink::write(const core::FlowRecord& flow, const report::SignedReport& report) {
  write_at(flow, report, core::system_clock().monotonic_ns());
}

void DeliverySink::write_at(const core::FlowRecord& flow, const report::SignedReport& report, std::int64_t now_ns) {
  const core::IpAddress* targets[2] = {nullptr, nullptr};
  if (to_ != DeliverTo::dst) targets[0] = &flow.src;
  if (to_ != DeliverTo::src) targets[1] = &flow.dst;
  std::lock_guard lock(mutex_);
  for (const core::IpAddress* t : targets) {
    if (!t) continue;
    const core::IpAddress address = t->unmapped();
    const auto priority = report.suspicious ? guard::Priority::suspicious : guard::Priority::informational;
    if (guard_.admit(flow, address, now_ns, priority) != guard::Verdict::admitted) continue;
    for (auto& transport : transports_) transport->send(address, report);
  }
}

void DeliverySink::flush() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  for (auto& transport : transports_) transport->finish();
}

void DeliverySink::append_counters(std::vector<core::NamedCount>& out) const {
  std::lock_guard lock(mutex_);
  guard_.counters().append_to(out);
  for (const auto& transport : transports_) transport->append_counters(out);
}

}  // namespace overflowd::sink

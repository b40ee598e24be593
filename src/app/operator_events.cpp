#include "app/operator_events.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace overflowd::app {

namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

notify::Event alert_event(const store::NewAlert& a) {
  nlohmann::json detail = nlohmann::json::parse(a.detail, nullptr, false);
  if (detail.is_discarded()) detail = a.detail;
  const nlohmann::json j = {{"type", "alert"}, {"kind", a.kind}, {"key", a.key}, {"report_id", a.report_id},
                            {"created", static_cast<double>(a.created_ns) / 1e9}, {"detail", detail}};
  return {"alert", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          fmt::format("alert: {} for key {} (report {}): {}", a.kind, a.key, a.report_id, a.detail)};
}

notify::Event suspect_event(const store::Item& item, const store::Accepted& acc) {
  const store::ReportFields& f = acc.fields;
  const std::string key = hex(acc.key);
  const nlohmann::json j = {{"type", "spoof_suspect"},
                            {"key", key},
                            {"email", f.email},
                            {"identity", f.identity},
                            {"saddr", f.saddr.to_string()},
                            {"daddr", f.daddr.to_string()},
                            {"sport", f.sport},
                            {"dport", f.dport},
                            {"protocol", f.protocol},
                            {"stime", f.stime},
                            {"etime", f.etime},
                            {"pcount", f.pcount},
                            {"bcount", f.bcount},
                            {"input", store::to_string(item.arrival.input)},
                            {"peer", item.arrival.peer},
                            {"received", static_cast<double>(item.arrival.received_ns) / 1e9}};
  return {"spoof_suspect", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          fmt::format("spoofing suspect: {} -> {} proto {} ports {} -> {}, not seen by my own exports; reported by {} <{}> (key {})",
                      f.saddr.to_string(), f.daddr.to_string(), f.protocol, f.sport, f.dport, f.identity, f.email, key)};
}

}  // namespace

store::BatchObserver operator_events(notify::Notifier& notifier) {
  return [&notifier](std::span<const store::Item> items, const store::BatchResult& result) {
    for (const auto& a : result.new_alerts) notifier.notify(alert_event(a));
    for (std::size_t i = 0; i < items.size() && i < result.outcomes.size(); ++i) {
      if (items[i].spoof != store::SpoofStatus::suspect || result.outcomes[i] != store::Outcome::stored) continue;
      if (const auto* acc = std::get_if<store::Accepted>(&items[i].verdict)) notifier.notify(suspect_event(items[i], *acc));
    }
  };
}

}  // namespace overflowd::app

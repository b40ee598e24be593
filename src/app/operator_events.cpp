#include "app/operator_events.hpp"

#include <fmt/core.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>
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

// One event for `count` suspects from one source; `acc` is one of them (the example).
notify::Event suspect_event(const store::Item& item, const store::Accepted& acc, std::int64_t count, std::int64_t window_s) {
  const store::ReportFields& f = acc.fields;
  const std::string key = hex(acc.key);
  const nlohmann::json j = {{"type", "spoof_suspect"},
                            {"count", count},
                            {"window_s", window_s},
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
          fmt::format("spoofing suspect: {} -> {} proto {} ports {} -> {}, not seen by my own exports; reported by {} <{}> (key {}); "
                      "{} report{} from this source (one event per source per {} s)",
                      f.saddr.to_string(), f.daddr.to_string(), f.protocol, f.sport, f.dport, f.identity, f.email, key,
                      count, count == 1 ? "" : "s", window_s)};
}

// A source's window: when it opened, and what is held since (told when it ends).
struct SourceWindow {
  std::int64_t opened_ns = 0;
  std::int64_t held = 0;
  std::optional<std::pair<store::Item, store::Accepted>> example;  // the newest held
};

// The held counts and open windows of every source, shared by the observer, tick and flush.
struct SuspectWindows {
  std::mutex m;
  std::map<std::string, SourceWindow> sources;
  // Tells what the windows that ended by `now` held (every window if `all`), and closes them.
  void close(notify::Notifier& notifier, std::int64_t now, std::int64_t window_ns, std::int64_t window_s, bool all) {
    for (auto it = sources.begin(); it != sources.end();) {
      if (!all && now - it->second.opened_ns < window_ns) {
        ++it;
        continue;
      }
      if (it->second.held > 0 && it->second.example)
        notifier.notify(suspect_event(it->second.example->first, it->second.example->second, it->second.held, window_s));
      it = sources.erase(it);
    }
  }
};

}  // namespace

OperatorEvents operator_events(notify::Notifier& notifier, std::chrono::milliseconds window, const core::Clock& clock) {
  auto state = std::make_shared<SuspectWindows>();
  const std::int64_t window_ns = std::chrono::nanoseconds(window).count();
  const std::int64_t window_s = std::chrono::duration_cast<std::chrono::seconds>(window).count();
  OperatorEvents out;
  out.tick = [&notifier, &clock, state, window_ns, window_s] {
    std::lock_guard lock(state->m);
    state->close(notifier, clock.wall_ns(), window_ns, window_s, false);
  };
  out.flush = [&notifier, state, window_ns, window_s] {
    std::lock_guard lock(state->m);
    state->close(notifier, 0, window_ns, window_s, true);
  };
  out.observer = [&notifier, &clock, state, window_ns, window_s](std::span<const store::Item> items,
                                                                const store::BatchResult& result) {
    for (const auto& a : result.new_alerts) notifier.notify(alert_event(a));
    const std::int64_t now = clock.wall_ns();
    std::lock_guard lock(state->m);
    auto* sources = &state->sources;
    // Windows that ended: what they held is told (one event each), and they close.
    state->close(notifier, now, window_ns, window_s, false);
    // This batch's suspects, by source, in the order they came.
    std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < items.size() && i < result.outcomes.size(); ++i) {
      if (items[i].spoof != store::SpoofStatus::suspect || result.outcomes[i] != store::Outcome::stored) continue;
      const auto* acc = std::get_if<store::Accepted>(&items[i].verdict);
      if (!acc) continue;
      const std::string saddr = acc->fields.saddr.to_string();
      auto [it, fresh] = index.emplace(saddr, groups.size());
      if (fresh) groups.emplace_back(saddr, std::vector<std::size_t>{});
      groups[it->second].second.push_back(i);
    }
    for (const auto& [saddr, members] : groups) {
      const store::Item& last = items[members.back()];
      const auto& last_acc = std::get<store::Accepted>(last.verdict);
      if (auto open = sources->find(saddr); open != sources->end()) {
        open->second.held += static_cast<std::int64_t>(members.size());
        open->second.example.emplace(last, last_acc);
        continue;
      }
      const store::Item& first = items[members.front()];
      notifier.notify(suspect_event(first, std::get<store::Accepted>(first.verdict), static_cast<std::int64_t>(members.size()), window_s));
      if (window_ns > 0 && sources->size() < kMaxSuspectSources) sources->emplace(saddr, SourceWindow{now, 0, std::nullopt});
    }
  };
  return out;
}

}  // namespace overflowd::app

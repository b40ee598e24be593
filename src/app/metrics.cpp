#include "app/metrics.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "app/version.hpp"

namespace overflowd::app {

using core::metrics::Exposition;
using core::metrics::Labels;
using core::metrics::Type;

namespace {

bool is_protocol(std::string_view s) {
  for (std::size_t p = 0; p < core::kProtocolCount; ++p)
    if (s == core::to_string(static_cast<core::Protocol>(p))) return true;
  return false;
}

std::string underscores(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) c = '_';
  return out;
}

void counter(Exposition& e, std::string_view name, std::string_view help, Labels labels, std::uint64_t v) {
  e.add(name, Type::counter, help, labels, static_cast<double>(v));
}

}  // namespace

void add_sender_counts(Exposition& e, std::span<const core::NamedCount> counts) {
  std::uint64_t suspicious = 0;  // of the reports, SUSPICIOUS ones (the summary shows it only when non-zero)
  for (const auto& c : counts)
    if (c.name == "policy.suspicious_reports") suspicious = c.value;
  for (const auto& c : counts) {
    const std::string_view n = c.name;
    const auto dot = n.find('.');
    const std::string_view head = n.substr(0, dot);
    const std::string_view rest = dot == std::string_view::npos ? std::string_view{} : n.substr(dot + 1);
    const std::uint64_t v = c.value;
    if (n == "flows") {
      counter(e, "overflowd_flows_total", "Flow records decoded.", {}, v);
    } else if (n == "reports") {
      const char* help = "Reports signed and written, by class (SUSPICIOUS: the suspicion policy raised their flow's chance).";
      counter(e, "overflowd_reports_total", help, {{"class", "INFORMATIONAL"}}, v - std::min(v, suspicious));
      counter(e, "overflowd_reports_total", help, {{"class", "SUSPICIOUS"}}, std::min(v, suspicious));
    } else if (head == "source") {
      if (rest == "packets") counter(e, "overflowd_source_packets_total", "Frames read from a capture, or datagrams received.", {}, v);
      else if (rest == "datagrams") counter(e, "overflowd_source_datagrams_total", "UDP payloads handed to the decoders.", {}, v);
      else if (rest == "kernel_drops")
        counter(e, "overflowd_kernel_drops_total", "Datagrams the kernel dropped (receive buffer full).", {}, v);
      else if (rest.starts_with("skipped."))
        counter(e, "overflowd_source_skipped_total", "Frames the source skipped, by reason.", {{"reason", std::string(rest.substr(8))}}, v);
      else counter(e, "overflowd_" + underscores(n) + "_total", "Summary counter " + std::string(n) + ".", {}, v);
    } else if (head == "datagrams" && (rest == "decoded" || rest == "refused")) {
      counter(e, "overflowd_datagrams_handled_total", "Datagrams a decoder accepted or refused whole.",
              {{"result", rest == "decoded" ? "accepted" : "refused"}}, v);
    } else if (is_protocol(head)) {
      const Labels p = {{"protocol", std::string(head)}};
      if (rest == "datagrams") counter(e, "overflowd_datagrams_total", "Datagrams accepted, by protocol.", p, v);
      else if (rest == "records") counter(e, "overflowd_records_total", "Flow records produced, by protocol.", p, v);
      else if (rest == "skipped") counter(e, "overflowd_records_skipped_total", "Samples or sets skipped on purpose.", p, v);
      else if (rest.starts_with("rejected."))
        counter(e, "overflowd_datagrams_refused_total", "Datagrams refused, by protocol and reason.",
                {{"protocol", std::string(head)}, {"reason", std::string(rest.substr(9))}}, v);
      else
        counter(e, "overflowd_records_noted_total", "Flow records kept with a field the exporter did not give.",
                {{"protocol", std::string(head)}, {"note", std::string(rest)}}, v);
    } else if (head == "templates") {
      counter(e, "overflowd_template_evictions_total", "v9/IPFIX domains and templates evicted for other exporters.",
              {{"what", rest == "evicted_domains" ? "domains" : rest == "evicted_templates" ? "templates" : std::string(rest)}}, v);
    } else if (head == "sampler") {
      if (rest == "considered") counter(e, "overflowd_sampler_considered_total", "Flows the sampler drew for.", {}, v);
      else if (rest == "kept") counter(e, "overflowd_sampler_kept_total", "Flows the sampler kept.", {}, v);
      else
        counter(e, "overflowd_sampler_skipped_total", "Flows never reported, by reason.",
                {{"reason", std::string(rest.starts_with("skipped.") ? rest.substr(8) : rest)}}, v);
    } else if (head == "guard") {
      const std::string verdict(rest.starts_with("suppressed.") ? rest.substr(11) : rest);
      counter(e, "overflowd_guard_total", "The delivery guard's verdicts, one per (report, endpoint).", {{"verdict", verdict}}, v);
    } else if (head == "udp" || head == "http" || head == "https") {
      counter(e, "overflowd_delivery_total", "Reports handed to a transport, by outcome.",
              {{"transport", std::string(head)}, {"result", underscores(rest)}}, v);
    } else if (head == "discovery") {
      // Levels are gauges; lookups by outcome and refusals by reason are labelled counters.
      if (rest == "in_flight" || rest == "cache.entries" || rest == "cache.entries_max" || rest == "cache.capacity")
        e.add("overflowd_discovery_" + underscores(rest), Type::gauge, "Discovery state now: " + std::string(n) + ".", {},
              static_cast<double>(v));
      else if (rest == "lookups.started")
        counter(e, "overflowd_discovery_lookups_started_total", "Discovery lookups started.", {}, v);
      else if (rest.starts_with("lookups."))
        counter(e, "overflowd_discovery_lookups_total", "Discovery lookups ended, by outcome.",
                {{"outcome", std::string(rest.substr(8))}}, v);
      else if (rest.starts_with("refused."))
        counter(e, "overflowd_discovery_refused_total", "Discovery lookups not started, by reason.",
                {{"reason", std::string(rest.substr(8))}}, v);
      else counter(e, "overflowd_discovery_" + underscores(rest) + "_total", "Discovery counter " + std::string(n) + ".", {}, v);
    } else if (head == "worker") {
      const auto d2 = rest.find('.');
      const std::string what(rest.substr(d2 == std::string_view::npos ? rest.size() : d2 + 1));
      counter(e, "overflowd_worker_" + underscores(what) + "_total", "Per worker thread.", {{"worker", std::string(rest.substr(0, d2))}}, v);
    } else {
      counter(e, "overflowd_" + underscores(n) + "_total", "Summary counter " + std::string(n) + ".", {}, v);
    }
  }
}

void add_http_server_counts(Exposition& e, const std::string& listener, std::span<const core::NamedCount> counts) {
  for (const auto& c : counts) {
    std::string_view n = c.name;
    if (n.starts_with("http.")) n.remove_prefix(5);
    const auto v = static_cast<double>(c.value);
    if (n.starts_with("refused."))
      e.add("overflowd_http_refused_total", Type::counter, "HTTP connections or requests refused, by reason.",
            {{"listener", listener}, {"reason", std::string(n.substr(8))}}, v);
    else if (n.starts_with("closed."))
      e.add("overflowd_http_closed_total", Type::counter, "Kept-alive HTTP connections closed, by reason.",
            {{"listener", listener}, {"reason", std::string(n.substr(7))}}, v);
    else if (n == "open_connections" || n == "pending_handlers")
      e.add("overflowd_http_" + std::string(n), Type::gauge, "HTTP server state now.", {{"listener", listener}}, v);
    else
      e.add("overflowd_http_" + underscores(n) + "_total", Type::counter, "HTTP server counter.", {{"listener", listener}}, v);
  }
}

void add_info(Exposition& e, const std::string& command, const std::string& key) {
  e.add("overflowd_info", Type::gauge, "The running overflowd: version, command and public key.",
        {{"version", kVersionLong}, {"command", command}, {"key", key}}, 1);
}

void PipelineSnapshot::publish(const PipelineResult& r) {
  {
    std::lock_guard lock(mutex_);
    latest_ = r;
    ++generation_;
  }
  published_.notify_all();
}

void PipelineSnapshot::finish(const PipelineResult& r) {
  {
    std::lock_guard lock(mutex_);
    latest_ = r;
    finished_ = true;
    ++generation_;
  }
  published_.notify_all();
}

PipelineResult PipelineSnapshot::fresh(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (finished_) return latest_;
  const std::uint64_t before = generation_;
  request.store(true, std::memory_order_relaxed);
  published_.wait_for(lock, wait, [&] { return generation_ != before; });
  return latest_;
}

}  // namespace overflowd::app

#include "core/metrics.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace overflowd::core::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);  // shortest round-trip
}

namespace {
bool name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}
const char* type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
    case Type::untyped: break;
  }
  return "untyped";
}
}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  if (bounds_.size() > kMaxBounds) bounds_.resize(kMaxBounds);
}

void Histogram::observe(double v) noexcept {
  const auto at = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[at].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const double nanos = std::isfinite(v) && v > 0 ? std::min(v * 1e9, 1.8e19) : 0.0;
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::llround(nanos)), std::memory_order_relaxed);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.buckets.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  // The count from the buckets, so that the +Inf bucket and _count agree in one snapshot.
  for (const auto b : s.buckets) s.count += b;
  s.sum = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

std::vector<double> latency_bounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Exposition::Family* Exposition::family(std::string_view name, Type type, std::string_view help) {
  if (!valid_metric_name(name)) return nullptr;
  for (auto& f : families_)
    if (f.name == name) return f.type == type ? &f : nullptr;  // one type per family
  families_.push_back(Family{std::string(name), std::string(help), type, {}});
  return &families_.back();
}

namespace {
bool append_labels(std::string& out, const Labels& labels, const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && !extra) return true;
  out += '{';
  bool first = true;
  auto one = [&](const std::pair<std::string, std::string>& l) {
    if (!valid_label_name(l.first)) return false;
    if (!first) out += ',';
    first = false;
    out += l.first;
    out += "=\"";
    out += escape_label_value(l.second);
    out += '"';
    return true;
  };
  for (const auto& l : labels)
    if (!one(l)) return false;
  if (extra && !one(*extra)) return false;
  out += '}';
  return true;
}
}  // namespace

void Exposition::add(std::string_view name, Type type, std::string_view help, const Labels& labels, double value) {
  Family* f = family(name, type, help);
  if (!f || type == Type::histogram) return;
  std::string line(name);
  if (!append_labels(line, labels)) return;
  f->samples += line + ' ' + format_value(value) + '\n';
}

void Exposition::add_histogram(std::string_view name, std::string_view help, const Labels& labels, const HistogramSnapshot& h) {
  Family* f = family(name, Type::histogram, help);
  if (!f) return;
  for (const auto& l : labels)
    if (l.first == "le") return;
  std::string out;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += i < h.buckets.size() ? h.buckets[i] : 0;
    const std::pair<std::string, std::string> le{"le", i < h.bounds.size() ? format_value(h.bounds[i]) : "+Inf"};
    std::string line = f->name + "_bucket";
    if (!append_labels(line, labels, &le)) return;
    out += line + ' ' + format_value(static_cast<double>(cumulative)) + '\n';
  }
  for (const auto& [suffix, value] : {std::pair<const char*, double>{"_sum", h.sum}, {"_count", static_cast<double>(cumulative)}}) {
    std::string line = f->name + suffix;
    if (!append_labels(line, labels)) return;
    out += line + ' ' + format_value(value) + '\n';
  }
  f->samples += out;
}

std::string Exposition::text() const {
  std::string out;
  for (const auto& f : families_) {
    if (f.samples.empty()) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escape_help(f.help), f.name, type_name(f.type));
    out += f.samples;
  }
  return out;
}

void Registry::add(Collector c) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(c));
}

std::string Registry::render() const {
  Exposition e;
  std::lock_guard lock(mutex_);
  for (const auto& c : collectors_) c(e);
  return e.text();
}

}  // namespace overflowd::core::metrics

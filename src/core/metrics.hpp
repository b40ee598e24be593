// Metrics in the Prometheus text exposition format (version 0.0.4), written by hand: Debian 12's
// prometheus-cpp (1.0) would bring its own HTTP server (civetweb) besides ours, and the format is
// small. A Registry holds collectors (callbacks that read counters the stages already keep);
// render() runs them into an Exposition, which groups samples by family (one HELP and TYPE line
// each, the family's samples together, as the format requires) and escapes label values and help
// text. Histogram is a fixed-bucket, lock-free distribution (atomics) for latencies.
// Names are checked: an invalid metric or label name is a programming error and is skipped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overflowd::core::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { counter, gauge, histogram, untyped };

// Text format escaping: label values escape \, " and newline; HELP text escapes \ and newline.
[[nodiscard]] std::string escape_label_value(std::string_view v);
[[nodiscard]] std::string escape_help(std::string_view v);
// A sample value: integers exactly, other numbers shortest round-trip, "+Inf", "-Inf", "NaN".
[[nodiscard]] std::string format_value(double v);
[[nodiscard]] bool valid_metric_name(std::string_view name) noexcept;
[[nodiscard]] bool valid_label_name(std::string_view name) noexcept;

struct HistogramSnapshot {
  std::vector<double> bounds;          // upper bounds, ascending, without +Inf
  std::vector<std::uint64_t> buckets;  // per bound, not cumulative; one more for +Inf
  double sum = 0;
  std::uint64_t count = 0;
};

class Histogram {
public:
  static constexpr std::size_t kMaxBounds = 24;
  explicit Histogram(std::vector<double> bounds);  // ascending; at most kMaxBounds
  void observe(double v) noexcept;
  [[nodiscard]] HistogramSnapshot snapshot() const;

private:
  std::vector<double> bounds_;
  std::array<std::atomic<std::uint64_t>, kMaxBounds + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_nanos_{0};  // sum in units of 1e-9 (seconds -> ns): exact, lock-free
};

// Seconds: 1 ms .. 10 s, for delivery latencies and commit times.
[[nodiscard]] std::vector<double> latency_bounds();

class Exposition {
public:
  void add(std::string_view family, Type type, std::string_view help, const Labels& labels, double value);
  void add_histogram(std::string_view family, std::string_view help, const Labels& labels, const HistogramSnapshot& h);
  [[nodiscard]] std::string text() const;

private:
  struct Family {
    std::string name, help;
    Type type = Type::untyped;
    std::string samples;
  };
  Family* family(std::string_view name, Type type, std::string_view help);
  std::vector<Family> families_;
};

class Registry {
public:
  using Collector = std::function<void(Exposition&)>;
  void add(Collector c);
  [[nodiscard]] std::string render() const;

private:
  mutable std::mutex mutex_;
  std::vector<Collector> collectors_;
};

}  // namespace overflowd::core::metrics

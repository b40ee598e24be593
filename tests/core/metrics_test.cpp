// The Prometheus text exposition: escaping, family grouping, histograms; and the text checked by
// Prometheus's own parser (promtool check metrics) as the independent reference.
#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace overflowd::core::metrics;

TEST(Metrics, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
}

TEST(Metrics, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12345678901234.0), "12345678901234");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, ChecksNames) {
  EXPECT_TRUE(valid_metric_name("overflowd_flows_total"));
  EXPECT_TRUE(valid_metric_name("a:b"));
  EXPECT_FALSE(valid_metric_name("1abc"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_TRUE(valid_label_name("reason"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("a:b"));
}

TEST(Metrics, GroupsSamplesByFamilyInFirstSeenOrder) {
  Exposition e;
  e.add("b_total", Type::counter, "B.", {{"protocol", "ipfix"}}, 1);
  e.add("a", Type::gauge, "A.", {}, 2);
  e.add("b_total", Type::counter, "B.", {{"protocol", "netflow_v5"}}, 3);
  e.add("bad-name", Type::gauge, "skipped", {}, 4);
  e.add("a", Type::counter, "wrong type: skipped", {}, 5);
  e.add("c", Type::gauge, "bad label: skipped", {{"__x", "1"}}, 6);
  EXPECT_EQ(e.text(),
            "# HELP b_total B.\n# TYPE b_total counter\n"
            "b_total{protocol=\"ipfix\"} 1\nb_total{protocol=\"netflow_v5\"} 3\n"
            "# HELP a A.\n# TYPE a gauge\na 2\n");
}

TEST(Metrics, HistogramIsCumulativeWithInf) {
  Histogram h({0.1, 0.01, 1});  // sorted by the constructor
  h.observe(0.005);
  h.observe(0.01);   // le is inclusive
  h.observe(0.5);
  h.observe(30);
  Exposition e;
  e.add_histogram("lat_seconds", "Latency.", {{"transport", "http"}}, h.snapshot());
  EXPECT_EQ(e.text(),
            "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{transport=\"http\",le=\"0.01\"} 2\n"
            "lat_seconds_bucket{transport=\"http\",le=\"0.1\"} 2\n"
            "lat_seconds_bucket{transport=\"http\",le=\"1\"} 3\n"
            "lat_seconds_bucket{transport=\"http\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{transport=\"http\"} 30.515\n"
            "lat_seconds_count{transport=\"http\"} 4\n");
}

TEST(Metrics, RegistryRunsCollectors) {
  Registry r;
  r.add([](Exposition& e) { e.add("x_total", Type::counter, "X.", {}, 7); });
  r.add([](Exposition& e) { e.add("x_total", Type::counter, "X.", {{"k", "v"}}, 8); });
  EXPECT_EQ(r.render(), "# HELP x_total X.\n# TYPE x_total counter\nx_total 7\nx_total{k=\"v\"} 8\n");
}

// promtool (Debian's prometheus package) parses the text as Prometheus does and lints it.
TEST(Metrics, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  Registry r;
  Histogram h(latency_bounds());
  for (double v : {0.0004, 0.003, 0.2, 7.0, 99.0}) h.observe(v);
  r.add([&h](Exposition& e) {
    e.add("overflowd_datagrams_refused_total", Type::counter, "Datagrams refused, by reason.\nSecond \\ line.",
          {{"protocol", "ipfix"}, {"reason", "a \"quoted\"\nvalue \\ here"}}, 3);
    e.add("overflowd_queue_depth", Type::gauge, "Items queued.", {}, 0);
    e.add_histogram("overflowd_delivery_duration_seconds", "HTTP delivery latency.", {{"transport", "https"}}, h.snapshot());
  });
  const auto path = std::filesystem::temp_directory_path() / ("metrics_test_" + std::to_string(::getpid()) + ".prom");
  { std::ofstream(path) << r.render(); }
  std::string said;
  FILE* p = ::popen(("promtool check metrics < " + path.string() + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buffer[512];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) said.append(buffer, n);
  const int rc = ::pclose(p);
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 0) << said;
}

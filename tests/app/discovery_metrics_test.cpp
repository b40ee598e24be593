// The sender's discovery counters in the Prometheus exposition (src/app/metrics.cpp): the levels
// (cache entries, their maximum, the capacity, lookups in flight) are gauges without `_total`, the
// lookups' outcomes one counter family with an `outcome` label; promtool (Debian's prometheus)
// lints the text when it is installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <string>
#include <vector>

#include "app/metrics.hpp"
#include "discovery/lookups.hpp"

namespace d = overflowd::discovery;
using overflowd::core::NamedCount;

namespace {

std::string exposition() {
  d::LookupsConfig config;
  config.mode = d::Mode::dns;
  d::Lookups lookups(config);
  std::optional<d::Job> job;
  // A lookup started (in flight), then one ended refused: outcomes ok and bad_document show.
  (void)lookups.want(*overflowd::core::IpAddress::parse("203.0.112.7"), 1'800'000'000, 1, job);
  EXPECT_TRUE(job.has_value());
  std::vector<NamedCount> counts;
  lookups.append_counters(counts);
  counts.push_back({"discovery.lookups.bad_document", 2});
  overflowd::core::metrics::Exposition e;
  overflowd::app::add_sender_counts(e, counts);
  return e.text();
}

}  // namespace

TEST(DiscoveryMetrics, LevelsAreGaugesAndLookupsOneFamilyByOutcome) {
  const std::string text = exposition();
  for (const char* level : {"overflowd_discovery_cache_entries", "overflowd_discovery_cache_entries_max",
                            "overflowd_discovery_cache_capacity", "overflowd_discovery_in_flight"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + level + " gauge\n"), std::string::npos) << level << "\n" << text;
    EXPECT_EQ(text.find(std::string(level) + "_total"), std::string::npos) << level;
  }
  EXPECT_NE(text.find("overflowd_discovery_in_flight 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_discovery_cache_capacity 10000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE overflowd_discovery_lookups_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_discovery_lookups_total{outcome=\"ok\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_discovery_lookups_total{outcome=\"bad_document\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_discovery_lookups_started_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_discovery_refused_total{reason=\"budget\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("overflowd_discovery_lookups_ok_total"), std::string::npos) << text;
}

TEST(DiscoveryMetrics, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool is not installed";
  const auto path = std::filesystem::temp_directory_path() / ("discovery_metrics_" + std::to_string(::getpid()) + ".prom");
  {
    std::ofstream out(path);
    out << exposition();
  }
  const std::string command = "promtool check metrics < '" + path.string() + "' 2>&1";
  std::FILE* p = ::popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string said;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) said += buf;
  const int rc = ::pclose(p);
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 0) << said;
}

// The sender's summary counters as metrics: reports by class (issue 14 item 1).
#include "app/metrics.hpp"

#include <gtest/gtest.h>

namespace overflowd::app {
namespace {

TEST(SenderMetrics, ReportsAreSplitByClass) {
  const std::vector<core::NamedCount> counts = {{"reports", 10}, {"policy.suspicious_reports", 3}};
  core::metrics::Exposition e;
  add_sender_counts(e, counts);
  const std::string text = e.text();
  EXPECT_NE(text.find("overflowd_reports_total{class=\"INFORMATIONAL\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_reports_total{class=\"SUSPICIOUS\"} 3\n"), std::string::npos) << text;
}

TEST(SenderMetrics, WithoutAPolicyEveryReportIsInformational) {
  const std::vector<core::NamedCount> counts = {{"reports", 5}};
  core::metrics::Exposition e;
  add_sender_counts(e, counts);
  const std::string text = e.text();
  EXPECT_NE(text.find("overflowd_reports_total{class=\"INFORMATIONAL\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("overflowd_reports_total{class=\"SUSPICIOUS\"} 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace overflowd::app

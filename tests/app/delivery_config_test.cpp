// The [delivery] settings: flags and TOML keys share one parser (set_delivery_option).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "app/config.hpp"

namespace overflowd::app {
namespace {

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

TEST(DeliveryConfig, DefaultsAreOffWithBudgetsOn) {
  const RunConfig c;
  EXPECT_FALSE(c.delivery.any());
  EXPECT_EQ(c.delivery.to, sink::DeliverTo::both);
  ASSERT_TRUE(c.delivery.guard.global);
  EXPECT_EQ(c.delivery.guard.global->per_second, 100);
  ASSERT_TRUE(c.delivery.guard.per_destination);
  EXPECT_EQ(c.delivery.guard.per_destination->per_second, 1);
  EXPECT_EQ(c.delivery.guard.per_destination->burst, 3);
  EXPECT_TRUE(c.delivery.guard.allow.empty());
  EXPECT_EQ(c.delivery.udp_sender.port, 65535);
  EXPECT_EQ(c.delivery.http_sender.path, "/.well-known/overflowd");
  EXPECT_FALSE(c.delivery.http_sender.verify);
}

TEST(DeliveryConfig, DeliverTakesACommaListOfTransports) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "deliver", "udp, https", "--deliver"));
  EXPECT_TRUE(c.delivery.udp);
  EXPECT_FALSE(c.delivery.http);
  EXPECT_TRUE(c.delivery.https);
  ASSERT_TRUE(set_delivery_option(c, "deliver", "none", "--deliver"));
  EXPECT_FALSE(c.delivery.any());
  const auto bad = set_delivery_option(c, "deliver", "udp,smtp", "--deliver");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error(), "--deliver")) << bad.error();
  EXPECT_TRUE(contains(bad.error(), "smtp")) << bad.error();
}

TEST(DeliveryConfig, TheReportPortAlsoSetsTheSamplerAndGuardSkips) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "report_port", "40000", "--report-port"));
  EXPECT_EQ(c.delivery.udp_sender.port, 40000);
  EXPECT_EQ(c.delivery.guard.report_port, 40000);
  EXPECT_EQ(c.sampler.report_port, 40000);
  EXPECT_FALSE(set_delivery_option(c, "report_port", "0", "--report-port"));
  EXPECT_FALSE(set_delivery_option(c, "report_port", "65536", "--report-port"));
}

TEST(DeliveryConfig, BudgetsTakeARateOrOffAndKeepTheirBurst) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "budget_burst", "7", "--budget-burst"));
  ASSERT_TRUE(set_delivery_option(c, "budget", "2.5", "--budget"));
  EXPECT_EQ(c.delivery.guard.global->per_second, 2.5);
  EXPECT_EQ(c.delivery.guard.global->burst, 7);
  ASSERT_TRUE(set_delivery_option(c, "per_destination_budget", "off", "--per-destination-budget"));
  EXPECT_FALSE(c.delivery.guard.per_destination);
  for (const char* bad : {"0", "-1", "nan", "inf", "fast", "", "1e10"})
    EXPECT_FALSE(set_delivery_option(c, "budget", bad, "--budget")) << bad;
  EXPECT_FALSE(set_delivery_option(c, "budget_burst", "0", "--budget-burst"));
}

TEST(DeliveryConfig, AllowAndDenyAppendPrefixesAndClearEmptiesThem) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "allow", "127.0.0.0/8", "--allow-destination"));
  ASSERT_TRUE(set_delivery_option(c, "allow", "::1", "--allow-destination"));
  EXPECT_EQ(c.delivery.guard.allow.size(), 2u);
  const auto bad = set_delivery_option(c, "deny", "10.0.0.1/8", "--deny-destination");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error(), "10.0.0.0/8")) << bad.error();
  clear_delivery_option(c, "allow");
  EXPECT_TRUE(c.delivery.guard.allow.empty());
}

TEST(DeliveryConfig, OneSourceAddressPerFamily) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "source_address", "192.0.2.1", "--source-address"));
  ASSERT_TRUE(set_delivery_option(c, "source_address", "2001:db8::1", "--source-address"));
  EXPECT_EQ(c.delivery.udp_sender.source_v4->to_string(), "192.0.2.1");
  EXPECT_EQ(c.delivery.http_sender.source_v6->to_string(), "2001:db8::1");
  EXPECT_FALSE(set_delivery_option(c, "source_address", "192.0.2.2", "--source-address"));
  EXPECT_FALSE(set_delivery_option(c, "source_address", "host.example", "--source-address"));
}

TEST(DeliveryConfig, PathsMustBePlainUrlPaths) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "path", "/reports/in", "--http-path"));
  for (const char* bad : {"reports", "/a b", "/a?b", "/a#b", "/a\r\nX: y", ""})
    EXPECT_FALSE(set_delivery_option(c, "path", bad, "--http-path")) << bad;
}

TEST(DeliveryConfig, TomlDeliverySection) {
  const auto path = std::filesystem::temp_directory_path() / ("overflowd-delivery-" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream f(path);
    f << "[delivery]\n"
         "deliver = [\"udp\", \"http\"]\n"
         "to = \"dst\"\n"
         "report_port = 4444\n"
         "budget = 10\n"
         "budget_burst = 20\n"
         "per_destination_budget = 0.5\n"
         "allow = [\"127.0.0.0/8\"]\n"
         "https_verify = true\n"
         "timeout_ms = 1500\n";
  }
  RunConfig c;
  const auto r = load_toml(path.string(), c);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(c.delivery.udp);
  EXPECT_TRUE(c.delivery.http);
  EXPECT_FALSE(c.delivery.https);
  EXPECT_EQ(c.delivery.to, sink::DeliverTo::dst);
  EXPECT_EQ(c.delivery.udp_sender.port, 4444);
  EXPECT_EQ(c.delivery.guard.global->per_second, 10);
  EXPECT_EQ(c.delivery.guard.global->burst, 20);
  EXPECT_EQ(c.delivery.guard.per_destination->per_second, 0.5);
  EXPECT_EQ(c.delivery.guard.allow.size(), 1u);
  EXPECT_TRUE(c.delivery.http_sender.verify);
  EXPECT_EQ(c.delivery.http_sender.timeout_ms, 1500);
  {
    std::ofstream f(path);
    f << "[delivery]\nbudget = \"lots\"\n";
  }
  RunConfig d;
  const auto bad = load_toml(path.string(), d);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error(), "delivery.budget")) << bad.error();
  std::filesystem::remove(path);
}

TEST(DeliveryConfig, OptOutFileIsReadIntoTheGuard) {
  const auto path = std::filesystem::temp_directory_path() / ("overflowd-optout-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream f(path);
    f << "# asked for no reports\n192.0.2.0/24\n";
  }
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "opt_out_file", path.string(), "--opt-out-file"));
  ASSERT_TRUE(load_opt_out(c));
  EXPECT_TRUE(c.delivery.guard.opt_out.contains(*core::IpAddress::parse("192.0.2.77")));
  std::filesystem::remove(path);
  EXPECT_FALSE(load_opt_out(c));
  // A FIFO there is refused at once, not waited on (the alarm turns a hang into a failure).
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  ::alarm(10);
  const auto fifo = load_opt_out(c);
  ::alarm(0);
  std::filesystem::remove(path);
  ASSERT_FALSE(fifo);
  EXPECT_NE(fifo.error().find("not a regular file"), std::string::npos) << fifo.error();
}

TEST(DeliveryConfig, HttpsCaNeedsVerify) {
  RunConfig c;
  ASSERT_TRUE(set_delivery_option(c, "https_ca", "/etc/hostname", "--https-ca"));
  EXPECT_FALSE(validate(c));
  c.delivery.http_sender.verify = true;
  EXPECT_TRUE(validate(c));
}

}  // namespace
}  // namespace overflowd::app

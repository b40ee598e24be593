// The discovery thread (src/discovery/net/discoverer.hpp) asked from several threads at once, as
// pipeline workers do through the delivery sink: it never waits on the network, every lookup it
// starts ends with a counted outcome, and the bounds hold. The resolver is a closed loopback UDP
// port, so each DNS lookup fails at once (dns_error); nothing leaves the machine. Runs under TSan
// (label threads).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "discovery/net/discoverer.hpp"

namespace d = overflowd::discovery;
using overflowd::core::IpAddress;

namespace {

// A loopback UDP port that was free a moment ago (bound, then closed).
std::uint16_t closed_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::map<std::string, std::uint64_t> counts(const d::Discoverer& disc) {
  std::vector<overflowd::core::NamedCount> out;
  disc.append_counters(out);
  std::map<std::string, std::uint64_t> m;
  for (const auto& c : out) m[c.name] = c.value;
  return m;
}

}  // namespace

TEST(Discoverer, ManyThreadsAskNobodyWaitsEveryLookupEndsCounted) {
  d::DiscovererConfig c;
  c.lookups.mode = d::Mode::dns;
  c.lookups.budget = {1000, 20};
  c.lookups.cache = 16;
  c.lookups.max_in_flight = 4;
  c.lookups.allow.push_back(*overflowd::guard::Cidr::parse("127.0.0.0/8"));
  c.resolver = "127.0.0.1:" + std::to_string(closed_udp_port());
  c.timeout_ms = 500;
  auto opened = d::Discoverer::open(c, overflowd::core::system_clock());
  ASSERT_TRUE(opened) << opened.error();
  auto& disc = **opened;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&disc, t] {
      for (int i = 0; i < 200; ++i) {
        const auto a = IpAddress::v4((127u << 24) | (static_cast<std::uint32_t>(t * 200 + i) << 8) | 1u);
        const auto start = std::chrono::steady_clock::now();
        EXPECT_FALSE(disc.key_for(a, overflowd::core::system_clock().monotonic_ns()));
        // Never a network wait on the caller's thread (that would take the 500 ms time-out; the
        // margin below it is for a thread preempted at high load under a sanitizer).
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
      }
    });
  for (auto& w : workers) w.join();
  disc.wait_idle(10'000);
  const auto m = counts(disc);
  EXPECT_EQ(m.at("discovery.in_flight"), 0u);
  EXPECT_GE(m.at("discovery.lookups.started"), 1u);
  EXPECT_LE(m.at("discovery.lookups.started"), 20u + 1000u);
  std::uint64_t ended = 0;
  for (const auto& [name, value] : m)
    if (name.starts_with("discovery.lookups.") && name != "discovery.lookups.started") ended += value;
  EXPECT_EQ(ended, m.at("discovery.lookups.started"));
  EXPECT_EQ(m.at("discovery.lookups.ok"), 0u);
  EXPECT_EQ(m.at("discovery.cache.miss"),
            m.at("discovery.lookups.started") + m.at("discovery.refused.budget") + m.at("discovery.refused.in_flight_full"));
  EXPECT_LE(m.at("discovery.cache.entries_max"), 16u);
}

TEST(Discoverer, AWrongResolverIsRefusedAtOpen) {
  d::DiscovererConfig c;
  c.lookups.mode = d::Mode::dns;
  c.resolver = "not an address";
  EXPECT_FALSE(d::Discoverer::open(c, overflowd::core::system_clock()));
  c.lookups.mode = d::Mode::http;
  c.resolver = "127.0.0.1:53";
  EXPECT_FALSE(d::Discoverer::open(c, overflowd::core::system_clock()));
}

// The batched UDP source on loopback only (127.0.0.0/8 and ::1): datagrams from several senders in
// batches, IPv4 and IPv6, SO_REUSEPORT groups, and kernel drops counted exactly.
#include "source/udp_source.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace overflowd::source {
namespace {

bool ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A sending socket bound to a loopback address.
class Sender {
public:
  explicit Sender(const std::string& from) {
    v6_ = from.find(':') != std::string::npos;
    fd_ = ::socket(v6_ ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_storage ss{};
    socklen_t len = fill(from, 0, ss);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0) << from;
    sockaddr_storage bound{};
    socklen_t bl = sizeof bound;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &bl);
    port_ = ntohs(v6_ ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~Sender() { ::close(fd_); }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  void send(const std::string& to, std::uint16_t port, const std::string& payload) const {
    sockaddr_storage ss{};
    const socklen_t len = fill(to, port, ss);
    ASSERT_EQ(::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&ss), len),
              static_cast<ssize_t>(payload.size()));
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }

private:
  static socklen_t fill(const std::string& host, std::uint16_t port, sockaddr_storage& ss) {
    if (host.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      ::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
      return sizeof *a;
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    return sizeof *a;
  }
  int fd_ = -1;
  bool v6_ = false;
  std::uint16_t port_ = 0;
};

struct Got {
  std::string exporter;
  std::uint16_t port = 0;
  std::string payload;
};

// Takes datagrams until `want` arrived or the source was idle `max_idle` times (100 ms each) in a row.
std::vector<Got> take(Source& source, std::size_t want, std::size_t* batches = nullptr, int max_idle = 20) {
  std::vector<Got> out;
  std::array<core::Datagram, 64> batch;
  int idle = 0;
  while (out.size() < want && idle < max_idle) {
    std::size_t n = 0;
    if (!source.next_batch(batch, n)) break;
    if (n == 0) {
      ++idle;
      continue;
    }
    idle = 0;
    if (batches) ++*batches;
    for (std::size_t i = 0; i < n; ++i)
      out.push_back({batch[i].exporter.to_string(), batch[i].exporter_port,
                     std::string(reinterpret_cast<const char*>(batch[i].bytes.data()), batch[i].bytes.size())});
  }
  return out;
}

TEST(UdpSource, BatchesCarryEachDatagramWithItsSenderOnIpv4AndIpv6) {
  const bool v6 = ipv6_loopback();
  UdpSourceConfig c;
  c.bind = v6 ? "::" : "127.0.0.1";  // dual stack when IPv6 is there
  c.port = 0;
  auto source = UdpSource::open(c, nullptr);
  ASSERT_TRUE(source) << source.error();
  std::vector<std::string> from = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
  if (v6) from.push_back("::1");
  std::vector<std::unique_ptr<Sender>> senders;
  for (const auto& f : from) senders.push_back(std::make_unique<Sender>(f));
  std::multiset<std::tuple<std::string, std::uint16_t, std::string>> sent;
  for (int round = 0; round < 5; ++round) {
    for (std::size_t s = 0; s < senders.size(); ++s) {
      const std::string target = from[s].find(':') != std::string::npos ? "::1" : "127.0.0.1";
      const std::string payload = "datagram " + std::to_string(round) + " from " + from[s] + std::string(static_cast<std::size_t>(round) * 100, 'x');
      senders[s]->send(target, (*source)->port(), payload);
      sent.insert({from[s], senders[s]->port(), payload});
    }
  }
  std::size_t batches = 0;
  const auto got = take(**source, sent.size(), &batches);
  std::multiset<std::tuple<std::string, std::uint16_t, std::string>> received;
  for (const auto& g : got) received.insert({g.exporter, g.port, g.payload});
  EXPECT_EQ(received, sent);
  EXPECT_LT(batches, got.size()) << "queued datagrams come several to a batch";
  EXPECT_EQ((*source)->counters().datagrams, sent.size());
  EXPECT_EQ((*source)->counters().packets, sent.size());
  (*source)->refresh_counters();
  EXPECT_EQ((*source)->counters().kernel_drops, 0u);
}

TEST(UdpSource, NextHandsOutABatchOneAtATimeInOrder) {
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  std::atomic<bool> stop{false};
  auto source = UdpSource::open(c, &stop);
  ASSERT_TRUE(source) << source.error();
  Sender s("127.0.0.1");
  for (int i = 0; i < 10; ++i) s.send("127.0.0.1", (*source)->port(), "n" + std::to_string(i));
  core::Datagram d;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE((*source)->next(d));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()), "n" + std::to_string(i));
  }
  // A batch after next(): the rest of what next() took first, then what is queued.
  const auto rest = take(**source, 6);
  ASSERT_EQ(rest.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(rest[static_cast<std::size_t>(i)].payload, "n" + std::to_string(i + 4));
  stop = true;
  EXPECT_FALSE((*source)->next(d));
}

TEST(UdpSource, KernelDropsAreCountedExactly) {
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.receive_buffer = 64 << 10;  // small: most of what is sent below cannot wait in it
  auto source = UdpSource::open(c, nullptr);
  ASSERT_TRUE(source) << source.error();
  Sender s("127.0.0.1");
  const std::string payload(1000, 'd');
  constexpr std::size_t kSent = 2000;
  for (std::size_t i = 0; i < kSent; ++i) s.send("127.0.0.1", (*source)->port(), payload);  // nobody reads yet
  const auto got = take(**source, kSent, nullptr, 1);  // all of it is queued already
  ASSERT_LT(got.size(), kSent) << "a 64 KiB buffer cannot hold 2 MB";
  // The drop count was read with the first batch (read after a full batch, and at least every 50 ms).
  s.send("127.0.0.1", (*source)->port(), "after");
  ASSERT_EQ(take(**source, 1).size(), 1u);
  const auto& counters = (*source)->counters();
  EXPECT_EQ(got.size() + counters.kernel_drops, kSent);
  EXPECT_EQ(counters.datagrams, got.size() + 1);
  (*source)->refresh_counters();  // the same count, read from the socket (SO_MEMINFO)
  EXPECT_EQ(got.size() + counters.kernel_drops, kSent);
}

TEST(UdpSource, KernelDropsAreReadFromTheSocketWhenNoDatagramFollowsThem) {
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.receive_buffer = 64 << 10;
  auto source = UdpSource::open(c, nullptr);
  ASSERT_TRUE(source) << source.error();
  Sender s("127.0.0.1");
  const std::string payload(1000, 'd');
  constexpr std::size_t kSent = 2000;
  for (std::size_t i = 0; i < kSent; ++i) s.send("127.0.0.1", (*source)->port(), payload);
  const auto got = take(**source, kSent, nullptr, 1);
  ASSERT_LT(got.size(), kSent);
  (*source)->refresh_counters();
  EXPECT_EQ(got.size() + (*source)->counters().kernel_drops, kSent);
}

TEST(UdpSource, TheReceiveBufferAskedForIsReportedWithWhatTheKernelGranted) {
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.receive_buffer = 1 << 20;
  auto source = UdpSource::open(c, nullptr);
  ASSERT_TRUE(source) << source.error();
  const auto& rb = (*source)->receive_buffer();
  EXPECT_EQ(rb.asked, 1 << 20);
  EXPECT_GT(rb.granted, 0);
  if (rb.forced) {
    EXPECT_EQ(rb.granted, 2 << 20) << "Linux reports twice the size it was given";
  }
}

TEST(UdpSource, AGroupSharesOnePortAndKeepsEachSenderOnOneSocket) {
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  auto group = UdpSource::open_group(c, 3, nullptr);
  ASSERT_TRUE(group) << group.error();
  ASSERT_EQ(group->size(), 3u);
  const std::uint16_t port = (*group)[0]->port();
  ASSERT_NE(port, 0);
  for (const auto& s : *group) EXPECT_EQ(s->port(), port);

  // 12 senders (addresses and ports), 8 datagrams each.
  std::vector<std::unique_ptr<Sender>> senders;
  for (int i = 0; i < 12; ++i) senders.push_back(std::make_unique<Sender>("127.0.0." + std::to_string(1 + i % 4)));
  for (int round = 0; round < 8; ++round)
    for (std::size_t i = 0; i < senders.size(); ++i) senders[i]->send("127.0.0.1", port, "s" + std::to_string(i));
  // Each socket's datagrams, read socket by socket (every datagram is queued by now).
  std::map<std::string, std::set<std::size_t>> sockets_of;  // sender payload -> sockets it reached
  std::size_t total = 0;
  for (std::size_t k = 0; k < group->size(); ++k) {
    std::array<core::Datagram, 64> batch;
    for (;;) {
      std::size_t n = 0;
      ASSERT_TRUE((*group)[k]->next_batch(batch, n));
      if (n == 0) break;  // idle: this socket's queue is empty
      for (std::size_t i = 0; i < n; ++i) {
        sockets_of[std::string(reinterpret_cast<const char*>(batch[i].bytes.data()), batch[i].bytes.size())].insert(k);
        ++total;
      }
    }
  }
  EXPECT_EQ(total, 12u * 8u);
  EXPECT_EQ(sockets_of.size(), 12u);
  for (const auto& [sender, sockets] : sockets_of) EXPECT_EQ(sockets.size(), 1u) << sender << " reached several sockets";
}

TEST(UdpSource, AGroupOnAPortInUseIsAnError) {
  const int holder = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  UdpSourceConfig c;
  c.bind = "127.0.0.1";
  c.port = ntohs(a.sin_port);
  auto group = UdpSource::open_group(c, 2, nullptr);  // the holder did not ask for SO_REUSEPORT
  ::close(holder);
  ASSERT_FALSE(group);
  EXPECT_NE(group.error().find(std::to_string(c.port)), std::string::npos) << group.error();
}

}  // namespace
}  // namespace overflowd::source

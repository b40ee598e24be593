// UDP and HTTP transports to ::1 (loopback only): IPv6 destinations, and the bracketed URL.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "report/keys.hpp"
#include "report/signer.hpp"
#include "sink/http_sender.hpp"
#include "sink/udp_sender.hpp"

namespace overflowd::sink {
namespace {

// A socket of `type` bound to [::1]:0, or -1 when this host has no IPv6 loopback.
int bind_v6_loopback(int type, std::uint16_t& port) {
  const int fd = ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin6_port);
  return fd;
}

report::SignedReport signed_report() {
  const report::KeyPair keys = report::generate_keypair();
  report::Signer signer(keys);
  report::SignedReport r;
  signer.sign("{\"a\":1}", r);
  return r;
}

TEST(Ipv6Transport, UdpReachesTheIpv6Loopback) {
  std::uint16_t port = 0;
  const int rx = bind_v6_loopback(SOCK_DGRAM, port);
  if (rx < 0) GTEST_SKIP() << "no IPv6 loopback on this host";
  auto tx = UdpSender::open({.port = port, .source_v4 = std::nullopt, .source_v6 = std::nullopt});
  ASSERT_TRUE(tx) << tx.error();
  const auto r = signed_report();
  (*tx)->send(*core::IpAddress::parse("::1"), r);
  pollfd p{rx, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[2048];
  const ssize_t n = ::recv(rx, buf, sizeof buf, 0);
  ::close(rx);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string_view(buf, static_cast<std::size_t>(n)), r.compact());
}

TEST(Ipv6Transport, HttpPostsToABracketedAddress) {
  std::uint16_t port = 0;
  const int listener = bind_v6_loopback(SOCK_STREAM, port);
  if (listener < 0) GTEST_SKIP() << "no IPv6 loopback on this host";
  ASSERT_EQ(::listen(listener, 4), 0);
  std::string request;
  std::thread server([&] {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    const int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    char buf[8192];
    // Read the headers and the body (Content-Length), then answer 204.
    for (;;) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 5000) != 1) break;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
      const auto end = request.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const auto cl = request.find("Content-Length: ");
      const std::size_t length = cl == std::string::npos ? 0 : std::stoul(request.substr(cl + 16));
      if (request.size() >= end + 4 + length) break;
    }
    const char reply[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    (void)::send(c, reply, sizeof reply - 1, MSG_NOSIGNAL);
    ::close(c);
  });
  HttpSenderConfig cfg;
  cfg.http = true;
  cfg.http_port = port;
  auto tx = HttpSender::open(cfg);
  ASSERT_TRUE(tx) << tx.error();
  const auto r = signed_report();
  (*tx)->send(*core::IpAddress::parse("::1"), r);
  (*tx)->finish();
  server.join();
  ::close(listener);
  EXPECT_EQ(request.rfind("POST /.well-known/overflowd HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Host: [::1]:" + std::to_string(port) + "\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Content-Type: application/json\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.substr(request.size() - r.line.size()), r.line);
  EXPECT_EQ((*tx)->count(0, HttpOutcome::delivered), 1u);
}

}  // namespace
}  // namespace overflowd::sink

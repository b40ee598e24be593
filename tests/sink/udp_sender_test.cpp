// The UDP transport against a socket on 127.0.0.1 (loopback only).
#include "sink/udp_sender.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "report/keys.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace overflowd::sink {
namespace {

struct Receiver {
  int fd = -1;
  std::uint16_t port = 0;
  Receiver() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Receiver() { ::close(fd); }
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
};

report::SignedReport signed_report(std::size_t padding) {
  const report::KeyPair keys = report::generate_keypair();
  report::Signer signer(keys);
  report::SignedReport r;
  signer.sign("{\"pad\":\"" + std::string(padding, 'x') + "\"}", r);
  return r;
}

TEST(UdpSender, SendsTheCompactFormWhichVerifies) {
  Receiver rx;
  auto tx = UdpSender::open({.port = rx.port, .source_v4 = std::nullopt, .source_v6 = std::nullopt});
  ASSERT_TRUE(tx) << tx.error();
  const auto r = signed_report(10);
  (*tx)->send(*core::IpAddress::parse("127.0.0.1"), r);
  const auto got = rx.drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], r.compact());
  EXPECT_EQ(got[0].rfind("{\"key\":\"", 0), 0u);
  const auto v = report::verify_report(got[0]);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->compact);
  EXPECT_EQ((*tx)->counters().sent, 1u);
}

TEST(UdpSender, APayloadOver1200BytesIsCountedNotSent) {
  Receiver rx;
  auto tx = UdpSender::open({.port = rx.port, .source_v4 = std::nullopt, .source_v6 = std::nullopt});
  ASSERT_TRUE(tx);
  // compact = {"key":"<64>","signature":"<base64(64 + message)>"}: find the largest message that fits.
  std::size_t fits = 0;
  for (std::size_t pad = 700; pad < 900; ++pad)
    if (signed_report(pad).compact().size() <= kMaxUdpPayload) fits = pad;
  ASSERT_GT(fits, 0u);
  const auto at_limit = signed_report(fits);
  const auto over = signed_report(fits + 3);  // base64 grows in steps of 4 per 3 bytes
  ASSERT_GT(over.compact().size(), kMaxUdpPayload);
  (*tx)->send(*core::IpAddress::parse("127.0.0.1"), at_limit);
  (*tx)->send(*core::IpAddress::parse("127.0.0.1"), over);
  const auto got = rx.drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(got[0].size(), kMaxUdpPayload);
  EXPECT_EQ((*tx)->counters().too_large, 1u);
}

TEST(UdpSender, AnUnbindableSourceAddressIsAnError) {
  // 192.0.2.1 (documentation) is on no interface here: bind fails, nothing is sent anywhere.
  auto tx = UdpSender::open({.port = 9, .source_v4 = core::IpAddress::parse("192.0.2.1"), .source_v6 = std::nullopt});
  ASSERT_FALSE(tx);
  EXPECT_NE(tx.error().find("192.0.2.1"), std::string::npos);
}

}  // namespace
}  // namespace overflowd::sink

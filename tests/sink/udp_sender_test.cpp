// The UDP transport against a socket on 127.0.0.1 (loopback only).
#include "sink/udp_sender.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "report/document.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"
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

// The encryption mode over UDP (issue 15): the largest realistic report (IPv6 endpoints, exporter
// and next hop, every flow field, two policy reasons, a rotation statement, the recipient) sealed
// as the binary datagram either fits 1,200 bytes and is sent, or is refused with a counter: never
// a fragmented datagram. With a contact of typical length it fits (the JSON envelope would not);
// with the longest contact the settings allow (256 + 256 bytes) it does not and is counted.
report::SignedReport largest_sealed(std::size_t contact_bytes, const report::X25519Public& to, std::string* json_form,
                                    bool worst = true, bool rotation = true) {
  const report::KeyPair old_keys = report::generate_keypair(), keys = report::generate_keypair();
  report::ReportConfig config{report::Contact{"noc@" + std::string(contact_bytes - 4, 'e'), std::string(contact_bytes, 'I')}};
  config.rotation = report::rotation_member(report::as_bytes(report::build_rotation(old_keys, keys, 1'750'000'000))).value();
  config.rotation_until_ns = rotation ? INT64_MAX : 0;
  core::FlowRecord f;
  f.src = *core::IpAddress::parse("2001:db8:ffff:ffff:ffff:ffff:ffff:fff1");
  f.dst = *core::IpAddress::parse("2001:db8:ffff:ffff:ffff:ffff:ffff:fff2");
  f.exporter = *core::IpAddress::parse("2001:db8:ffff:ffff:ffff:ffff:ffff:fff3");
  f.nexthop = *core::IpAddress::parse("2001:db8:ffff:ffff:ffff:ffff:ffff:fff4");
  f.pcount = 4'000'000'000;
  f.bcount = 4'000'000'000'000;
  f.stime_ms = 1'750'000'000'000;
  f.etime_ms = 1'750'000'100'000;
  f.input = f.output = 4'000'000'000u;
  f.src_as = f.dst_as = 4'200'000'000u;
  f.sampling_interval = 65535;
  f.sport = f.dport = 65535;
  f.protocol = 17;
  f.tcp_flags = 255;
  f.tos = 255;
  f.src_mask = f.dst_mask = 128;
  f.fields = ~std::uint32_t{0};
  if (!worst) {  // a NetFlow v9 report on an IPv6 flow, from an IPv4 exporter
    f.src = *core::IpAddress::parse("2001:db8:85a3::8a2e:370:7334");
    f.dst = *core::IpAddress::parse("2001:db8:1f70::999:de8:7648");
    f.exporter = *core::IpAddress::parse("192.0.2.254");
    f.nexthop = *core::IpAddress::parse("2001:db8:85a3::1");
    f.pcount = 1200;
    f.bcount = 1'500'000;
    f.input = 12;
    f.output = 7;
    f.src_as = 64500;
    f.dst_as = 65551;
    f.sampling_interval = 1000;
    f.sport = 443;
    f.dport = 51234;
    f.protocol = 6;
    f.tcp_flags = 27;
    f.tos = 0;
    f.src_mask = f.dst_mask = 48;
    f.fields = core::kNetflowV5Fields;
  }
  const policy::Reason reasons[] = {{policy::ReasonClass::spoofed_source, "urpf-customer-edge", "cidr"},
                                    {policy::ReasonClass::listed_source, "spamhaus-drop", "drop"}};
  std::string message;
  report::ReportBuilder(config).build(f, 1'750'000'000'123'456'000, message, reasons, true);
  EXPECT_TRUE(report::add_recipient(message, "2001:db8:ffff:ffff:ffff:ffff:ffff:fff2"));
  report::Signer signer(keys);
  report::SignedReport signed_report;
  signer.sign(message, signed_report);
  report::SignedReport out;
  out.sealed = true;
  EXPECT_TRUE(report::seal_compact_datagram(signed_report.compact(), to, out.datagram));
  report::seal(signed_report.compact(), to, out.line);
  if (json_form) *json_form = out.line;
  EXPECT_EQ(out.datagram.size(), report::sealed_datagram_bytes(message.size()));
  return out;
}

TEST(UdpSender, TheLargestSealedReportFitsOneDatagramOrIsCountedNeverFragmented) {
  Receiver rx;
  auto tx = UdpSender::open({.port = rx.port, .source_v4 = std::nullopt, .source_v6 = std::nullopt});
  ASSERT_TRUE(tx);
  const report::X25519Public to = report::generate_x25519().public_key;
  std::uint64_t refused = 0, sent = 0;
  struct Case {
    std::size_t contact;
    bool worst, rotation;
  };
  for (const Case c : {Case{40, false, false}, Case{256, false, false}, Case{40, false, true}, Case{100, false, true},
                       Case{256, false, true}, Case{40, true, true}, Case{256, true, true}}) {
    std::string json_form;
    const auto r = largest_sealed(c.contact, to, &json_form, c.worst, c.rotation);
    std::printf("%s, contact %zu+%zu bytes, two reasons, %s: binary sealed datagram %zu bytes, JSON envelope %zu\n",
                c.worst ? "every field at its longest" : "NetFlow v9 IPv6 flow", c.contact, c.contact,
                c.rotation ? "rotation" : "no rotation", r.datagram.size(), json_form.size());
    if (c.contact == 40 && !c.worst && !c.rotation) {
      EXPECT_LE(r.datagram.size(), kMaxUdpPayload) << "a typical report fits";
      EXPECT_GT(json_form.size(), kMaxUdpPayload) << "where the JSON envelope would not";
    }
    (r.datagram.size() <= kMaxUdpPayload ? sent : refused) += 1;
    (*tx)->send(*core::IpAddress::parse("127.0.0.1"), r);
  }
  EXPECT_GT(refused, 0u) << "the longest contact does not fit: counted";
  const auto got = rx.drain();
  ASSERT_EQ(got.size(), sent);
  for (const auto& g : got) {
    EXPECT_LE(g.size(), kMaxUdpPayload);
    EXPECT_TRUE(report::looks_sealed_datagram(g));
  }
  EXPECT_EQ((*tx)->counters().too_large, refused);
  EXPECT_EQ((*tx)->counters().sent, sent);
}

}  // namespace
}  // namespace overflowd::sink

// What fits one 1,200-byte UDP datagram (docs/manual.md, "Encryption" and "Rotation over UDP"):
// the worst-case report the sender's start-up check computes is the size of a real sealed datagram
// built from the widest flow, so the largest contact the check allows fits and one byte more does
// not; remove_rotation gives exactly the report built without the rotation.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <span>
#include <string>

#include "core/ip_address.hpp"
#include "policy/policy.hpp"
#include "report/document.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace {

namespace r = overflowd::report;
namespace core = overflowd::core;

constexpr std::size_t kCap = 1200;
constexpr const char* kWideV6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

r::KeyPair identity(std::uint8_t fill) {
  r::Seed s{};
  s.fill(fill);
  return r::keypair_from_seed(s);
}

// The widest flow, built independently of worst_case_message_bytes: an sFlow record (its
// interface formats add members), every field at its widest value.
core::FlowRecord widest_flow() {
  core::FlowRecord f;
  f.src = f.dst = f.nexthop = f.exporter = *core::IpAddress::parse(kWideV6);
  f.pcount = f.bcount = 18'446'744'073'709'551'615ull;
  f.stime_ms = f.etime_ms = std::numeric_limits<std::int64_t>::min();
  f.input = f.output = f.src_as = f.dst_as = f.sampling_interval = 4'294'967'295u;
  f.fields = 0xffffffffu;
  f.sport = f.dport = f.source_version = 65535;
  f.protocol = f.tcp_flags = f.tos = f.src_mask = f.dst_mask = f.icmp_type = f.icmp_code = 255;
  return f;
}

// The real sealed datagram of the widest flow's report with `config`, sealed for the widest address.
std::size_t sealed_size(const r::ReportConfig& config, std::string* message_out = nullptr) {
  std::size_t worst = 0;
  for (const auto type : {core::SourceType::netflow, core::SourceType::ipfix, core::SourceType::sflow})
    for (const auto format : {core::InterfaceFormat::ifindex, core::InterfaceFormat::discarded,
                              core::InterfaceFormat::multiple, core::InterfaceFormat::internal}) {
      core::FlowRecord f = widest_flow();
      f.source_type = type;
      f.input_format = f.output_format = format;
      std::string message;
      r::ReportBuilder(config).build(f, std::numeric_limits<std::int64_t>::max() - 1, message, {}, true);
      EXPECT_TRUE(r::add_recipient(message, kWideV6));
      r::Signer signer(identity(7));
      r::SignedReport signed_report;
      signer.sign(message, signed_report);
      std::array<std::uint8_t, 32> secret{};
      secret.fill(9);
      std::string datagram;
      EXPECT_TRUE(r::seal_compact_datagram(signed_report.compact(), r::x25519_from_secret(secret).public_key, datagram));
      if (datagram.size() > worst && message_out) *message_out = message;
      worst = std::max(worst, datagram.size());
    }
  return worst;
}

TEST(UdpFit, WorstCaseIsTheWidestRealSealedDatagram) {
  for (const std::size_t contact : {0u, 10u, 100u, 300u}) {
    r::ReportConfig config{{std::string(contact, 'e'), std::string(contact / 2, 'i')}};
    const std::size_t computed =
        r::sealed_datagram_bytes(r::worst_case_message_bytes(config, r::kMaxAddressText, false));
    EXPECT_EQ(computed, sealed_size(config)) << contact;
  }
  // The figures the manual quotes: no contact, and what room that leaves for one.
  const std::size_t bare = r::sealed_datagram_bytes(r::worst_case_message_bytes({}, r::kMaxAddressText, false));
  std::printf("worst-case sealed datagram without a contact: %zu bytes; room for the contact member: %zu\n", bare,
              kCap - bare);
  EXPECT_LT(bare, kCap);
}

TEST(UdpFit, TheLargestContactTheCheckAllowsFitsAndOneByteMoreDoesNot) {
  const std::size_t bare = r::sealed_datagram_bytes(r::worst_case_message_bytes({}, r::kMaxAddressText, false));
  constexpr std::size_t kOverhead = std::string_view(R"("contact":{"email":"","identity":""},)").size();
  const std::size_t texts = kCap - bare - kOverhead;  // what the start-up error tells the operator
  const std::size_t email = texts / 2;
  r::ReportConfig fits{{std::string(email, 'e'), std::string(texts - email, 'i')}};
  EXPECT_EQ(sealed_size(fits), kCap);
  r::ReportConfig over{{std::string(email + 1, 'e'), std::string(texts - email, 'i')}};
  EXPECT_EQ(sealed_size(over), kCap + 1);
  // JSON escaping counts: a quote takes two bytes in the report.
  r::ReportConfig escaped{{std::string(email - 1, 'e') + "\"", std::string(texts - email, 'i')}};
  EXPECT_EQ(sealed_size(escaped), kCap + 1);
}

TEST(UdpFit, RemoveRotationGivesTheReportBuiltWithout) {
  const auto old_keys = identity(1), new_keys = identity(2);
  const std::string statement = r::build_rotation(old_keys, new_keys, 1'800'000'000);
  auto member = r::rotation_member(r::as_bytes(statement));
  ASSERT_TRUE(member);
  r::ReportConfig with{{"noc@example.net", "Example Net"}};
  with.rotation = *member;
  with.rotation_until_ns = std::numeric_limits<std::int64_t>::max();
  const r::ReportConfig without{{"noc@example.net", "Example Net"}};
  core::FlowRecord f = widest_flow();
  for (const bool reasons : {false, true}) {
    const overflowd::policy::Reason reason{overflowd::policy::ReasonClass::spoofed_source, "drop-sources", "drop"};
    std::span<const overflowd::policy::Reason> rs;
    if (reasons) rs = std::span(&reason, 1);
    std::string a, b;
    r::ReportBuilder(with).build(f, 1'800'000'000'000'000'000, a, rs);
    r::ReportBuilder(without).build(f, 1'800'000'000'000'000'000, b, rs);
    ASSERT_NE(a, b);
    for (const char* recipient : {"", "2001:db8::1"}) {
      std::string x = a, y = b;
      if (*recipient) {
        ASSERT_TRUE(r::add_recipient(x, recipient));
        ASSERT_TRUE(r::add_recipient(y, recipient));
      }
      ASSERT_TRUE(r::remove_rotation(x));
      EXPECT_EQ(x, y);
      EXPECT_FALSE(r::remove_rotation(y));  // none left
    }
  }
}

TEST(UdpFit, TheRotationIsCarriedUntilItsPeriodEnds) {
  // --rotation-period: the member is in reports made before rotation_until_ns, not from it on.
  const std::string statement = r::build_rotation(identity(1), identity(2), 1'800'000'000);
  auto member = r::rotation_member(r::as_bytes(statement));
  ASSERT_TRUE(member);
  r::ReportConfig config{{"noc@example.net", "Example Net"}};
  config.rotation = *member;
  config.rotation_until_ns = 1'800'000'000'000'000'000 + 86'400'000'000'000;
  const core::FlowRecord f = widest_flow();
  std::string before, at;
  r::ReportBuilder(config).build(f, config.rotation_until_ns - 1000, before);
  r::ReportBuilder(config).build(f, config.rotation_until_ns, at);
  EXPECT_NE(before.find(",\"rotation\":" + *member + ",\"time\":"), std::string::npos);
  EXPECT_EQ(at.find("rotation"), std::string::npos);
}

}  // namespace

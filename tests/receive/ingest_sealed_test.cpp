// ingest's sealed path (report/seal.hpp): a sealed report opens by kid and verifies as the plain
// one would (same key, message, signature, fields), with its kid kept; every refusal is named.
#include <gtest/gtest.h>

#include <variant>

#include "receive/ingest.hpp"
#include "receive/receive_test_util.hpp"
#include "report/seal.hpp"

namespace {

using namespace overflowd;
using namespace overflowd::receive;
using namespace overflowd::receive::testing;

report::X25519KeyPair xkey(std::uint8_t n) {
  std::array<std::uint8_t, 32> s{};
  s.fill(n);
  return report::x25519_from_secret(s);
}

// A report as the sender seals it: the message with its recipient, signed, its compact form sealed.
std::string sealed_for(const char* recipient, const report::X25519Public& to) {
  auto plain = signed_report(key(1), "noc@example.net", "Example Net");
  std::string message;
  plain.message(message);
  EXPECT_TRUE(report::add_recipient(message, recipient));
  report::Signer signer(key(1));
  report::SignedReport resigned;
  signer.sign(message, resigned);
  std::string env;
  report::seal(resigned.compact(), to, env);
  return env;
}

struct Fixture {
  report::Keyring ring;
  std::vector<Cidr> mine = {*Cidr::parse("198.51.100.0/24")};
  SkewPolicy policy;
  Fixture() {
    ring.add(xkey(9));
    policy.keyring = &ring;
    policy.my_prefixes = &mine;
  }
};

TEST(IngestSealed, OpensByKidAndVerifies) {
  Fixture f;
  const std::string env = sealed_for("198.51.100.7", xkey(9).public_key);
  const Verdict v = ingest(env, kNow, f.policy);
  const auto* a = std::get_if<Accepted>(&v);
  ASSERT_NE(a, nullptr) << std::get<Rejected>(v).reason;
  EXPECT_EQ(a->kid, report::kid_hex(xkey(9).public_key));
  EXPECT_TRUE(a->compact);
  EXPECT_EQ(a->key, key(1).public_key);
  EXPECT_NE(a->message.find("\"recipient\":\"198.51.100.7\""), std::string::npos);
  EXPECT_EQ(a->fields.email, "noc@example.net");
}

TEST(IngestSealed, RefusalsAreNamed) {
  Fixture f;
  auto reason = [&](const std::string& raw, const SkewPolicy& p) {
    const Verdict v = ingest(raw, kNow, p);
    return std::holds_alternative<Rejected>(v) ? std::get<Rejected>(v).reason : std::string("accepted");
  };
  EXPECT_EQ(reason(sealed_for("203.0.113.1", xkey(9).public_key), f.policy), "sealed.recipient_mismatch");
  EXPECT_EQ(reason(sealed_for("198.51.100.7", xkey(8).public_key), f.policy), "sealed.unknown_kid");
  EXPECT_EQ(reason(sealed_for("198.51.100.7", xkey(9).public_key), SkewPolicy{}), "sealed.no_key");
  std::string env;
  report::seal("{\"key\":\"00\",\"signature\":\"AA==\"}", xkey(9).public_key, env);
  EXPECT_EQ(reason(env, f.policy), "sealed.bad_key");
  EXPECT_EQ(reason("{\"sealed\":1}", f.policy), "sealed.bad_envelope");
  // With no prefixes of mine the recipient is not checked.
  SkewPolicy open = f.policy;
  open.my_prefixes = nullptr;
  EXPECT_EQ(reason(sealed_for("203.0.113.1", xkey(9).public_key), open), "accepted");
  // A plain report is untouched by the keyring.
  EXPECT_EQ(reason(std::string(signed_report(key(1), "a@b", "c").compact()), f.policy), "accepted");
}

}  // namespace

// ingest's sealed path (report/seal.hpp): a sealed report opens by kid and verifies as the plain
// one would (same key, message, signature, fields), with its kid kept; every refusal is named.
#include <gtest/gtest.h>

#include <variant>

#include <sodium.h>

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


// The binary sealed datagram (seal.hpp): the same report, opened and rebuilt into the compact
// form, verifies to the same key, message and signature as the JSON envelope's.
std::string datagram_for(const char* recipient, const report::X25519Public& to) {
  auto plain = signed_report(key(1), "noc@example.net", "Example Net");
  std::string message;
  plain.message(message);
  EXPECT_TRUE(report::add_recipient(message, recipient));
  report::Signer signer(key(1));
  report::SignedReport resigned;
  signer.sign(message, resigned);
  std::string out;
  EXPECT_TRUE(report::seal_compact_datagram(resigned.compact(), to, out));
  return out;
}

TEST(IngestSealedDatagram, OpensByKidAndVerifiesAsTheJsonEnvelopeDoes) {
  Fixture f;
  const std::string dg = datagram_for("198.51.100.7", xkey(9).public_key);
  ASSERT_EQ(dg.substr(0, 5), std::string("OFDS\x01"));
  const Verdict v = ingest(dg, kNow, f.policy);
  const auto* a = std::get_if<Accepted>(&v);
  ASSERT_NE(a, nullptr) << std::get<Rejected>(v).reason;
  const Verdict j = ingest(sealed_for("198.51.100.7", xkey(9).public_key), kNow, f.policy);
  const auto* b = std::get_if<Accepted>(&j);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->kid, b->kid);
  EXPECT_EQ(a->key, b->key);
  EXPECT_EQ(a->message, b->message);
  EXPECT_TRUE(a->compact);
  // 157 bytes over the signed message, whatever it holds.
  EXPECT_EQ(dg.size(), report::sealed_datagram_bytes(a->message.size()));
}

TEST(IngestSealedDatagram, RefusalsAreNamed) {
  Fixture f;
  auto reason = [&](const std::string& raw, const SkewPolicy& p) {
    const Verdict v = ingest(raw, kNow, p);
    return std::holds_alternative<Rejected>(v) ? std::get<Rejected>(v).reason : std::string("accepted");
  };
  const std::string good = datagram_for("198.51.100.7", xkey(9).public_key);
  EXPECT_EQ(reason(datagram_for("203.0.113.1", xkey(9).public_key), f.policy), "sealed.recipient_mismatch");
  EXPECT_EQ(reason(datagram_for("198.51.100.7", xkey(8).public_key), f.policy), "sealed.unknown_kid");
  EXPECT_EQ(reason(good, SkewPolicy{}), "sealed.no_key");
  EXPECT_EQ(reason(good.substr(0, 12), f.policy), "sealed.too_short");
  EXPECT_EQ(reason(good.substr(0, 13 + 47), f.policy), "sealed.too_short");
  std::string v2 = good;
  v2[4] = 2;
  EXPECT_EQ(reason(v2, f.policy), "sealed.bad_version");
  std::string flipped = good;
  flipped.back() = static_cast<char>(flipped.back() ^ 1);
  EXPECT_EQ(reason(flipped, f.policy), "sealed.bad_box");
  // A box that opens to less than a key and a signature.
  std::string shorty;
  report::seal_datagram(key(1).public_key, std::array<std::uint8_t, 64>{}, "", xkey(9).public_key, shorty);
  shorty.resize(13);
  std::vector<std::uint8_t> box(48 + 10);
  const std::uint8_t ten[10] = {};
  crypto_box_seal(box.data(), ten, sizeof ten, xkey(9).public_key.data());
  shorty.append(reinterpret_cast<const char*>(box.data()), box.size());
  EXPECT_EQ(reason(shorty, f.policy), "sealed.bad_inner");
  // A bad signature inside is the inner report's reason.
  std::string forged;
  report::seal_datagram(key(1).public_key, std::array<std::uint8_t, 64>{}, "{\"a\":1}", xkey(9).public_key, forged);
  EXPECT_EQ(reason(forged, f.policy).rfind("sealed.", 0), 0u);
  EXPECT_NE(reason(forged, f.policy), "accepted");
}

// Per-key validity windows: a key opens only what is received inside its window (the time of
// receipt is ingest's received_ns: the test's clock); several keys may be valid at once.
TEST(IngestSealed, AKeyOpensOnlyInsideItsValidityWindow) {
  const std::int64_t t = kNow / 1'000'000'000;
  report::Keyring ring;
  ring.add(xkey(9), {.not_before = t - 100, .not_after = t + 100});
  ring.add(xkey(7), {.not_before = t + 50, .not_after = t + 1000});  // overlaps the first from t+50
  std::vector<Cidr> mine = {*Cidr::parse("198.51.100.0/24")};
  SkewPolicy p;
  p.keyring = &ring;
  p.my_prefixes = &mine;
  auto reason = [&](const std::string& raw, std::int64_t at_s) {
    const Verdict v = ingest(raw, at_s * 1'000'000'000, p);
    return std::holds_alternative<Rejected>(v) ? std::get<Rejected>(v).reason : std::string("accepted");
  };
  for (const bool binary : {false, true}) {
    SCOPED_TRACE(binary ? "datagram" : "json");
    const std::string old_key = binary ? datagram_for("198.51.100.7", xkey(9).public_key)
                                       : sealed_for("198.51.100.7", xkey(9).public_key);
    const std::string new_key = binary ? datagram_for("198.51.100.7", xkey(7).public_key)
                                       : sealed_for("198.51.100.7", xkey(7).public_key);
    EXPECT_EQ(reason(old_key, t - 101), "sealed.expired_kid");
    EXPECT_EQ(reason(old_key, t - 100), "accepted");
    EXPECT_EQ(reason(old_key, t + 99), "accepted");
    EXPECT_EQ(reason(old_key, t + 100), "sealed.expired_kid");
    EXPECT_EQ(reason(new_key, t), "sealed.expired_kid");
    EXPECT_EQ(reason(new_key, t + 60), "accepted");  // both valid at t+60
    EXPECT_EQ(reason(old_key, t + 60), "accepted");
    EXPECT_EQ(reason(new_key, t + 1000), "sealed.expired_kid");
  }
}

}  // namespace

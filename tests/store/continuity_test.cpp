// Key continuity: what the store remembers about each key, and the alerts it raises.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "store/queries.hpp"
#include "report/document.hpp"
#include "core/encoding.hpp"
#include <sodium.h>
#include "receive/receive_test_util.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;

using namespace testing;

struct Continuity : StoreFixture {
  void SetUp() override { open(); }
  std::vector<nlohmann::json> alerts(const char* kind) {
    std::vector<nlohmann::json> out;
    auto q = s->db().prepare("SELECT key, detail, report_id FROM alerts WHERE kind = ?1 ORDER BY id");
    q->bind(1, std::string_view(kind));
    while (q->step() == SQLITE_ROW) {
      auto j = nlohmann::json::parse(q->text(1));
      j["_key"] = q->text(0);
      j["_report_id"] = q->i64(2);
      out.push_back(j);
    }
    return out;
  }
  static FlowSpec flow(std::uint16_t sport, const char* saddr = "192.0.2.1", const char* exporter = "203.0.113.1") {
    FlowSpec f;
    f.sport = sport;
    f.saddr = saddr;
    f.exporter = exporter;
    return f;
  }
};

TEST_F(Continuity, RemembersFirstAndLastSeenCountExportersPrefixesAndContacts) {
  const auto k = key(1);
  const std::string hex = report::public_key_hex(k);
  write({item(signed_report(k, "a@x.net", "X", flow(1, "192.0.2.1", "203.0.113.1")).line, Input::udp, kNow),
         item(signed_report(k, "a@x.net", "X", flow(2, "192.0.2.200", "203.0.113.2")).line, Input::udp, kNow + 5)});
  write({item(signed_report(k, "a@x.net", "X", flow(3, "2001:db8:1:2::5", "203.0.113.2")).line, Input::http, kNow + 9)});
  EXPECT_EQ(n("SELECT reports FROM keys WHERE key = '" + hex + "'"), 3);
  EXPECT_EQ(n("SELECT first_seen_ns FROM keys"), kNow);
  EXPECT_EQ(n("SELECT last_seen_ns FROM keys"), kNow + 9);
  EXPECT_EQ(n("SELECT exporters FROM keys"), 2);
  // 192.0.2.0/24 (both sources), 198.51.100.0/24 (the destination), 2001:db8:1::/48.
  EXPECT_EQ(n("SELECT prefixes FROM keys"), 3);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_prefixes WHERE prefix = '2001:db8:1::/48'"), 1);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_prefixes WHERE prefix = '192.0.2.0/24'"), 1);
  EXPECT_EQ(n("SELECT reports FROM key_contacts WHERE email = 'a@x.net' AND identity = 'X'"), 3);
  EXPECT_TRUE(alerts("contact_changed").empty());
  EXPECT_TRUE(alerts("identity_new_key").empty());
}

TEST(ContinuityClock, AlertsAreTimedByTheStoresClock) {
  TempDb t;
  const core::ManualClock clock(kNow + 42);
  StoreConfig c;
  c.path = t.path();
  c.clock = &clock;
  auto s = SqliteStore::open(c);
  ASSERT_TRUE(s) << s.error();
  const auto k = key(3);
  const std::vector<Item> items = {item(signed_report(k, "noc@x.net", "X Net", FlowSpec{}).line),
                                   item(signed_report(k, "other@x.net", "X Net", FlowSpec{}).line)};
  ASSERT_TRUE((*s)->write(items));
  EXPECT_EQ((*s)->db().scalar("SELECT created_ns FROM alerts WHERE kind = 'contact_changed'").value_or(-1), kNow + 42);
}

TEST_F(Continuity, AKeyWhoseContactChangesRaisesAnAlert) {
  const auto k = key(1);
  write({item(signed_report(k, "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(k, "noc@x.net", "X Net", flow(2)).line)});
  EXPECT_TRUE(alerts("contact_changed").empty());
  write({item(signed_report(k, "attacker@evil.example", "X Net", flow(3)).line)});
  const auto a = alerts("contact_changed");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["_key"], report::public_key_hex(k));
  EXPECT_EQ(a[0]["from"]["email"], "noc@x.net");
  EXPECT_EQ(a[0]["to"]["email"], "attacker@evil.example");
  EXPECT_EQ(a[0]["to"]["identity"], "X Net");
  EXPECT_EQ(n("SELECT id FROM reports WHERE sport = 3"), a[0]["_report_id"].get<std::int64_t>());
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts"), 2);
  auto cur = s->db().prepare("SELECT email FROM keys");
  ASSERT_TRUE(cur->step() == SQLITE_ROW);
  EXPECT_EQ(cur->text(0), "attacker@evil.example");
  // The same change again is not news.
  write({item(signed_report(k, "attacker@evil.example", "X Net", flow(4)).line)});
  EXPECT_EQ(alerts("contact_changed").size(), 1u);
}

TEST_F(Continuity, AChangeWithinOneBatchIsSeenToo) {
  write({item(signed_report(key(1), "a@x", "A", flow(1)).line), item(signed_report(key(1), "b@x", "A", flow(2)).line)});
  EXPECT_EQ(alerts("contact_changed").size(), 1u);
}

TEST_F(Continuity, AKnownIdentityUnderANewKeyRaisesAnAlert) {
  const auto old_key = key(1), new_key = key(2);
  write({item(signed_report(old_key, "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(new_key, "other@y.net", "X Net", flow(2)).line)});
  const auto a = alerts("identity_new_key");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["_key"], report::public_key_hex(new_key));
  EXPECT_EQ(a[0]["identity"], "X Net");
  EXPECT_EQ(a[0]["matched"], nlohmann::json::array({"identity"}));
  EXPECT_EQ(a[0]["previous_keys"], nlohmann::json::array({report::public_key_hex(old_key)}));
  EXPECT_TRUE(alerts("contact_changed").empty()) << "a new key has no earlier contact to change from";
}

TEST_F(Continuity, AKnownEmailUnderANewKeyRaisesAnAlert) {
  write({item(signed_report(key(1), "noc@x.net", "X Net", flow(1)).line)});
  write({item(signed_report(key(2), "noc@x.net", "Someone Else", flow(2)).line)});
  const auto a = alerts("identity_new_key");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["matched"], nlohmann::json::array({"email"}));
}

TEST_F(Continuity, DistinctIdentitiesAndEmptyContactsRaiseNothing) {
  write({item(signed_report(key(1), "", "", flow(1)).line), item(signed_report(key(2), "", "", flow(2)).line),
         item(signed_report(key(3), "c@z", "Z", flow(3)).line), item(signed_report(key(4), "d@w", "W", flow(4)).line)});
  EXPECT_EQ(n("SELECT COUNT(*) FROM alerts"), 0);
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys"), 4);
}

TEST_F(Continuity, ExportersAndPrefixesPerKeyAreBounded) {
  s.reset();
  StoreConfig c;
  c.path = t.path();
  c.max_per_key = 2;
  s = std::move(*SqliteStore::open(c));
  std::vector<Item> items;
  const char* exporters[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"};
  for (std::uint16_t i = 0; i < 4; ++i) items.push_back(item(signed_report(key(1), "", "", flow(i, "192.0.2.1", exporters[i])).line));
  write(items);
  EXPECT_EQ(n("SELECT exporters FROM keys"), 2);
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_exporters"), 2);
}

// Key continuity through rotation (issue 15): a new key is linked to its predecessor only by a
// valid statement (both signatures, the old key already known): key_rotated, the old key's history
// visible from the new key, no identity_new_key. A forged statement leaves things as they were.
std::string rotation_by(const report::KeyPair& old_keys, const report::KeyPair& new_keys, bool forge = false) {
  // A forgery: "signed by the old key" with the new key (only the new key signs).
  if (forge) {  // names the real old key; both signatures are by the new key
    nlohmann::json member = {{"old", report::public_key_hex(old_keys)}, {"time", kNow / 1'000'000'000}};
    std::vector<std::string> sigs;
    const std::string msg = nlohmann::json({{"rotate", {{"new", report::public_key_hex(new_keys)},
                                                         {"old", report::public_key_hex(old_keys)},
                                                         {"time", kNow / 1'000'000'000}}}}).dump();
    for (int i = 0; i < 2; ++i) {
      std::array<std::uint8_t, 64> sig{};
      crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                           new_keys.secret_key.data());
      std::string b64;
      core::append_base64(b64, sig);
      sigs.push_back(b64);
    }
    member["signatures"] = sigs;
    return member.dump();
  }
  const std::string text = report::build_rotation(old_keys, new_keys, kNow / 1'000'000'000);
  auto member = report::rotation_member(report::as_bytes(text));
  EXPECT_TRUE(member.has_value());
  return member.value_or("");
}

TEST_F(Continuity, AValidRotationStatementLinksTheNewKeyToItsPredecessor) {
  const auto old_k = key(1), new_k = key(2);
  const std::string old_hex = report::public_key_hex(old_k), new_hex = report::public_key_hex(new_k);
  write({item(signed_report(old_k, "noc@x.net", "X", flow(1, "192.0.2.1", "203.0.113.1")).line, Input::udp, kNow)});
  const auto rotated = signed_report(new_k, "noc@x.net", "X", flow(2, "192.0.2.9", "203.0.113.1"), kNow,
                                     rotation_by(old_k, new_k));
  const Item it = item(rotated.line, Input::udp, kNow + 1000);
  ASSERT_EQ(std::get<Accepted>(it.verdict).rotation, Accepted::RotationClaim::valid);
  write({it});
  const auto got = alerts("key_rotated");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["old_key"], old_hex);
  EXPECT_EQ(got[0]["new_key"], new_hex);
  EXPECT_TRUE(alerts("identity_new_key").empty()) << "the rotation explains the new key";
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys WHERE key = '" + new_hex + "' AND predecessor = '" + old_hex + "'"), 1);
  EXPECT_EQ(n("SELECT first_seen_ns FROM keys WHERE key = '" + new_hex + "'"), kNow) << "the old key's first-seen";
  EXPECT_EQ(n("SELECT COUNT(*) FROM key_contacts WHERE key = '" + new_hex + "'"), 1);
  EXPECT_EQ(n("SELECT exporters FROM keys WHERE key = '" + new_hex + "'"), 1);
  // /api/keys shows the link and the carried-over history.
  auto q = SqliteQueries::open(t.path());
  ASSERT_TRUE(q) << q.error();
  const auto keys = (*q)->keys(new_hex, 10)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["rotated_from"], old_hex);
  EXPECT_EQ(keys[0]["first_seen"], static_cast<double>(kNow) / 1e9);
  EXPECT_EQ(keys[0]["contacts"].size(), 1u);
  // Later reports carrying the same statement link nothing again.
  write({item(signed_report(new_k, "noc@x.net", "X", flow(3), kNow, rotation_by(old_k, new_k)).line, Input::udp,
              kNow + 2000)});
  EXPECT_EQ(alerts("key_rotated").size(), 1u);
}

TEST_F(Continuity, AForgedOrUnknownRotationStatementLinksNothing) {
  const auto old_k = key(1), new_k = key(2), stranger = key(3), other_new = key(4);
  write({item(signed_report(old_k, "noc@x.net", "X", flow(1)).line, Input::udp, kNow)});
  // Signed by the new key only.
  const Item forged = item(signed_report(new_k, "noc@x.net", "X", flow(2), kNow, rotation_by(old_k, new_k, true)).line,
                           Input::udp, kNow + 1000);
  EXPECT_EQ(std::get<Accepted>(forged.verdict).rotation, Accepted::RotationClaim::invalid);
  write({forged});
  EXPECT_TRUE(alerts("key_rotated").empty());
  EXPECT_EQ(alerts("identity_new_key").size(), 1u) << "as without a statement";
  EXPECT_EQ(n("SELECT COUNT(*) FROM keys WHERE predecessor <> ''"), 0);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'rotation.invalid'"), 1);
  // A valid statement from a key this receiver never saw.
  write({item(signed_report(other_new, "noc@x.net", "X", flow(3), kNow, rotation_by(stranger, other_new)).line,
              Input::udp, kNow + 2000)});
  EXPECT_TRUE(alerts("key_rotated").empty());
  EXPECT_EQ(alerts("identity_new_key").size(), 2u);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'rotation.unknown_old_key'"), 1);
}

}  // namespace
}  // namespace overflowd::receive

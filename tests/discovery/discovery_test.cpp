// Discovery's pure parts (src/discovery/): the TXT record's name, the URL it holds, the bounded
// cache, trust on first use, and the decisions on the sender's hot path (budget, lookups in flight,
// the Guard's address checks), with time passed in.
#include <gtest/gtest.h>

#include <string>

#include "discovery/cache.hpp"
#include "discovery/lookups.hpp"
#include "discovery/names.hpp"
#include "report/document.hpp"
#include "report/keys.hpp"
#include "report/signer.hpp"

namespace d = overflowd::discovery;
namespace r = overflowd::report;
using overflowd::core::IpAddress;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

std::expected<d::DocumentUrl, d::UrlErrc> url(std::string_view text) {
  return d::parse_txt(std::as_bytes(std::span(text.data(), text.size())));
}

r::KeyPair identity(std::uint8_t fill) {
  r::Seed s{};
  s.fill(fill);
  return r::keypair_from_seed(s);
}

constexpr std::int64_t kNow = 1'800'000'000;

std::string document(std::uint8_t id_fill, std::vector<std::string> prefixes, std::int64_t expires = kNow + 7200,
                     std::uint8_t x_fill = 0x33) {
  r::Document doc;
  const auto id = identity(id_fill);
  doc.identity = id.public_key;
  std::array<std::uint8_t, 32> secret{};
  secret.fill(x_fill);
  doc.encryption_keys.push_back({r::x25519_from_secret(secret).public_key, kNow - 10, kNow + 86'400 * 30});
  doc.prefixes = std::move(prefixes);
  doc.expires = expires;
  r::Signer signer(id);
  return r::build_document(doc, signer);
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

TEST(DiscoveryNames, TxtNameIsUnderTheReverseZoneOfThe24Or48) {
  EXPECT_EQ(d::txt_name(ip("198.51.100.7")), "_overflowd.100.51.198.in-addr.arpa");
  EXPECT_EQ(d::txt_name(ip("127.0.0.3")), "_overflowd.0.0.127.in-addr.arpa");
  // 2001:0db8:0001::/48, nibbles reversed (RFC 3596).
  EXPECT_EQ(d::txt_name(ip("2001:db8:1::5")), "_overflowd.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(d::zone_prefix(ip("198.51.100.7")).to_string(), "198.51.100.0/24");
  EXPECT_EQ(d::zone_prefix(ip("2001:db8:1:2::5")).to_string(), "2001:db8:1::/48");
}

TEST(DiscoveryNames, TxtUrlsAreReadStrictly) {
  auto u = url(" https://overflowd.example.net/.well-known/overflowd ");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "overflowd.example.net");
  EXPECT_EQ(u->port, 0);
  EXPECT_EQ(u->path, "/.well-known/overflowd");
  EXPECT_FALSE(u->address());
  u = url("http://127.0.0.3:8080/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->address(), ip("127.0.0.3"));
  u = url("http://[::1]:81/.well-known/overflowd");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 81);
  EXPECT_EQ(url("").error(), d::UrlErrc::empty);
  EXPECT_EQ(url("ftp://a/b").error(), d::UrlErrc::bad_scheme);
  EXPECT_EQ(url("http://a b/").error(), d::UrlErrc::bad_character);
  EXPECT_EQ(url("http://host").error(), d::UrlErrc::bad_path);
  EXPECT_EQ(url("http://user@host/").error(), d::UrlErrc::bad_host);
  EXPECT_EQ(url("http://1.2.3/").error(), d::UrlErrc::bad_host);  // no IPv4 shorthand
  EXPECT_EQ(url("http://[1.2.3.4]/").error(), d::UrlErrc::bad_host);
  EXPECT_EQ(url("http://h:0/").error(), d::UrlErrc::bad_port);
  EXPECT_EQ(url("http://h:65536/").error(), d::UrlErrc::bad_port);
  EXPECT_EQ(url("http://h:/").error(), d::UrlErrc::bad_port);
  EXPECT_EQ(url("http://h/\x7f").error(), d::UrlErrc::bad_character);
  EXPECT_EQ(url("http://h/" + std::string(600, 'a')).error(), d::UrlErrc::too_long);
  EXPECT_EQ(d::address_url(ip("127.0.0.3"), false, 8080), "http://127.0.0.3:8080/.well-known/overflowd");
  EXPECT_EQ(d::address_url(ip("::1"), true, 0), "https://[::1]/.well-known/overflowd");
}

TEST(DiscoveryCache, PositiveUntilExpiresAtMostADayNegativeAnHourLruBounded) {
  d::KeyCache cache(2);
  d::Found f;
  f.expires = kNow + 10 * 86'400;  // capped at a day
  cache.put_positive("a", f, kNow);
  ASSERT_NE(cache.find("a", kNow + 86'399), nullptr);
  EXPECT_EQ(cache.find("a", kNow + 86'400), nullptr);
  cache.put_negative("b", kNow);
  ASSERT_NE(cache.find("b", kNow + 3599), nullptr);
  EXPECT_EQ(cache.find("b", kNow + 3599)->state, d::CacheEntry::State::negative);
  EXPECT_EQ(cache.find("b", kNow + 3600), nullptr);
  f.expires = kNow + 100;
  cache.put_positive("c", f, kNow);
  EXPECT_EQ(cache.find("c", kNow + 100), nullptr);
  // LRU: at most 2 entries; the least recently used goes.
  cache.put_negative("x", kNow);
  cache.put_negative("y", kNow);
  ASSERT_NE(cache.find("x", kNow), nullptr);  // x is now the most recent
  cache.put_negative("z", kNow);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.find("x", kNow), nullptr);
  EXPECT_EQ(cache.find("y", kNow), nullptr);
  EXPECT_GE(cache.evicted(), 1u);
  // A document already expired is a negative entry.
  f.expires = kNow - 1;
  cache.put_positive("old", f, kNow);
  EXPECT_EQ(cache.find("old", kNow)->state, d::CacheEntry::State::negative);
}

TEST(DiscoveryTofu, FirstIdentityIsKeptAChangeIsRefusedPinnedDecidesAlone) {
  d::TofuTable tofu(16);
  const auto a = identity(1).public_key, b = identity(2).public_key;
  EXPECT_EQ(tofu.judge("127.0.0.0/8", a), d::Trust::first_use);
  EXPECT_EQ(tofu.judge("127.0.0.0/8", a), d::Trust::seen);
  EXPECT_EQ(tofu.judge("127.0.0.0/8", b), d::Trust::changed);
  EXPECT_EQ(tofu.judge("127.0.0.0/8", a), d::Trust::seen);  // the first stays trusted
  EXPECT_EQ(tofu.judge("10.0.0.0/8", b, a), d::Trust::changed);
  EXPECT_EQ(tofu.judge("10.0.0.0/8", a, a), d::Trust::pinned);
}

TEST(DiscoveryDocument, OnlySignedUnexpiredDocumentsForTheAddressAreUsed) {
  const auto ok = d::check_document(bytes(document(1, {"127.0.0.0/8"})), ip("127.0.0.3"), kNow);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->identity, identity(1).public_key);
  EXPECT_TRUE(ok->covers(ip("127.9.9.9")));
  EXPECT_EQ(d::check_document(bytes(document(1, {"10.0.0.0/8"})), ip("127.0.0.3"), kNow).error(), d::Outcome::other_prefix);
  EXPECT_EQ(d::check_document(bytes(document(1, {"127.0.0.0/8"}, kNow - 1)), ip("127.0.0.3"), kNow).error(),
            d::Outcome::expired);
  std::string bad = document(1, {"127.0.0.0/8"});
  bad[bad.find("127.0.0.0/8")] = '2';  // the message no longer matches its signature
  EXPECT_EQ(d::check_document(bytes(bad), ip("127.0.0.3"), kNow).error(), d::Outcome::bad_signature);
  EXPECT_EQ(d::check_document(bytes(std::string("{}")), ip("127.0.0.3"), kNow).error(), d::Outcome::bad_signature);
  EXPECT_EQ(d::check_document(bytes(std::string(d::kMaxDocumentBytes + 1, ' ')), ip("127.0.0.3"), kNow).error(),
            d::Outcome::too_large);
}

TEST(DiscoveryLookups, AMissQueuesOneLookupWithinBudgetAndInFlightBound) {
  d::LookupsConfig c;
  c.mode = d::Mode::dns;
  c.budget = {10, 10};
  c.max_in_flight = 4;
  c.allow.push_back(*overflowd::guard::Cidr::parse("127.0.0.0/8"));
  d::Lookups l(c);
  std::optional<d::Job> job;
  std::int64_t ns = 1'000'000'000;
  // Four /24s: four lookups, then the in-flight bound.
  for (int i = 0; i < 6; ++i) {
    const auto a = ip(("127.0." + std::to_string(i) + ".1").c_str());
    EXPECT_FALSE(l.want(a, kNow, ns, job));
    EXPECT_EQ(job.has_value(), i < 4) << i;
  }
  EXPECT_EQ(l.in_flight(), 4u);
  // The same /24 again: pending, no second lookup.
  EXPECT_FALSE(l.want(ip("127.0.0.99"), kNow, ns, job));
  EXPECT_FALSE(job);
  // A found key answers for its zone once covered.
  const d::Job j0{"127.0.0.0/24", ip("127.0.0.1")};
  auto found = d::check_document(bytes(document(1, {"127.0.0.0/8"})), j0.address, kNow);
  ASSERT_TRUE(found);
  l.finish(j0, l.trust(j0, *found), kNow);
  const auto key = l.want(ip("127.0.0.200"), kNow, ns, job);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, found->x25519);
  EXPECT_EQ(l.outcome(d::Outcome::ok), 1u);
  // Another identity for the same prefix, from another zone: refused, counted, negative.
  const d::Job j1{"127.0.1.0/24", ip("127.0.1.1")};
  auto other = d::check_document(bytes(document(2, {"127.0.0.0/8"})), j1.address, kNow);
  ASSERT_TRUE(other);
  auto judged = l.trust(j1, *other);
  EXPECT_EQ(judged.error(), d::Outcome::identity_changed);
  l.finish(j1, judged, kNow);
  EXPECT_FALSE(l.want(ip("127.0.1.5"), kNow, ns, job));
  EXPECT_FALSE(job);
  EXPECT_EQ(l.outcome(d::Outcome::identity_changed), 1u);
  // Negative for an hour, then looked up again.
  EXPECT_FALSE(l.want(ip("127.0.1.5"), kNow + 3600, ns, job));
  EXPECT_TRUE(job);
}

TEST(DiscoveryLookups, TheBudgetHoldsUnderAFloodOfNewAddresses) {
  d::LookupsConfig c;
  c.mode = d::Mode::http;
  c.budget = {10, 10};
  c.cache = 50;
  c.max_in_flight = 1'000'000;
  c.allow.push_back(*overflowd::guard::Cidr::parse("127.0.0.0/8"));
  d::Lookups l(c);
  std::optional<d::Job> job;
  // 10,000 addresses over 5 simulated seconds: at most 10 + 10 x 5 lookups; every lookup ends.
  std::uint64_t started = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::int64_t ns = std::int64_t{i} * 500'000;  // 5 s in all
    const auto a = IpAddress::v4((127u << 24) | static_cast<std::uint32_t>(i + 1));
    (void)l.want(a, kNow, ns, job);
    if (job) {
      ++started;
      l.finish(*job, std::unexpected(d::Outcome::no_record), kNow);
    }
  }
  EXPECT_EQ(started, l.started());
  EXPECT_LE(started, 10u + 50u);
  EXPECT_GE(started, 50u);
  EXPECT_LE(l.cache_size(), 50u);
}

TEST(DiscoveryLookups, TheGuardsAddressChecksComeFirst) {
  d::LookupsConfig c;
  c.mode = d::Mode::http;
  c.deny.push_back(*overflowd::guard::Cidr::parse("198.51.100.0/24"));
  d::Lookups l(c);
  std::optional<d::Job> job;
  EXPECT_FALSE(l.want(ip("127.0.0.3"), kNow, 0, job));  // loopback, not allowed
  EXPECT_FALSE(job);
  EXPECT_FALSE(l.want(ip("198.51.100.7"), kNow, 0, job));  // denied (and documentation space)
  EXPECT_FALSE(job);
  EXPECT_EQ(l.started(), 0u);
  std::vector<overflowd::core::NamedCount> out;
  l.append_counters(out);
  auto value = [&](const std::string& n) {
    for (const auto& c2 : out)
      if (c2.name == n) return c2.value;
    return std::uint64_t{999};
  };
  EXPECT_EQ(value("discovery.refused.special_purpose"), 1u);
  EXPECT_EQ(value("discovery.refused.denied"), 1u);
  // Off: nothing.
  d::Lookups off(d::LookupsConfig{});
  EXPECT_FALSE(off.want(ip("127.0.0.9"), kNow, 0, job));
  EXPECT_FALSE(job);
}

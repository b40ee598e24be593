// Trust on first use kept across restarts (--discovery-trust, src/discovery/trust_file.hpp and
// net/discoverer.hpp): the file's parser (coded errors with a line), its atomic write, the bound,
// and the decision a restarted sender makes: an identity learned before the restart still decides,
// so a document signed by another one is refused and counted (discovery.identity_changed).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "discovery/lookups.hpp"
#include "discovery/net/discoverer.hpp"
#include "discovery/trust_file.hpp"
#include "report/document.hpp"
#include "report/keys.hpp"
#include "report/signer.hpp"

namespace d = overflowd::discovery;
namespace r = overflowd::report;
using overflowd::core::IpAddress;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

r::KeyPair identity(std::uint8_t fill) {
  r::Seed s{};
  s.fill(fill);
  return r::keypair_from_seed(s);
}

// A document signed by identity(id_fill) for `prefix`, read as a lookup would (check_document).
d::Found found(std::uint8_t id_fill, const std::string& prefix, const IpAddress& address) {
  r::Document doc;
  const auto id = identity(id_fill);
  doc.identity = id.public_key;
  std::array<std::uint8_t, 32> secret{};
  secret.fill(0x33);
  doc.encryption_keys.push_back({r::x25519_from_secret(secret).public_key, kNow - 10, kNow + 86'400});
  doc.prefixes = {prefix};
  doc.expires = kNow + 7200;
  r::Signer signer(id);
  const std::string text = r::build_document(doc, signer);
  auto f = d::check_document(std::as_bytes(std::span(text.data(), text.size())), address, kNow);
  EXPECT_TRUE(f.has_value());
  return *f;
}

std::map<std::string, std::uint64_t> counts(const d::Lookups& l) {
  std::vector<overflowd::core::NamedCount> out;
  l.append_counters(out);
  std::map<std::string, std::uint64_t> m;
  for (const auto& c : out) m[c.name] = c.value;
  return m;
}

std::expected<std::vector<d::TrustEntry>, d::TrustError> parse(const std::string& s) {
  return d::parse_trust(std::as_bytes(std::span(s.data(), s.size())));
}

std::string hex(std::uint8_t fill) { return overflowd::core::to_hex(identity(fill).public_key); }

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "trust_file_test.XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST(DiscoveryTrustFile, ReadsBackWhatItWritesAndRefusesBadLinesByCodeAndLine) {
  const std::vector<d::TrustEntry> entries = {{"127.0.0.0/8", identity(1).public_key, kNow, kNow + 60},
                                              {"2001:db8::/48", identity(2).public_key, 5, 5}};
  const std::string text = d::format_trust(entries);
  EXPECT_EQ(text, "overflowd-discovery-trust 1\n127.0.0.0/8 " + hex(1) + " 1800000000 1800000060\n2001:db8::/48 " +
                      hex(2) + " 5 5\n");
  auto back = parse(text);
  ASSERT_TRUE(back) << d::to_string(back.error().code);
  EXPECT_EQ(*back, entries);
  EXPECT_TRUE(parse("overflowd-discovery-trust 1\n")->empty());

  auto refused = [](const std::string& s) { return parse(s).error(); };
  const std::string head = "overflowd-discovery-trust 1\n";
  EXPECT_EQ(refused("").code, d::TrustErrc::bad_header);
  EXPECT_EQ(refused("overflowd-discovery-trust 2\n").code, d::TrustErrc::bad_header);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " 1 2").code, d::TrustErrc::bad_line);  // no newline
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " 1  2\n").code, d::TrustErrc::bad_line);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " 1 2 3\n").code, d::TrustErrc::bad_line);
  EXPECT_EQ(refused(head + "127.0.0.1/8 " + hex(1) + " 1 2\n").code, d::TrustErrc::bad_prefix);  // not canonical
  EXPECT_EQ(refused(head + "example " + hex(1) + " 1 2\n").code, d::TrustErrc::bad_prefix);
  std::string upper = hex(1);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + upper + " 1 2\n").code, d::TrustErrc::bad_identity);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1).substr(2) + " 1 2\n").code, d::TrustErrc::bad_identity);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " 3 2\n").code, d::TrustErrc::bad_time);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " -1 2\n").code, d::TrustErrc::bad_time);
  EXPECT_EQ(refused(head + "127.0.0.0/8 " + hex(1) + " 01 2\n").code, d::TrustErrc::bad_time);
  const auto dup = refused(head + "127.0.0.0/8 " + hex(1) + " 1 2\n127.0.0.0/8 " + hex(2) + " 1 2\n");
  EXPECT_EQ(dup.code, d::TrustErrc::duplicate);
  EXPECT_EQ(dup.line, 3u);
  EXPECT_EQ(refused(std::string(d::kMaxTrustBytes + 1, 'x')).code, d::TrustErrc::too_large);
  std::string many = head;
  const std::string one = hex(1);
  for (std::size_t i = 0; i <= d::kMaxTrustEntries; ++i)
    many += "10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) +
            "/32 " + one + " 1 2\n";
  const auto over = refused(many);
  EXPECT_EQ(over.code, d::TrustErrc::too_many);
  EXPECT_EQ(over.line, d::kMaxTrustEntries + 2);
}

TEST(DiscoveryTrustFile, TheTableIsBoundedAndKeepsTheMostRecentlySeen) {
  d::TofuTable tofu(2);
  const auto a = identity(1).public_key;
  EXPECT_EQ(tofu.judge("10.0.0.0/8", a, std::nullopt, 100), d::Trust::first_use);
  EXPECT_TRUE(tofu.learned());
  tofu.take_dirty();
  EXPECT_EQ(tofu.judge("10.0.0.0/8", a, std::nullopt, 160), d::Trust::seen);
  EXPECT_TRUE(tofu.dirty());
  EXPECT_FALSE(tofu.learned());
  const auto e = tofu.entries();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].first_seen, 100);
  EXPECT_EQ(e[0].last_seen, 160);
  // Three entries into a table of two: the two most recent (first in the file) are kept, in order.
  d::TofuTable small(2);
  const std::vector<d::TrustEntry> three = {{"10.0.0.0/8", a, 1, 30}, {"11.0.0.0/8", a, 1, 20}, {"12.0.0.0/8", a, 1, 10}};
  EXPECT_EQ(small.load(three), 2u);
  const auto kept = small.entries();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].prefix, "10.0.0.0/8");
  EXPECT_EQ(kept[1].prefix, "11.0.0.0/8");
}

TEST(DiscoveryTrustFile, WrittenAtomicallyMode0600AndABadFileIsAnErrorNamingTheLine) {
  TempDir dir;
  const std::string path = (dir.path / "trust").string();
  auto none = d::read_trust_file(path);  // no file yet: an empty table
  ASSERT_TRUE(none) << none.error();
  EXPECT_TRUE(none->empty());
  const std::vector<d::TrustEntry> entries = {{"127.0.0.0/8", identity(1).public_key, kNow, kNow}};
  ASSERT_TRUE(d::write_trust_file(path, d::format_trust(entries)));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = d::read_trust_file(path);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, entries);

  std::ofstream(path, std::ios::app) << "127.0.0.0/8 zz 1 2\n";
  auto bad = d::read_trust_file(path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("line 3: bad_identity"), std::string::npos) << bad.error();
  // The sender refuses to start on it.
  d::DiscovererConfig c;
  c.lookups.mode = d::Mode::http;
  c.trust_file = path;
  auto opened = d::Discoverer::open(c, overflowd::core::system_clock());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("--discovery-trust"), std::string::npos) << opened.error();
  // A good file is loaded (counted).
  ASSERT_TRUE(d::write_trust_file(path, d::format_trust(entries)));
  auto good = d::Discoverer::open(c, overflowd::core::system_clock());
  ASSERT_TRUE(good) << good.error();
  std::vector<overflowd::core::NamedCount> out;
  (*good)->append_counters(out);
  bool loaded = false;
  for (const auto& n : out)
    if (n.name == "discovery.trust.loaded") loaded = n.value == 1;
  EXPECT_TRUE(loaded);
}

TEST(DiscoveryTrustFile, ARestartedSenderStillRefusesAnotherIdentityForAPrefixItLearned) {
  TempDir dir;
  const std::string path = (dir.path / "trust").string();
  const IpAddress address = *IpAddress::parse("127.0.0.3");
  d::LookupsConfig config;
  config.mode = d::Mode::http;
  const d::Job job{"127.0.0.3", address};
  {
    d::Lookups before(config);  // the first run learns identity 1 for 127.0.0.0/8
    auto ok = before.trust(job, found(1, "127.0.0.0/8", address), std::nullopt, kNow);
    ASSERT_TRUE(ok);
    before.finish(job, std::move(ok), kNow);
    ASSERT_TRUE(d::write_trust_file(path, d::format_trust(before.tofu().entries())));
  }
  // Without the file (as before --discovery-trust), a restart trusts identity 2 afresh.
  {
    d::Lookups fresh(config);
    EXPECT_TRUE(fresh.trust(job, found(2, "127.0.0.0/8", address), std::nullopt, kNow + 10));
  }
  // With it, identity 2 is refused and counted; identity 1 is still trusted, its last seen moved.
  auto trusted = d::read_trust_file(path);
  ASSERT_TRUE(trusted) << trusted.error();
  d::Lookups after(config);
  EXPECT_EQ(after.tofu().load(*trusted), 1u);
  auto changed = after.trust(job, found(2, "127.0.0.0/8", address), std::nullopt, kNow + 10);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error(), d::Outcome::identity_changed);
  after.finish(job, std::move(changed), kNow + 10);
  EXPECT_EQ(counts(after)["discovery.identity_changed"], 1u);
  EXPECT_TRUE(after.trust(job, found(1, "127.0.0.0/8", address), std::nullopt, kNow + 20));
  const auto e = after.tofu().entries();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].first_seen, kNow);
  EXPECT_EQ(e[0].last_seen, kNow + 20);
}

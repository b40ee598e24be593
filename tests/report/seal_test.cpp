// The encryption mode's pure core (report/seal.hpp, report/document.hpp) against PyNaCl
// (tests/report/nacl_helper.py): boxes sealed here open there and the other way round, kids agree,
// documents and rotation statements signed here verify there.
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <string>

#include "core/encoding.hpp"
#include "core/ip_address.hpp"
#include "report/document.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/seal.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace {

namespace r = overflowd::report;
namespace core = overflowd::core;

// Runs the PyNaCl helper with `input` on stdin; its stdout, or "FAILED" when it exits non-zero.
std::string nacl(const std::string& args, const std::string& input) {
  // __FILE__ may be relative to the build folder (ccache's base_dir), where the binary is.
  std::filesystem::path source(__FILE__);
  if (source.is_relative()) source = std::filesystem::path(OVERFLOWD_BINARY).parent_path() / source;
  const auto helper = source.parent_path() / "nacl_helper.py";
  const auto in = std::filesystem::temp_directory_path() / ("seal_test_" + std::to_string(::getpid()));
  {
    std::ofstream f(in, std::ios::binary);
    f << input;
  }
  const std::string cmd = "/usr/bin/python3 " + helper.string() + " " + args + " < " + in.string();
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  std::filesystem::remove(in);
  if (rc != 0) return "FAILED";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

r::X25519KeyPair test_x25519(std::uint8_t fill = 0x11) {
  std::array<std::uint8_t, 32> s{};
  s.fill(fill);
  return r::x25519_from_secret(s);
}

r::KeyPair test_identity(std::uint8_t fill = 0x22) {
  r::Seed s{};
  s.fill(fill);
  return r::keypair_from_seed(s);
}

std::string signed_report(std::string recipient = {}) {
  core::FlowRecord f;
  f.src = *core::IpAddress::parse("192.0.2.1");
  f.dst = *core::IpAddress::parse("198.51.100.7");
  f.pcount = 3;
  f.fields = core::kNetflowV5Fields;
  r::ReportBuilder b(r::ReportConfig{{"noc@example.net", "Example Net"}});
  std::string msg;
  b.build(f, 1'763'850'000'123'456'000, msg);
  if (!recipient.empty()) {
    EXPECT_TRUE(r::add_recipient(msg, recipient));
  }
  r::Signer signer(test_identity());
  r::SignedReport out;
  signer.sign(msg, out);
  return std::string(out.compact());
}

TEST(Seal, KidAndPublicKeyAgreeWithPyNaCl) {
  const auto k = test_x25519();
  EXPECT_EQ(nacl("public " + core::to_hex(k.secret), ""), core::to_hex(k.public_key));
  EXPECT_EQ(nacl("kid " + core::to_hex(k.public_key), ""), r::kid_hex(k.public_key));
  EXPECT_EQ(r::kid_hex(k.public_key).size(), 16u);
}

TEST(Seal, SealedHereOpensInPyNaCl) {
  const auto k = test_x25519();
  const std::string report = signed_report("198.51.100.7");
  std::string env;
  r::seal(report, k.public_key, env);
  EXPECT_TRUE(r::looks_sealed(env));
  EXPECT_EQ(env.find("noc@example.net"), std::string::npos);
  EXPECT_EQ(nacl("open " + core::to_hex(k.secret), env), report);
  // And here.
  r::Keyring ring;
  ring.add(test_x25519(0x33));
  ring.add(k);
  auto opened = r::open_sealed(r::as_bytes(env), ring);
  ASSERT_TRUE(opened) << r::to_string(opened.error());
  EXPECT_EQ(opened->report, report);
  EXPECT_EQ(opened->kid, r::key_id(k.public_key));
  auto v = r::verify_report(opened->report);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->report["metadata"]["recipient"], "198.51.100.7");
}

TEST(Seal, SealedByPyNaClOpensHere) {
  const auto k = test_x25519();
  const std::string report = signed_report();
  const std::string env = nacl("seal " + core::to_hex(k.public_key), report);
  r::Keyring ring;
  ring.add(k);
  auto opened = r::open_sealed(r::as_bytes(env), ring);
  ASSERT_TRUE(opened) << r::to_string(opened.error());
  EXPECT_EQ(opened->report, report);
}

TEST(Seal, RefusalsAreNamed) {
  const auto k = test_x25519();
  std::string env;
  r::seal("{\"x\":1}", k.public_key, env);
  r::Keyring none;
  EXPECT_EQ(r::open_sealed(r::as_bytes(env), none).error(), r::SealErrc::no_key);
  r::Keyring other;
  other.add(test_x25519(0x44));
  EXPECT_EQ(r::open_sealed(r::as_bytes(env), other).error(), r::SealErrc::unknown_kid);
  r::Keyring ring;
  ring.add(k);
  // A box sealed to another key under our kid does not open.
  std::string wrong;
  r::seal("{\"x\":1}", test_x25519(0x44).public_key, wrong);
  const auto kid_at = wrong.find("\"kid\":\"") + 7;
  wrong.replace(kid_at, 16, r::kid_hex(k.public_key));
  EXPECT_EQ(r::open_sealed(r::as_bytes(wrong), ring).error(), r::SealErrc::bad_box);
  const std::pair<const char*, r::SealErrc> cases[] = {
      {"not json", r::SealErrc::not_json},
      {"{\"sealed\":{\"v\":1,\"kid\":\"0011223344556677\",\"box\":\"\"},\"x\":1}", r::SealErrc::not_sealed},
      {"{\"sealed\":{\"v\":1,\"kid\":\"0011223344556677\"}}", r::SealErrc::bad_envelope},
      {"{\"sealed\":{\"v\":2,\"kid\":\"0011223344556677\",\"box\":\"\"}}", r::SealErrc::bad_version},
      {"{\"sealed\":{\"v\":1,\"kid\":\"00112233\",\"box\":\"\"}}", r::SealErrc::bad_kid},
      {"{\"sealed\":{\"v\":1,\"kid\":\"0011223344556677\",\"box\":\"AAAA\"}}", r::SealErrc::bad_box},
      {"{\"sealed\":{\"v\":1,\"v\":1,\"kid\":\"0011223344556677\",\"box\":\"\"}}", r::SealErrc::not_json},
  };
  for (const auto& [text, errc] : cases) {
    auto got = r::parse_sealed(r::as_bytes(text));
    ASSERT_FALSE(got) << text;
    EXPECT_EQ(got.error(), errc) << text;
  }
}

TEST(Seal, RecipientKeepsTheReportCanonical) {
  const std::string report = signed_report("2001:db8::1");
  auto v = r::verify_report(report);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->report.dump(), v->message);  // sorted, no white space: still canonical
  std::string twice = v->message;
  EXPECT_FALSE(r::add_recipient(twice, "192.0.2.1"));  // one recipient only
}

r::Document test_document(std::int64_t now) {
  r::Document d;
  d.identity = test_identity().public_key;
  d.encryption_keys.push_back({test_x25519().public_key, now - 10, now + 86'400});
  d.contact = {{"email", "abuse@example.net"}};
  d.prefixes = {"198.51.100.0/24", "2001:db8::/32"};
  d.expires = now + 3600;
  return d;
}

TEST(Document, SignedHereVerifiesInPyNaClAndHere) {
  const std::int64_t now = 1'800'000'000;
  r::Signer signer(test_identity());
  const std::string line = r::build_document(test_document(now), signer);
  EXPECT_EQ(nacl("document", line), core::to_hex(test_identity().public_key));
  auto doc = r::parse_document(r::as_bytes(line), now);
  ASSERT_TRUE(doc) << r::to_string(doc.error());
  ASSERT_NE(doc->current_key(now), nullptr);
  EXPECT_EQ(doc->current_key(now)->x25519, test_x25519().public_key);
  EXPECT_TRUE(doc->speaks_for(*core::IpAddress::parse("198.51.100.9")));
  EXPECT_FALSE(doc->speaks_for(*core::IpAddress::parse("203.0.113.9")));
}

TEST(Document, RefusedWhenExpiredForgedOrSignedByAnother) {
  const std::int64_t now = 1'800'000'000;
  r::Signer signer(test_identity());
  const std::string line = r::build_document(test_document(now), signer);
  EXPECT_EQ(r::parse_document(r::as_bytes(line), now + 3600).error(), r::DocumentErrc::expired);
  std::string forged = line;
  forged.replace(forged.find("abuse@"), 6, "evil@@");
  EXPECT_EQ(r::parse_document(r::as_bytes(forged), now).error(), r::DocumentErrc::not_signed);
  r::Signer other(test_identity(0x55));
  const std::string by_other = r::build_document(test_document(now), other);
  EXPECT_EQ(r::parse_document(r::as_bytes(by_other), now).error(), r::DocumentErrc::identity_mismatch);
  auto old_keys = test_document(now);
  old_keys.encryption_keys[0].not_after = now - 1;
  EXPECT_EQ(r::parse_document(r::as_bytes(r::build_document(old_keys, signer)), now).error(),
            r::DocumentErrc::no_valid_key);
}

TEST(Rotation, SignedByBothVerifiesInPyNaClAndHere) {
  const auto a = test_identity(1), b = test_identity(2);
  const std::string st = r::build_rotation(a, b, 1'800'000'000);
  EXPECT_EQ(nacl("rotation", st), core::to_hex(a.public_key) + " " + core::to_hex(b.public_key));
  auto rot = r::verify_rotation(r::as_bytes(st));
  ASSERT_TRUE(rot) << r::to_string(rot.error());
  EXPECT_EQ(rot->old_key, a.public_key);
  EXPECT_EQ(rot->new_key, b.public_key);
  EXPECT_EQ(rot->time, 1'800'000'000);
}

TEST(Rotation, SignedByTheNewKeyOnlyIsRefused) {
  const auto a = test_identity(1), b = test_identity(2);
  // Both blocks by the new key: a forgery of the old key's consent.
  auto st = nlohmann::json::parse(r::build_rotation(b, b, 1'800'000'000));
  st["rotate"]["old"] = core::to_hex(a.public_key);
  EXPECT_FALSE(r::verify_rotation(st));
  auto real = nlohmann::json::parse(r::build_rotation(a, b, 1'800'000'000));
  real["signatures"][0] = real["signatures"][1];
  EXPECT_EQ(r::verify_rotation(real).error(), r::RotationErrc::wrong_keys);
  real = nlohmann::json::parse(r::build_rotation(a, b, 1'800'000'000));
  real["rotate"]["time"] = 1;
  EXPECT_EQ(r::verify_rotation(real).error(), r::RotationErrc::bad_signature);
}

}  // namespace

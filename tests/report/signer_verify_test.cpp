#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/encoding.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace {

using overflowd::core::FlowRecord;
using overflowd::core::IpAddress;
using overflowd::report::KeyPair;
using overflowd::report::keypair_from_seed;
using overflowd::report::Seed;
using overflowd::report::SignedReport;
using overflowd::report::Signer;
using overflowd::report::verify_report;
using overflowd::report::VerifyErrc;
namespace core = overflowd::core;

Seed seed_from_hex(std::string_view hex) {
  Seed s{};
  EXPECT_TRUE(core::from_hex(hex, s));
  return s;
}

KeyPair test_keys() { return keypair_from_seed(seed_from_hex(std::string(64, '7'))); }

std::string message() {
  FlowRecord f;
  f.src = *IpAddress::parse("122.166.90.143");
  f.dst = *IpAddress::parse("191.100.10.187");
  f.nexthop = *IpAddress::parse("0.0.0.0");
  f.exporter = *IpAddress::parse("122.166.4.242");
  f.pcount = 6;
  f.bcount = 1244;
  f.stime_ms = 1'185'554'890'916;
  f.etime_ms = 1'185'554'891'116;
  f.sport = 2968;
  f.dport = 80;
  f.protocol = 6;
  f.tcp_flags = 27;
  f.source_version = 5;
  f.fields = core::kNetflowV5Fields;
  overflowd::report::ReportBuilder b(overflowd::report::ReportConfig{{"noc@example.net", "Example Net"}});
  std::string out;
  b.build(f, 1'763'850'000'123'456'000, out);
  return out;
}

SignedReport sign(const std::string& msg, const KeyPair& keys = test_keys()) {
  Signer signer(keys);
  SignedReport r;
  signer.sign(msg, r);
  return r;
}

VerifyErrc refusal(const std::string& line) {
  const auto v = verify_report(line);
  EXPECT_FALSE(v) << "verified: " << line.substr(0, 200);
  return v ? VerifyErrc{} : v.error();
}

std::string replace(std::string s, std::string_view from, std::string_view to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string signature_b64(const std::string& line) {
  return nlohmann::json::parse(line)["signature"]["signature"].get<std::string>();
}

// ---- the good path ----

TEST(SignVerify, SignedLineVerifies) {
  const KeyPair keys = test_keys();
  const std::string msg = message();
  const auto r = sign(msg, keys);
  const auto v = verify_report(r.line);
  ASSERT_TRUE(v) << overflowd::report::to_string(v.error());
  EXPECT_EQ(v->message, msg);
  EXPECT_EQ(v->key, keys.public_key);
  EXPECT_FALSE(v->compact);
  EXPECT_EQ(v->report, nlohmann::json::parse(msg));
}

TEST(SignVerify, LineWithoutItsSignatureBlockIsTheMessage) {
  const std::string msg = message();
  const auto r = sign(msg);
  const std::string_view sep = ",\"signature\":";
  ASSERT_GE(r.signature_at, sep.size());
  EXPECT_EQ(std::string_view(r.line).substr(r.signature_at - sep.size(), sep.size()), sep);
  EXPECT_EQ(r.line.substr(0, r.signature_at - sep.size()) + "}", msg);
  EXPECT_EQ(r.line.back(), '}');
  EXPECT_EQ(r.line.find('\n'), std::string::npos);
  // The signature block is the line's last member and has exactly the two keys.
  const auto j = nlohmann::ordered_json::parse(r.line);
  EXPECT_EQ(std::prev(j.end()).key(), "signature");
  EXPECT_EQ(j["signature"].size(), 2u);
  // And the line is canonical JSON as well (sorted keys, no white space).
  EXPECT_EQ(nlohmann::json::parse(r.line).dump(), r.line);
}

TEST(SignVerify, SignatureIsPyNaClsSignedMessageInBase64) {
  const KeyPair keys = test_keys();
  const std::string msg = message();
  const auto r = sign(msg, keys);
  const auto j = nlohmann::json::parse(r.line);
  EXPECT_EQ(j["signature"]["key"], core::to_hex(keys.public_key));
  const auto raw = core::from_base64(j["signature"]["signature"].get<std::string>());
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 64 + msg.size());
  EXPECT_EQ(std::string(raw->begin() + 64, raw->end()), msg);
}

TEST(SignVerify, CompactFormVerifies) {
  const std::string msg = message();
  const auto r = sign(msg);
  const std::string compact(r.compact());
  EXPECT_EQ(compact.front(), '{');
  EXPECT_EQ(nlohmann::json::parse(compact), nlohmann::json::parse(r.line)["signature"]);
  const auto v = verify_report(compact);
  ASSERT_TRUE(v) << overflowd::report::to_string(v.error());
  EXPECT_TRUE(v->compact);
  EXPECT_EQ(v->message, msg);
  EXPECT_EQ(v->report, nlohmann::json::parse(msg));
}

TEST(SignVerify, ReserializedReportStillVerifies) {
  // Verification compares parsed JSON, so a report that went through a pretty printer still checks.
  const auto r = sign(message());
  EXPECT_TRUE(verify_report(nlohmann::json::parse(r.line).dump(2)));
  EXPECT_TRUE(verify_report(nlohmann::ordered_json::parse(r.line).dump(1, '\t')));
}

TEST(SignVerify, SignerReusesItsBuffersAcrossReports) {
  Signer signer(test_keys());
  SignedReport r;
  const std::string big = message();
  signer.sign(big, r);
  ASSERT_TRUE(verify_report(r.line));
  signer.sign("{\"a\":1}", r);
  const auto v = verify_report(r.line);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->message, "{\"a\":1}");
}

// ---- tampering ----

TEST(SignVerifyTamper, ChangedFieldIsAMismatch) {
  const auto r = sign(message());
  EXPECT_EQ(refusal(replace(r.line, "\"pcount\":6", "\"pcount\":7")), VerifyErrc::message_mismatch);
  EXPECT_EQ(refusal(replace(r.line, "122.166.90.143", "122.166.90.144")), VerifyErrc::message_mismatch);
  EXPECT_EQ(refusal(replace(r.line, "Example Net", "Other Net")), VerifyErrc::message_mismatch);
  EXPECT_EQ(refusal(replace(r.line, "\"time\":1763850000.123456", "\"time\":1763850000.123457")),
            VerifyErrc::message_mismatch);
}

TEST(SignVerifyTamper, AddedUnsignedFieldIsAMismatch) {
  const auto r = sign(message());
  EXPECT_EQ(refusal(replace(r.line, "{\"contact\"", "{\"abuse\":\"call me\",\"contact\"")), VerifyErrc::message_mismatch);
  EXPECT_EQ(refusal(replace(r.line, "\"bcount\"", "\"attack\":true,\"bcount\"")), VerifyErrc::message_mismatch);
  EXPECT_EQ(refusal(replace(r.line, "\"signature\":{", "\"zzz\":1,\"signature\":{")), VerifyErrc::message_mismatch);
}

TEST(SignVerifyTamper, RemovedFieldIsAMismatch) {
  const auto r = sign(message());
  EXPECT_EQ(refusal(replace(r.line, "\"contact\":{\"email\":\"noc@example.net\",\"identity\":\"Example Net\"},", "")),
            VerifyErrc::message_mismatch);
}

TEST(SignVerifyTamper, ExtraMemberInTheSignatureBlockIsRefused) {
  // The signature block is not signed: anything added to it would ride along unsigned.
  const auto r = sign(message());
  EXPECT_EQ(refusal(replace(r.line, "\"signature\":{\"key\"", "\"signature\":{\"contact\":\"evil\",\"key\"")),
            VerifyErrc::no_signature_block);
}

TEST(SignVerifyTamper, DuplicateKeyIsRefused) {
  // With duplicate names, parsers disagree on which value counts (nlohmann keeps the last, others
  // the first): an unsigned value would ride along for some readers. RFC 8785 requires I-JSON
  // (RFC 7493), which forbids duplicates.
  const auto r = sign(message());
  EXPECT_EQ(refusal(replace(r.line, "{\"contact\"", "{\"flowdata\":{\"forged\":1},\"contact\"")), VerifyErrc::duplicate_key);
  EXPECT_EQ(refusal(replace(r.line, "\"bcount\":1244", "\"bcount\":9999,\"bcount\":1244")), VerifyErrc::duplicate_key);
  // Same key names in different objects are fine.
  EXPECT_TRUE(verify_report(replace(r.line, "{\"contact\"", "{\"x\":{\"a\":1,\"b\":{\"a\":2}},\"contact\"")) ==
              std::unexpected(VerifyErrc::message_mismatch));
}

TEST(SignVerifyTamper, DuplicateKeyInsideTheSignedMessageIsRefused) {
  const auto r = sign("{\"a\":1,\"a\":2}");
  EXPECT_EQ(refusal(std::string(r.compact())), VerifyErrc::duplicate_key);
}

TEST(SignVerifyTamper, OtherValidKeyIsABadSignature) {
  const auto r = sign(message());
  const KeyPair other = keypair_from_seed(seed_from_hex(std::string(64, '8')));
  const std::string key = core::to_hex(test_keys().public_key);
  EXPECT_EQ(refusal(replace(r.line, key, core::to_hex(other.public_key))), VerifyErrc::bad_signature);
  // One flipped bit of the key.
  std::string flipped = key;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_EQ(refusal(replace(r.line, key, flipped)), VerifyErrc::bad_signature);
}

TEST(SignVerifyTamper, MalformedKeyIsABadKey) {
  const auto r = sign(message());
  const std::string key = core::to_hex(test_keys().public_key);
  EXPECT_EQ(refusal(replace(r.line, key, key.substr(2))), VerifyErrc::bad_key);
  EXPECT_EQ(refusal(replace(r.line, key, key + "00")), VerifyErrc::bad_key);
  EXPECT_EQ(refusal(replace(r.line, key, "zz" + key.substr(2))), VerifyErrc::bad_key);
  EXPECT_EQ(refusal(replace(r.line, "\"" + key + "\"", "42")), VerifyErrc::bad_key);
  EXPECT_EQ(refusal(replace(r.line, "\"key\"", "\"kee\"")), VerifyErrc::bad_key);
}

TEST(SignVerifyTamper, UppercaseKeyHexIsAccepted) {
  const auto r = sign(message());
  std::string key = core::to_hex(test_keys().public_key);
  std::string upper = key;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_NE(upper, key);
  EXPECT_TRUE(verify_report(replace(r.line, key, upper)));
}

TEST(SignVerifyTamper, ChangedBase64IsRefused) {
  const auto r = sign(message());
  const std::string b64 = signature_b64(r.line);
  // A character in the signature part, then one in the message part.
  for (std::size_t at : {std::size_t{5}, b64.size() / 2}) {
    std::string t = b64;
    t[at] = t[at] == 'A' ? 'B' : 'A';
    EXPECT_EQ(refusal(replace(r.line, b64, t)), VerifyErrc::bad_signature) << at;
  }
  EXPECT_EQ(refusal(replace(r.line, b64, "!!" + b64.substr(2))), VerifyErrc::bad_signature_encoding);
  EXPECT_EQ(refusal(replace(r.line, b64, b64.substr(1))), VerifyErrc::bad_signature_encoding);
  EXPECT_EQ(refusal(replace(r.line, b64, b64 + "====")), VerifyErrc::bad_signature_encoding);
  EXPECT_EQ(refusal(replace(r.line, "\"" + b64 + "\"", "null")), VerifyErrc::bad_signature_encoding);
  EXPECT_EQ(refusal(replace(r.line, b64, "AAAA")), VerifyErrc::signature_too_short);
  EXPECT_EQ(refusal(replace(r.line, b64, "")), VerifyErrc::signature_too_short);
}

TEST(SignVerifyTamper, ChangedSignedMessageIsABadSignature) {
  const std::string msg = message();
  const auto r = sign(msg);
  const std::string b64 = signature_b64(r.line);
  auto raw = *core::from_base64(b64);
  const std::string forged = replace(msg, "\"pcount\":6", "\"pcount\":7");
  raw.resize(64);
  raw.insert(raw.end(), forged.begin(), forged.end());
  std::string forged_b64;
  core::append_base64(forged_b64, raw);
  std::string line = replace(r.line, b64, forged_b64);
  line = replace(line, "\"pcount\":6", "\"pcount\":7");
  EXPECT_EQ(refusal(line), VerifyErrc::bad_signature);
}

TEST(SignVerifyTamper, SignatureFromAnotherReportIsAMismatch) {
  // A valid signature on another message does not vouch for this report.
  const auto a = sign(message());
  const auto b = sign(replace(message(), "\"pcount\":6", "\"pcount\":60000"));
  EXPECT_EQ(refusal(replace(a.line, signature_b64(a.line), signature_b64(b.line))), VerifyErrc::message_mismatch);
}

// ---- what is not a report ----

TEST(SignVerifyShape, NotJsonNotAnObjectNoSignature) {
  EXPECT_EQ(refusal(""), VerifyErrc::not_json);
  EXPECT_EQ(refusal("hello"), VerifyErrc::not_json);
  EXPECT_EQ(refusal("{\"a\":1"), VerifyErrc::not_json);
  EXPECT_EQ(refusal("[1,2]"), VerifyErrc::not_an_object);
  EXPECT_EQ(refusal("\"x\""), VerifyErrc::not_an_object);
  EXPECT_EQ(refusal("{}"), VerifyErrc::no_signature_block);
  EXPECT_EQ(refusal("{\"signature\":5,\"a\":1}"), VerifyErrc::no_signature_block);
  EXPECT_EQ(refusal("{\"signature\":\"x\",\"other\":\"y\"}"), VerifyErrc::no_signature_block);
  EXPECT_EQ(refusal(R"({"metadata":{},"signature":{"key":"00","signature":""}})"), VerifyErrc::bad_key);
  EXPECT_EQ(refusal(R"({"metadata":{},"signature":{"key":"00"}})"), VerifyErrc::no_signature_block);
}

TEST(SignVerifyShape, SignedMessageThatIsNotAnObject) {
  const auto not_json = sign("not json}");
  EXPECT_EQ(refusal(std::string(not_json.compact())), VerifyErrc::message_not_json);
  const auto array = sign("[1,2]");
  EXPECT_EQ(refusal(std::string(array.compact())), VerifyErrc::message_not_json);
}

TEST(SignVerifyShape, DeepNestingIsRefusedWithoutCrashing) {
  EXPECT_EQ(refusal(std::string(30'000, '[') + std::string(30'000, ']')), VerifyErrc::too_deep);
  EXPECT_EQ(refusal(std::string(60'000, '{')), VerifyErrc::too_deep);
  std::string objects;
  for (int i = 0; i < 40; ++i) objects += "{\"a\":";
  objects += "1" + std::string(40, '}');
  EXPECT_EQ(refusal(objects), VerifyErrc::too_deep);
  // Brackets inside strings are text, not nesting.
  const auto r = sign(replace(message(), "Example Net", std::string(100, '[') + "\\\"{{{{"));
  EXPECT_TRUE(verify_report(r.line));
  // A deep signed message, carried in the compact form.
  const auto deep = sign(std::string(1000, '[') + std::string(1000, ']') + "}");
  EXPECT_EQ(refusal(std::string(deep.compact())), VerifyErrc::too_deep);
}

TEST(SignVerifyShape, NestingAtTheLimitIsParsed) {
  std::string nested = "{\"signature\":{\"key\":\"00\",\"signature\":\"\"},\"x\":";
  for (int i = 0; i < overflowd::report::kMaxDepth - 1; ++i) nested += "[";
  nested += std::string(static_cast<std::size_t>(overflowd::report::kMaxDepth - 1), ']') + "}";
  EXPECT_EQ(refusal(nested), VerifyErrc::bad_key);  // got past the depth check and the parser
}

TEST(SignVerifyShape, OversizeIsRefused) {
  std::string big = "{\"a\":\"" + std::string(overflowd::report::kMaxReportBytes, 'x') + "\"}";
  EXPECT_EQ(refusal(big), VerifyErrc::too_large);
  const auto r = sign(replace(message(), "Example Net", std::string(70'000, 'n')));
  EXPECT_EQ(refusal(r.line), VerifyErrc::too_large);
  EXPECT_EQ(refusal(std::string(r.compact())), VerifyErrc::too_large);
}

// The largest message each wire form carries in a line of kMaxReportBytes (what the receiver's
// discovery document advertises, issue 13 item 9): the formulas are the signer's real lengths, a
// message of exactly that size verifies, and one byte more is too large.
TEST(SignVerifyShape, TheLargestMessageOfEachFormVerifiesAndOneByteMoreIsTooLarge) {
  using overflowd::report::compact_line_bytes;
  using overflowd::report::full_line_bytes;
  using overflowd::report::max_message_bytes;
  const std::size_t limit = overflowd::report::kMaxReportBytes;
  // A message of n bytes: {"p":"xxx..."} (n >= 8).
  auto of_size = [](std::size_t n) { return "{\"p\":\"" + std::string(n - 8, 'x') + "\"}"; };
  for (std::size_t n : {std::size_t{9}, std::size_t{10}, std::size_t{11}, std::size_t{12}, std::size_t{1000}}) {
    const auto r = sign(of_size(n));
    EXPECT_EQ(r.line.size(), full_line_bytes(n)) << n;
    EXPECT_EQ(r.compact().size(), compact_line_bytes(n)) << n;
  }
  for (const bool compact : {true, false}) {
    const std::size_t m = max_message_bytes(compact, limit);
    SCOPED_TRACE(compact ? "compact" : "full");
    EXPECT_GT(m, compact ? 49'000u : 28'000u);
    const auto fits = sign(of_size(m));
    const std::string line = compact ? std::string(fits.compact()) : fits.line;
    EXPECT_LE(line.size(), limit);
    const auto v = verify_report(line);
    ASSERT_TRUE(v) << overflowd::report::to_string(v.error());
    EXPECT_EQ(v->message.size(), m);
    const auto over = sign(of_size(m + 1));
    const std::string too_big = compact ? std::string(over.compact()) : over.line;
    EXPECT_GT(too_big.size(), limit);
    EXPECT_EQ(refusal(too_big), VerifyErrc::too_large);
  }
}

TEST(SignVerifyShape, ArbitraryBytesNeverCrash) {
  const std::string line = sign(message()).line;
  std::uint64_t state = 7;
  for (int i = 0; i < 3000; ++i) {
    std::string t = line;
    for (int k = 0; k < 3; ++k) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      t[(state >> 20) % t.size()] = static_cast<char>(state >> 56);
    }
    const auto v = verify_report(t);
    if (v) {
      EXPECT_EQ(v->message.size(), message().size());
    }
  }
}

// ---- RFC 8032 section 7.1 known answers ----

TEST(Ed25519KnownAnswer, Rfc8032Test1) {
  const KeyPair keys = keypair_from_seed(seed_from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  EXPECT_EQ(core::to_hex(keys.public_key), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(overflowd::report::public_key_hex(keys), core::to_hex(keys.public_key));
  // Signing the empty message through the Signer: the first 64 bytes of signature.signature.
  Signer signer(keys);
  SignedReport r;
  signer.sign("", r);
  const auto raw = core::from_base64(signature_b64("{" + std::string(r.line.substr(1))));
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 64u);
  EXPECT_EQ(core::to_hex(*raw),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(Ed25519KnownAnswer, Rfc8032Test2) {
  const KeyPair keys = keypair_from_seed(seed_from_hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  EXPECT_EQ(core::to_hex(keys.public_key), "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  Signer signer(keys);
  SignedReport r;
  signer.sign("\x72", r);
  const auto raw = core::from_base64(nlohmann::json::parse(std::string(r.compact()))["signature"].get<std::string>());
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 65u);
  EXPECT_EQ(core::to_hex(std::span(*raw).first(64)),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  EXPECT_EQ((*raw)[64], 0x72);
}

}  // namespace

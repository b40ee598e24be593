// Reports with huge or deeply nested JSON, and values of hostile types, against verification
// (report::verify_report) and the receiver's first step (receive::ingest), in both wire forms. The
// limits: a line of at most kMaxReportBytes (64 KiB) and nesting of at most kMaxDepth (32) levels,
// for the line and for the signed message inside it; what passes them is parsed without crashing
// or throwing, and whatever the message holds, the receiver's indexed fields are extracted without
// trusting their types or sizes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "receive/ingest.hpp"
#include "report/keys.hpp"
#include "report/signer.hpp"
#include "report/verify.hpp"

namespace overflowd {
namespace {

using report::kMaxDepth;
using report::kMaxReportBytes;
using report::SignedReport;
using report::verify_report;
using report::VerifyErrc;

constexpr std::int64_t kNowNs = 1'763'850'000'000'000'000;  // 2025-11-22

SignedReport sign(std::string_view message) {
  report::Seed seed{};
  seed.fill(0x42);
  report::Signer signer(report::keypair_from_seed(seed));
  SignedReport r;
  signer.sign(message, r);
  return r;
}

// Both wire forms of a message.
struct Forms {
  std::string full, compact;
};
Forms forms(std::string_view message) {
  const SignedReport r = sign(message);
  return {r.line, std::string(r.compact())};
}

std::string reason(std::string_view line) {
  const auto v = receive::ingest(line, kNowNs, receive::SkewPolicy{});
  if (const auto* rejected = std::get_if<receive::Rejected>(&v)) {
    EXPECT_LE(rejected->raw.size(), receive::kMaxRawKept);
    return rejected->reason;
  }
  return "accepted";
}

// A message of exactly `size` bytes: {"pad":"xxx..."}.
std::string padded_message(std::size_t size) {
  const std::string head = "{\"pad\":\"", tail = "\"}";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

std::string nested_message(int depth) {  // the object itself is level 1
  std::string m = "{\"x\":";
  for (int i = 1; i < depth; ++i) m += "[";
  m += "0";
  for (int i = 1; i < depth; ++i) m += "]";
  return m + "}";
}

TEST(HugeReports, ALineOfExactlyTheLimitIsVerifiedAndOneByteMoreIsRefused) {
  // The largest message whose full line fits (the line grows with the message and its base64).
  std::size_t lo = 1000, hi = kMaxReportBytes;
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    (forms(padded_message(mid)).full.size() <= kMaxReportBytes ? lo : hi) = mid;
  }
  std::string line = forms(padded_message(lo)).full;
  ASSERT_LE(line.size(), kMaxReportBytes);
  ASSERT_GT(forms(padded_message(lo + 1)).full.size(), kMaxReportBytes);
  // White space before the signature block brings the line to exactly the limit.
  const std::size_t gap = line.rfind(",\"signature\":{") + 1;
  line.insert(gap, kMaxReportBytes - line.size(), ' ');
  ASSERT_EQ(line.size(), kMaxReportBytes);
  EXPECT_TRUE(verify_report(line));
  EXPECT_EQ(reason(line), "accepted");
  line.insert(gap, 1, ' ');
  EXPECT_EQ(verify_report(line).error(), VerifyErrc::too_large);
  EXPECT_EQ(reason(line), "too_large");
  // The compact form of the same message is smaller, and verifies.
  EXPECT_EQ(reason(forms(padded_message(lo)).compact), "accepted");
}

TEST(HugeReports, WideObjectsArraysAndEscapedStringsWithinTheLimitVerify) {
  std::string wide = "{";
  for (int i = 0; i < 2000; ++i) wide += (i ? ",\"m" : "\"m") + std::to_string(i) + "\":" + std::to_string(i);
  wide += "}";
  std::string array = "{\"a\":[";
  for (int i = 0; i < 10'000; ++i) array += i ? ",0" : "0";
  array += "]}";
  std::string escapes = "{\"s\":\"";
  for (int i = 0; i < 2000; ++i) escapes += "\\u0000\\\"\\\\";
  escapes += "\"}";
  for (const std::string& m : {wide, array, escapes}) {
    ASSERT_LT(m.size(), (kMaxReportBytes - 300) * 3 / 7);  // the full line: message + its base64
    const Forms f = forms(m);
    const auto full = verify_report(f.full);
    ASSERT_TRUE(full) << to_string(full.error());
    EXPECT_EQ(full->message, m);
    EXPECT_TRUE(verify_report(f.compact));
    EXPECT_EQ(reason(f.full), "accepted");
    EXPECT_EQ(reason(f.compact), "accepted");
  }
}

TEST(DeepReports, ThirtyTwoLevelsVerifyInBothFormsAndThirtyThreeAreRefusedBeforeParsing) {
  // In the full form the signature block adds no depth beyond 2, so the message's depth is the line's.
  const Forms at = forms(nested_message(kMaxDepth));
  EXPECT_TRUE(verify_report(at.full));
  EXPECT_TRUE(verify_report(at.compact));
  EXPECT_EQ(reason(at.compact), "accepted");
  const Forms over = forms(nested_message(kMaxDepth + 1));
  EXPECT_EQ(verify_report(over.full).error(), VerifyErrc::too_deep);    // the line itself
  EXPECT_EQ(verify_report(over.compact).error(), VerifyErrc::too_deep);  // the message inside
  EXPECT_EQ(reason(over.full), "too_deep");
  EXPECT_EQ(reason(over.compact), "too_deep");
  // 20,000 levels, signed: refused as too deep, no stack used for them.
  const Forms deep = forms(nested_message(20'000));
  EXPECT_EQ(reason(deep.compact), "too_deep");
}

TEST(DeepReports, BracketsThatDoNotNestAreNotCountedAndUnbalancedOnesAreNotJson) {
  // Inside strings, and after escaped quotes and backslashes: text, not nesting.
  std::string text = "{\"s\":\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\\\\\",\"t\":\"]]]]\"}";
  EXPECT_EQ(reason(forms(text).full), "accepted");
  // Closing brackets first cannot buy room for deeper nesting later: the depth check lets them
  // through (its count goes below zero), and the parser stops at the first one, before any nesting.
  EXPECT_EQ(reason(std::string(100, ']') + std::string(40, '[')), "not_json");
  EXPECT_EQ(reason(std::string(100, '}') + nested_message(40)), "not_json");
  EXPECT_EQ(reason("{\"a\":\"\\"), "not_json");   // a string cut after a backslash
  EXPECT_EQ(reason("\"" + std::string(70'000, '[')), "too_large");
}

TEST(HostileValues, ANulByteIsNotTheEndOfTheReport) {
  // nlohmann stops at a NUL as at the end of the input; the bytes after it must not ride along
  // unseen inside a signed message, nor after a line.
  using namespace std::string_literals;
  const std::string message = "{\"a\":1}\0{\"hidden\":2}"s;
  EXPECT_EQ(verify_report(forms(message).compact).error(), VerifyErrc::message_not_json);
  EXPECT_EQ(reason(forms(message).compact), "message_not_json");
  EXPECT_EQ(reason(forms(message).full), "not_json");
  const Forms good = forms("{\"a\":1}");
  EXPECT_EQ(reason(good.full + "\0"s + "{\"hidden\":2}"), "not_json");
  EXPECT_EQ(reason(good.compact + "\0"s), "not_json");
  EXPECT_EQ(reason(good.compact), "accepted");
}

TEST(HostileValues, NumbersOutsideEveryRangeAreRefusedOrKeptWithoutThrowing) {
  const std::string digits(400, '9');
  // Too large for a double: not JSON that nlohmann takes (it refuses, it does not throw); in the
  // full form the line itself holds the number.
  for (const std::string& m : {std::string("{\"n\":1e999}"), std::string("{\"n\":-1e999}"), "{\"n\":" + digits + "}"}) {
    EXPECT_EQ(verify_report(forms(m).compact).error(), VerifyErrc::message_not_json) << m;
    EXPECT_EQ(reason(forms(m).compact), "message_not_json") << m;
    EXPECT_EQ(reason(forms(m).full), "not_json") << m;
  }
  // Representable one way or another: verified.
  for (const char* m : {"{\"n\":1e-400}", "{\"n\":-0}", "{\"n\":18446744073709551616}",
                               "{\"n\":-9223372036854775809}", "{\"n\":0.000000000000000000000000000001}"}) {
    EXPECT_TRUE(verify_report(forms(m).full)) << m;
    EXPECT_EQ(reason(forms(m).compact), "accepted") << m;
  }
}

TEST(HostileValues, IndexedFieldsOfTheWrongTypeOrSizeAreIgnoredNotTrusted) {
  const std::string long_address(1000, '1');
  const std::string m =
      "{\"contact\":{\"email\":7,\"identity\":[\"x\"]},"
      "\"flowdata\":{\"data\":{\"bcount\":-5,\"daddr\":\"" + long_address + "\",\"dport\":\"80\",\"dst_as\":1.5,"
      "\"etime\":9223372036854775807,\"exporter\":{},\"input\":null,\"pcount\":1e3,\"saddr\":\"::ffff:192.0.2.1\","
      "\"sampling_interval\":-1,\"sport\":99999999999,\"stime\":-9223372036854775808},"
      "\"sourcetype\":\"not an object\"},\"metadata\":{\"time\":1e300}}";
  const auto v = receive::ingest(forms(m).full, kNowNs, receive::SkewPolicy{});
  const auto* a = std::get_if<receive::Accepted>(&v);
  ASSERT_NE(a, nullptr);
  const receive::ReportFields& f = a->fields;
  EXPECT_EQ(f.email, "");
  EXPECT_EQ(f.identity, "");
  EXPECT_EQ(f.bcount, -5);
  EXPECT_TRUE(f.daddr.empty());  // longer than any address: not parsed
  EXPECT_EQ(f.dport, 0);         // a string is not a port
  EXPECT_EQ(f.dst_as, 0);
  EXPECT_EQ(f.etime, INT64_MAX);  // the largest that fits (beyond it: refused, ingest_fast_path_test)
  EXPECT_TRUE(f.exporter.empty());
  EXPECT_EQ(f.pcount, 0);  // a float is not a count
  EXPECT_EQ(f.saddr, *core::IpAddress::parse("192.0.2.1"));  // IPv4-mapped: stored as IPv4
  EXPECT_EQ(f.sampling_interval, -1);
  EXPECT_EQ(f.sport, 99'999'999'999);
  EXPECT_EQ(f.stime, INT64_MIN);
  EXPECT_EQ(f.source_type, "");
  EXPECT_EQ(a->time_flag, receive::TimeFlag::future);

  const auto past = receive::ingest(forms("{\"metadata\":{\"time\":-1e300}}").compact, kNowNs, receive::SkewPolicy{});
  ASSERT_TRUE(std::holds_alternative<receive::Accepted>(past));
  EXPECT_EQ(std::get<receive::Accepted>(past).time_flag, receive::TimeFlag::past);
  const auto missing = receive::ingest(forms("{\"metadata\":{\"time\":\"now\"}}").compact, kNowNs, receive::SkewPolicy{});
  ASSERT_TRUE(std::holds_alternative<receive::Accepted>(missing));
  EXPECT_EQ(std::get<receive::Accepted>(missing).time_flag, receive::TimeFlag::missing);
}

TEST(HostileValues, RefusedInputIsKeptCutToFourKibibytes) {
  const std::string junk(100'000, 'j');
  const auto v = receive::ingest(junk, kNowNs, receive::SkewPolicy{});
  const auto* r = std::get_if<receive::Rejected>(&v);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->reason, "too_large");
  EXPECT_EQ(r->raw.size(), receive::kMaxRawKept);
}

}  // namespace
}  // namespace overflowd

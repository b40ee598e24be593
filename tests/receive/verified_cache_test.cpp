// The cache of checked signatures: a replay skips the Ed25519 check and gets the same verdict; a
// report is taken as checked only when its key, message and signature all match one that passed,
// so a changed signature or message is checked, and refused, as without the cache.
#include "receive/verified_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/encoding.hpp"
#include "receive/ingest.hpp"
#include "receive/receive_test_util.hpp"

namespace overflowd::receive {
namespace {

using testing::kNow;

// A compact form whose signed message (signature || message) has byte `at` flipped.
std::string tamper(std::string_view compact, std::size_t at) {
  const auto b64_at = compact.find("\"signature\":\"") + 13;
  const auto b64_end = compact.rfind('"');
  auto sm = core::from_base64(compact.substr(b64_at, b64_end - b64_at));
  EXPECT_TRUE(sm.has_value());
  (*sm)[at] ^= 0x01;
  std::string out(compact.substr(0, b64_at));
  core::append_base64(out, *sm);
  out += compact.substr(b64_end);
  return out;
}

std::string reason(const Verdict& v) {
  return std::holds_alternative<Accepted>(v) ? "accepted" : std::get<Rejected>(v).reason;
}

TEST(VerifiedCache, AReplayIsNotCheckedAgainAndGetsTheSameVerdict) {
  VerifiedCache cache;
  const auto r = testing::signed_report(testing::key(1), "noc@example.net", "Net");
  for (const std::string_view form : {std::string_view(r.line), r.compact()}) {
    const std::uint64_t before = cache.hits();
    const Verdict first = ingest(form, kNow, SkewPolicy{}, &cache);
    ASSERT_EQ(reason(first), "accepted");
    const Verdict again = ingest(form, kNow, SkewPolicy{}, &cache);
    EXPECT_EQ(verdict_difference(first, again), "");
    EXPECT_EQ(verdict_difference(again, ingest_reference(form, kNow, SkewPolicy{})), "");
    EXPECT_GE(cache.hits(), before + 1);
  }
  // The full form and the compact form carry the same key, message and signature: one entry.
  EXPECT_EQ(cache.hits(), 3u);
}

TEST(VerifiedCache, AChangedSignatureOrMessageIsCheckedAndRefused) {
  VerifiedCache cache;
  const auto r = testing::signed_report(testing::key(2), "noc@example.net", "Net");
  ASSERT_EQ(reason(ingest(r.compact(), kNow, SkewPolicy{}, &cache)), "accepted");
  // Byte 0 and 63: the signature's first and last; 64 and beyond: the message (still JSON here, as
  // the flipped bit turns '{' into 'z' or a letter into another).
  for (std::size_t at : {0u, 31u, 63u, 70u, 100u}) {
    const std::string forged = tamper(r.compact(), at);
    const Verdict with_cache = ingest(forged, kNow, SkewPolicy{}, &cache);
    EXPECT_EQ(reason(with_cache), reason(ingest_reference(forged, kNow, SkewPolicy{}))) << at;
    EXPECT_NE(reason(with_cache), "accepted") << at;
  }
  EXPECT_EQ(cache.hits(), 0u);
  // The same message and signature under another key: refused.
  const auto other = testing::signed_report(testing::key(3), "noc@example.net", "Net");
  std::string swapped(r.compact());
  const std::string other_key(other.compact().substr(8, 64));
  swapped.replace(8, 64, other_key);
  EXPECT_EQ(reason(ingest(swapped, kNow, SkewPolicy{}, &cache)), "bad_signature");
}

TEST(VerifiedCache, ASmallCacheForgetsButNeverMisjudges) {
  VerifiedCache cache(64);  // one set of 4 per shard: entries replace each other all the time
  EXPECT_EQ(cache.slots(), 64u);
  std::vector<report::SignedReport> reports;
  for (int i = 0; i < 256; ++i) {
    testing::FlowSpec spec;
    spec.sport = static_cast<std::uint16_t>(1000 + i);
    reports.push_back(testing::signed_report(testing::key(4), "noc@example.net", "Net", spec));
  }
  for (int round = 0; round < 3; ++round) {
    for (const auto& r : reports) {
      const Verdict v = ingest(r.line, kNow, SkewPolicy{}, &cache);
      EXPECT_EQ(verdict_difference(v, ingest_reference(r.line, kNow, SkewPolicy{})), "");
    }
  }
  EXPECT_LT(cache.hits(), 2u * reports.size());  // some were forgotten and checked again
}

TEST(VerifiedCache, ThreadsShareItSafely) {
  VerifiedCache cache;
  const auto r = testing::signed_report(testing::key(5), "noc@example.net", "Net");
  const std::string forged = tamper(r.compact(), 10);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (reason(ingest(r.line, kNow, SkewPolicy{}, &cache)) != "accepted") ++wrong;
        if (reason(ingest(forged, kNow, SkewPolicy{}, &cache)) == "accepted") ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(cache.hits(), 150u);
}

}  // namespace
}  // namespace overflowd::receive

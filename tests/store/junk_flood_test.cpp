// Refused inputs under a junk flood (issue 13 item 2): the cap holds at every commit, not once a
// minute; past a rate they are stored sampled and cut short (every one still counted by reason);
// --max-db-mib bounds the database and incremental vacuum gives the space back. Floods bounded in count.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/clock.hpp"
#include "receive/receive_test_util.hpp"
#include "store/store.hpp"
#include "store/store_fixture.hpp"

namespace overflowd::receive {
namespace {

using namespace ::overflowd::store;
using namespace testing;

struct JunkFlood : StoreFixture {
  core::ManualClock clock{kNow, 0};
  // n refused inputs of `size` bytes each (not JSON: refused as such).
  static std::vector<Item> junk(std::size_t n, std::size_t size, std::uint8_t fill = 'x') {
    std::vector<Item> items;
    for (std::size_t i = 0; i < n; ++i) {
      std::string raw(size, static_cast<char>(fill));
      raw[0] = '!';
      items.push_back(item(raw));
    }
    return items;
  }
};

TEST_F(JunkFlood, TheCapOnRefusedInputsHoldsAtEveryCommit) {
  StoreConfig c;
  c.max_invalid = 500;
  c.invalid_per_s = 0;  // every one stored: the cap alone bounds them
  c.clock = &clock;
  open(c);
  for (int batch = 0; batch < 12; ++batch) {
    write(junk(300, 64));
    EXPECT_LE(n("SELECT COUNT(*) FROM invalid"), 500) << "after batch " << batch;
  }
  EXPECT_EQ(n("SELECT COUNT(*) FROM invalid"), 500);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'invalid'"), 3600);
  // The newest are the ones kept.
  EXPECT_EQ(n("SELECT MIN(id) FROM invalid"), 3600 - 500 + 1);
}

TEST_F(JunkFlood, PastTheRateRefusedInputsAreSampledAndCutShortButAllCounted) {
  StoreConfig c;
  c.max_invalid = 1'000'000;
  c.invalid_per_s = 100;
  c.clock = &clock;
  open(c);
  write(junk(5000, 1000));  // one second's flood
  const std::int64_t stored = n("SELECT COUNT(*) FROM invalid");
  EXPECT_EQ(stored, 100 + (5000 - 100 + SqliteStore::kInvalidSampling - 1) / SqliteStore::kInvalidSampling);
  EXPECT_EQ(n("SELECT COUNT(*) FROM invalid WHERE length(raw) = 1000"), 100) << "the first 100 whole";
  EXPECT_EQ(n("SELECT MAX(length(raw)) FROM invalid WHERE id > 100"), static_cast<std::int64_t>(SqliteStore::kInvalidSampledBytes));
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'invalid'"), 5000);
  EXPECT_EQ(n("SELECT SUM(value) FROM counters WHERE name LIKE 'invalid.%' AND name NOT IN ('invalid.sampled', 'invalid.not_stored')"), 5000);
  EXPECT_EQ(n("SELECT value FROM counters WHERE name = 'invalid.not_stored'"), 5000 - stored);
  // The next second starts whole again.
  clock.advance_ns(1'000'000'000);
  write(junk(10, 1000, 'y'));
  EXPECT_EQ(n("SELECT COUNT(*) FROM invalid WHERE length(raw) = 1000"), 110);
}

TEST_F(JunkFlood, MaxDbMibBoundsTheDatabaseAndVacuumGivesTheSpaceBack) {
  StoreConfig c;
  c.max_invalid = 1'000'000;
  c.invalid_per_s = 0;
  c.max_db_mib = 4;
  c.durable = false;
  c.clock = &clock;
  open(c);
  EXPECT_EQ(n("PRAGMA auto_vacuum"), 2) << "incremental";
  // 10 MB of junk in batches of 1000 x 2 KB, the bound enforced after each batch as the writer does.
  const std::int64_t baseline = s->live_bytes();
  for (int batch = 0; batch < 5; ++batch) {
    write(junk(1000, 2000, static_cast<std::uint8_t>('a' + batch)));
    auto r = s->enforce_size();
    ASSERT_TRUE(r) << r.error();
    EXPECT_LE(s->live_bytes(), std::int64_t{4} << 20) << "after batch " << batch << " (empty: " << baseline << " bytes)";
  }
  EXPECT_GT(n("SELECT COUNT(*) FROM invalid"), 0);
  EXPECT_GT(n("SELECT value FROM counters WHERE name = 'size.invalid'"), 0);
  // The file itself shrank: freed pages were given back (no more than a few free pages remain).
  EXPECT_LE(n("PRAGMA freelist_count"), 4);
  EXPECT_LE(static_cast<std::int64_t>(std::filesystem::file_size(t.path())), (std::int64_t{4} << 20) + (256 << 10));
  // And the bounded database takes new reports.
  write({item(signed_report(key(1), "a@b", "A").line)});
  EXPECT_EQ(n("SELECT COUNT(*) FROM reports"), 1);
}

}  // namespace
}  // namespace overflowd::receive

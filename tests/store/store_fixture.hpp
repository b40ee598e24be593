// A fresh SQLite store in a temporary folder, for the store's tests: open it, write items, count rows.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "receive/receive_test_util.hpp"
#include "store/store.hpp"

namespace overflowd::receive::testing {

struct StoreFixture : ::testing::Test {
  TempDb t;
  std::unique_ptr<store::SqliteStore> s;
  void open(store::StoreConfig c = {}) {
    c.path = t.path();
    auto opened = store::SqliteStore::open(c);
    ASSERT_TRUE(opened) << opened.error();
    s = std::move(*opened);
  }
  void write(std::vector<Item> items) {
    auto r = s->write(items);
    ASSERT_TRUE(r) << r.error();
  }
  std::int64_t n(const std::string& sql) { return s->db().scalar(sql).value_or(-1); }
};

}  // namespace overflowd::receive::testing

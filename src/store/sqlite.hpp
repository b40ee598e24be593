// A thin RAII layer over SQLite's C API: a connection, prepared statements with typed binds and
// columns, and a transaction guard. Errors are returned as text (std::expected), never thrown.
#pragma once

#include <sqlite3.h>

#include "lazy/lazy_library.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace overflowd::store::sql {

class Db;

class Stmt {
public:
  Stmt() = default;
  Stmt(Stmt&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(stmt_);
      stmt_ = o.stmt_;
      o.stmt_ = nullptr;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  [[nodiscard]] bool valid() const noexcept { return stmt_ != nullptr; }

  // The index of the named parameter (":name"), for binds by name; 0 when the statement has none.
  [[nodiscard]] int parameter(std::string_view name) const {
    return sqlite3_bind_parameter_index(stmt_, (":" + std::string(name)).c_str());
  }
  // The index of the result column `name`, for reads by name; -1 when there is none.
  [[nodiscard]] int column(std::string_view name) const noexcept {
    const int n = sqlite3_column_count(stmt_);
    for (int i = 0; i < n; ++i)
      if (const char* c = sqlite3_column_name(stmt_, i); c && name == c) return i;
    return -1;
  }

  // Binds are 1-based, as in SQLite.
  Stmt& bind(int i, std::int64_t v) noexcept {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) noexcept {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& bind(int i, std::string_view v) noexcept {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int i, std::span<const std::uint8_t> v) noexcept {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int i, std::string_view v) noexcept {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Without a copy: `v` must stay unchanged until the statement has run (or is bound again).
  Stmt& bind_static(int i, std::string_view v) noexcept {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& bind_blob_static(int i, std::span<const std::uint8_t> v) noexcept {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& bind_null(int i) noexcept {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int step() noexcept { return sqlite3_step(stmt_); }
  // Steps a statement that returns no rows and resets it; true on success.
  bool run() noexcept {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
  // As run(), but keeps the bindings: for a statement whose every parameter is bound again before
  // each run (a static binding then refers to nothing while the statement waits).
  bool run_rebound() noexcept {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  [[nodiscard]] int column_count() const noexcept { return sqlite3_column_count(stmt_); }
  [[nodiscard]] bool is_null(int col) const noexcept { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  [[nodiscard]] std::int64_t i64(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] double f64(int col) const noexcept { return sqlite3_column_double(stmt_, col); }
  [[nodiscard]] std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }
  [[nodiscard]] std::string blob(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
  }

private:
  friend class Db;
  explicit Stmt(sqlite3_stmt* s) noexcept : stmt_(s) {}
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
public:
  Db() = default;
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept {
    if (this != &o) {
      sqlite3_close_v2(db_);
      db_ = o.db_;
      o.db_ = nullptr;
    }
    return *this;
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db_); }

  [[nodiscard]] static std::expected<Db, std::string> open(const std::string& path, bool read_only) {
    if (auto loaded = lazy::load(lazy::libsqlite3()); !loaded) return std::unexpected(loaded.error());
    // Before SQLite initializes: no memory statistics, so no global mutex around every allocation
    // (a few percent of an insert). Refused harmlessly when SQLite is already initialized.
    static const int no_memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)no_memstatus;
    sqlite3* h = nullptr;
    const int flags = (read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                      SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &h, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string why = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
      sqlite3_close_v2(h);
      return std::unexpected(path + ": " + why);
    }
    sqlite3_extended_result_codes(h, 1);
    Db db;
    db.db_ = h;
    return db;
  }

  [[nodiscard]] sqlite3* handle() const noexcept { return db_; }
  [[nodiscard]] std::string error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }

  // Runs one or more statements with no parameters.
  [[nodiscard]] std::expected<void, std::string> exec(std::string_view sql) {
    char* err = nullptr;
    const std::string s(sql);
    if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : "unknown error";
      sqlite3_free(err);
      return std::unexpected(why);
    }
    return {};
  }

  [[nodiscard]] std::expected<Stmt, std::string> prepare(std::string_view sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK)
      return std::unexpected(error() + " in: " + std::string(sql.substr(0, 120)));
    return Stmt(s);
  }

  // The first column of the first row of a query with no parameters, as an integer.
  [[nodiscard]] std::optional<std::int64_t> scalar(std::string_view sql) {
    auto st = prepare(sql);
    if (!st) return std::nullopt;
    if (st->step() != SQLITE_ROW) return std::nullopt;
    return st->i64(0);
  }

  [[nodiscard]] std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

private:
  sqlite3* db_ = nullptr;
};

}  // namespace overflowd::store::sql

// A thin RAII layer over libpq with the shape of sql::Db / sql::Stmt (sqlite.hpp), so that the
// PostgreSQL store and queries read as the SQLite ones: statements are prepared from SQLite's text
// (translated by sql_dialect.hpp), bound by index or :name, stepped row by row (step() returns
// kRow / kDone like SQLITE_ROW / SQLITE_DONE), and read by column. Parameters are sent as text,
// with the types the server infers, except blobs (binary bytea); results come as text.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overflowd::store::pg {

inline constexpr int kRow = 100;   // SQLITE_ROW
inline constexpr int kDone = 101;  // SQLITE_DONE
inline constexpr int kError = 1;

class Db;

class Stmt;

// Element types of ArrayRows' columns (PostgreSQL's type Oids).
inline constexpr unsigned kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt4Oid = 23, kTextOid = 25, kFloat4Oid = 700,
                          kFloat8Oid = 701;

// Rows bound as one array per column, in PostgreSQL's binary array form (read by array_recv: no
// text to parse), for a statement that reads them back by unnest($1::type[], $2::type[], ...):
// any number of rows in one statement prepared once, where a multi-row VALUES list is parsed and
// planned again for each count of rows (and libpq bounds its parameters). Bound like a Stmt, one
// row at a time (ReportRow::bind fills one), each row closed by next_row() (what it left unbound
// is NULL); a value is converted to its column's type (an integer bound to a text column goes as
// its digits). bind_to() binds column c's array as parameter first + c.
class ArrayRows {
public:
  // Per column: its element type (one of the Oids above; a statement's $N::type[] must name it).
  explicit ArrayRows(std::vector<unsigned> types);

  ArrayRows& bind(int i, std::int64_t v);
  ArrayRows& bind(int i, double v);
  ArrayRows& bind(int i, std::string_view v);
  ArrayRows& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  ArrayRows& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  ArrayRows& bind_blob(int i, std::span<const std::uint8_t> v);
  ArrayRows& bind_blob(int i, std::string_view v) { return bind(i, v); }
  ArrayRows& bind_static(int i, std::string_view v) { return bind(i, v); }
  ArrayRows& bind_blob_static(int i, std::span<const std::uint8_t> v) { return bind_blob(i, v); }
  ArrayRows& bind_null(int i);
  void next_row();
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  void bind_to(Stmt& s, int first = 1) const;
  // Column `column`'s array (0-based) as bind_to() sends it: array_send's form.
  [[nodiscard]] std::string array(std::size_t column) const;
  void clear();

private:
  [[nodiscard]] std::string* slot(int i);  // the column's element, emptied (null when out of range)
  std::vector<unsigned> types_;
  std::vector<std::string> row_;  // the row being bound: each element as sent (length, then bytes)
  std::vector<bool> set_;
  std::vector<std::string> elements_;  // per column, the rows' elements
  std::vector<bool> has_null_;
  std::size_t rows_ = 0;
};

class Stmt {
public:
  Stmt() = default;
  Stmt(Stmt&& o) noexcept;
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  [[nodiscard]] bool valid() const noexcept { return db_ != nullptr; }
  // The index of the named parameter (:name in the SQLite text); 0 when there is none.
  [[nodiscard]] int parameter(std::string_view name) const;
  // The index of the result column `name`; -1 when there is none.
  [[nodiscard]] int column(std::string_view name) const;

  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind_blob(int i, std::span<const std::uint8_t> v);
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind_static(int i, std::string_view v) { return bind(i, v); }
  Stmt& bind_blob_static(int i, std::span<const std::uint8_t> v) { return bind_blob(i, v); }
  Stmt& bind_null(int i);

  // Runs the statement at the first call (kError on failure: Db::error() says why), then walks its rows.
  int step();
  bool run() {
    const int rc = step();
    reset();
    return rc != kError;
  }
  bool run_rebound() { return run(); }
  void reset();  // the result is let go; the bindings stay

  [[nodiscard]] int column_count() const noexcept;
  [[nodiscard]] bool is_null(int col) const noexcept;
  [[nodiscard]] std::int64_t i64(int col) const noexcept;
  [[nodiscard]] double f64(int col) const noexcept;
  [[nodiscard]] std::string text(int col) const;
  [[nodiscard]] std::string blob(int col) const;  // bytea, decoded
  [[nodiscard]] std::int64_t changes() const noexcept { return changes_; }

private:
  friend class Db;
  Db* db_ = nullptr;
  std::string name_;       // the server's prepared statement
  std::uint64_t generation_ = 0;  // the connection it was prepared on
  std::string sql_;        // translated
  std::vector<std::string> names_;
  std::vector<std::string> columns_;
  std::vector<unsigned> types_;  // the server's inferred types (Oid)
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
  PGresult* result_ = nullptr;
  int row_ = 0;
  std::int64_t changes_ = 0;
  bool ran_ = false;
};

class Db {
public:
  Db() = default;
  Db(Db&& o) noexcept;
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // `conninfo`: a postgresql:// URI or key=value words (libpq's). Connects at once.
  [[nodiscard]] static std::expected<Db, std::string> open(const std::string& conninfo, int connect_timeout_s = 5);
  // Connects again when the connection is lost (a statement prepared before is prepared again at its next step).
  [[nodiscard]] bool ok() const noexcept { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  [[nodiscard]] bool reconnect();

  [[nodiscard]] std::expected<void, std::string> exec(std::string_view sql);  // SQLite's text, translated
  [[nodiscard]] std::expected<void, std::string> exec_native(std::string_view sql);  // PostgreSQL's text
  [[nodiscard]] std::expected<Stmt, std::string> prepare(std::string_view sqlite_sql);
  [[nodiscard]] std::expected<Stmt, std::string> prepare_native(std::string_view sql);
  [[nodiscard]] std::optional<std::int64_t> scalar(std::string_view sql);
  // Runs `stmts` in order in one round trip (libpq's pipeline mode: each sent with its bindings,
  // then one sync, then the results read in order); each then steps through its rows as if step()
  // had run it. False when one failed: error() says why, those after it did not run (a
  // transaction open is then failed and must be rolled back). Not under a deadline.
  [[nodiscard]] bool pipeline(std::span<Stmt* const> stmts);
  [[nodiscard]] std::string error() const { return error_; }
  // The SQLSTATE of the last failure ("" when none or the connection broke without one).
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }
  // Whether the last failure was the connection's (lost, refused), not the statement's.
  [[nodiscard]] bool connection_lost() const noexcept { return !ok() || sqlstate_.starts_with("08") || sqlstate_ == "57P01"; }
  [[nodiscard]] std::int64_t changes() const noexcept { return changes_; }
  [[nodiscard]] PGconn* handle() noexcept { return conn_; }
  // Counts the connections made: a statement prepared on an earlier one is prepared again.
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  // Whether a statement was cancelled by statement_timeout since the last call.
  [[nodiscard]] bool take_timed_out() noexcept { return std::exchange(timed_out_, false); }
  // A time limit for everything run until it is cleared (a request's, not each statement's):
  // before each statement the server's statement_timeout is set to the time left; none left, the
  // statement fails at once as timed out (SQLSTATE 57014, as the server's own cancel).
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    deadline_ = deadline;
    timeout_sent_ms_ = -1;
  }

private:
  friend class Stmt;
  [[nodiscard]] bool prepare_on_server(Stmt& s);
  // Under a deadline: sets statement_timeout to the time left (false, and timed out, when none is).
  [[nodiscard]] bool within_deadline();
  void failed(const PGresult* r);
  PGconn* conn_ = nullptr;
  std::string conninfo_;
  int connect_timeout_s_ = 5;
  std::string error_, sqlstate_;
  std::int64_t changes_ = 0;
  bool timed_out_ = false;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::int64_t timeout_sent_ms_ = -1;
  std::uint64_t generation_ = 1, next_name_ = 0;
};

}  // namespace overflowd::store::pg

#include "store/pg.hpp"

#include "lazy/lazy_library.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "store/sql_dialect.hpp"

namespace overflowd::store::pg {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

double f64_of(const char* v) { return std::strtod(v, nullptr); }

// The types PQprepare is given: 0 (the server infers it) for each $N the text uses, text for a
// number it skips (the summary's statements keep ?1..?9 for their own and number a narrowing from
// ?10, so a statement may use $1..$3 and $10..$11 only: PostgreSQL cannot infer a type for an
// unused $4 and refuses the statement). Empty when nothing is skipped.
std::vector<Oid> parameter_types(std::string_view sql) {
  constexpr Oid kTextOid = 25;
  std::vector<bool> used;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '\'' || sql[i] == '"') {
      const char q = sql[i];
      for (++i; i < sql.size() && sql[i] != q; ++i) {
      }
      continue;
    }
    if (sql[i] != '$' || i + 1 >= sql.size() || sql[i + 1] < '0' || sql[i + 1] > '9') continue;
    std::size_t n = 0;
    std::size_t j = i + 1;
    for (; j < sql.size() && sql[j] >= '0' && sql[j] <= '9'; ++j) n = n * 10 + static_cast<std::size_t>(sql[j] - '0');
    if (n >= 1 && n <= 65535) {
      if (used.size() < n) used.resize(n, false);
      used[n - 1] = true;
    }
    i = j - 1;
  }
  if (std::all_of(used.begin(), used.end(), [](bool b) { return b; })) return {};
  std::vector<Oid> types(used.size(), 0);
  for (std::size_t k = 0; k < used.size(); ++k)
    if (!used[k]) types[k] = kTextOid;
  return types;
}
}  // namespace

// ---- Stmt ----

Stmt::Stmt(Stmt&& o) noexcept { *this = std::move(o); }

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this == &o) return *this;
  this->~Stmt();
  db_ = std::exchange(o.db_, nullptr);
  name_ = std::move(o.name_);
  generation_ = o.generation_;
  sql_ = std::move(o.sql_);
  names_ = std::move(o.names_);
  columns_ = std::move(o.columns_);
  types_ = std::move(o.types_);
  values_ = std::move(o.values_);
  formats_ = std::move(o.formats_);
  result_ = std::exchange(o.result_, nullptr);
  row_ = o.row_;
  changes_ = o.changes_;
  ran_ = o.ran_;
  return *this;
}

Stmt::~Stmt() {
  if (result_) PQclear(result_);
  result_ = nullptr;
  if (db_ && db_->ok() && generation_ == db_->generation_ && !name_.empty() &&
      (PQtransactionStatus(db_->conn_) == PQTRANS_IDLE || PQtransactionStatus(db_->conn_) == PQTRANS_INTRANS)) {
    // Not in a failed transaction (it would refuse; the statement then stays until the connection ends).
    if (PGresult* r = PQexec(db_->conn_, ("DEALLOCATE " + name_).c_str())) PQclear(r);
  }
  db_ = nullptr;
}

int Stmt::parameter(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int>(i + 1);
  return 0;
}

int Stmt::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i] == name) return static_cast<int>(i);
  return -1;
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  if (i < 1 || static_cast<std::size_t>(i) > values_.size()) return *this;
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  values_[static_cast<std::size_t>(i - 1)] = std::string(buf, r.ptr);
  formats_[static_cast<std::size_t>(i - 1)] = 0;
  return *this;
}

Stmt& Stmt::bind(int i, double v) {
  if (i < 1 || static_cast<std::size_t>(i) > values_.size()) return *this;
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  values_[static_cast<std::size_t>(i - 1)] = std::string(buf, r.ptr);
  formats_[static_cast<std::size_t>(i - 1)] = 0;
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  if (i < 1 || static_cast<std::size_t>(i) > values_.size()) return *this;
  const auto k = static_cast<std::size_t>(i - 1);
  // A text bound where the server expects bytea goes as its bytes.
  values_[k] = std::string(v);
  formats_[k] = types_[k] == kByteaOid ? 1 : 0;
  // Text parameters hold no NUL in PostgreSQL: cut there (SQLite would keep it).
  if (formats_[k] == 0)
    if (const auto nul = values_[k]->find('\0'); nul != std::string::npos) values_[k]->resize(nul);
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::span<const std::uint8_t> v) {
  return bind_blob(i, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
}

Stmt& Stmt::bind_blob(int i, std::string_view v) {
  if (i < 1 || static_cast<std::size_t>(i) > values_.size()) return *this;
  values_[static_cast<std::size_t>(i - 1)] = std::string(v);
  formats_[static_cast<std::size_t>(i - 1)] = 1;
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  if (i < 1 || static_cast<std::size_t>(i) > values_.size()) return *this;
  values_[static_cast<std::size_t>(i - 1)].reset();
  return *this;
}

int Stmt::step() {
  if (!db_) return kError;
  if (!ran_) {
    if (generation_ != db_->generation_ && !db_->prepare_on_server(*this)) return kError;
    if (!db_->within_deadline()) {
      changes_ = 0;
      return kError;
    }
    std::vector<const char*> values(values_.size());
    std::vector<int> lengths(values_.size());
    for (std::size_t i = 0; i < values_.size(); ++i) {
      values[i] = values_[i] ? values_[i]->data() : nullptr;
      lengths[i] = values_[i] ? static_cast<int>(values_[i]->size()) : 0;
    }
    if (result_) PQclear(result_);
    result_ = PQexecPrepared(db_->conn_, name_.c_str(), static_cast<int>(values.size()), values.data(), lengths.data(),
                             formats_.data(), 0);
    ran_ = true;
    row_ = 0;
    const ExecStatusType st = result_ ? PQresultStatus(result_) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      db_->failed(result_);
      PQclear(result_);
      result_ = nullptr;
      changes_ = 0;
      return kError;
    }
    const char* n = PQcmdTuples(result_);
    changes_ = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
    db_->changes_ = changes_;
    db_->sqlstate_.clear();
  }
  if (result_ && row_ < PQntuples(result_)) {
    ++row_;
    return kRow;
  }
  return kDone;
}

void Stmt::reset() {
  if (result_) PQclear(result_);
  result_ = nullptr;
  ran_ = false;
  row_ = 0;
}

int Stmt::column_count() const noexcept { return static_cast<int>(columns_.size()); }

bool Stmt::is_null(int col) const noexcept {
  return !result_ || row_ < 1 || col < 0 || col >= PQnfields(result_) || PQgetisnull(result_, row_ - 1, col);
}

std::int64_t Stmt::i64(int col) const noexcept {
  if (is_null(col)) return 0;
  const char* v = PQgetvalue(result_, row_ - 1, col);
  if (v[0] == 't' && v[1] == '\0') return 1;  // a boolean
  // SUM over bigint is numeric: its integer part.
  return std::strtoll(v, nullptr, 10);
}

double Stmt::f64(int col) const noexcept { return is_null(col) ? 0.0 : f64_of(PQgetvalue(result_, row_ - 1, col)); }

std::string Stmt::text(int col) const {
  if (is_null(col)) return {};
  return std::string(PQgetvalue(result_, row_ - 1, col), static_cast<std::size_t>(PQgetlength(result_, row_ - 1, col)));
}

std::string Stmt::blob(int col) const {
  if (is_null(col)) return {};
  const char* v = PQgetvalue(result_, row_ - 1, col);
  const auto n = static_cast<std::size_t>(PQgetlength(result_, row_ - 1, col));
  if (PQftype(result_, col) != kByteaOid || n < 2 || v[0] != '\\' || v[1] != 'x') return std::string(v, n);
  std::string out;
  out.reserve((n - 2) / 2);
  for (std::size_t i = 2; i + 1 < n; i += 2) {
    const int hi = hex_value(v[i]), lo = hex_value(v[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

// ---- ArrayRows ----

namespace {
void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
// One element: its length, then its bytes in the type's binary form.
void element(std::string& out, std::string_view bytes) {
  put32(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}
}  // namespace

ArrayRows::ArrayRows(std::vector<unsigned> types)
    : types_(std::move(types)), row_(types_.size()), set_(types_.size(), false), elements_(types_.size()),
      has_null_(types_.size(), false) {}

std::string* ArrayRows::slot(int i) {
  if (i < 1 || static_cast<std::size_t>(i) > row_.size()) return nullptr;
  const auto k = static_cast<std::size_t>(i - 1);
  set_[k] = true;
  row_[k].clear();
  return &row_[k];
}

ArrayRows& ArrayRows::bind(int i, std::int64_t v) {
  std::string* out = slot(i);
  if (!out) return *this;
  switch (types_[static_cast<std::size_t>(i - 1)]) {
    case kInt8Oid:
      put32(*out, 8);
      put64(*out, static_cast<std::uint64_t>(v));
      break;
    case kInt4Oid:
      put32(*out, 4);
      put32(*out, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
      break;
    case kBoolOid:
      put32(*out, 1);
      out->push_back(v != 0 ? '\1' : '\0');
      break;
    case kFloat8Oid:
    case kFloat4Oid:
      out->clear();
      set_[static_cast<std::size_t>(i - 1)] = false;
      return bind(i, static_cast<double>(v));
    default: {  // text: its digits
      char buf[24];
      element(*out, std::string_view(buf, std::to_chars(buf, buf + sizeof buf, v).ptr));
    }
  }
  return *this;
}

ArrayRows& ArrayRows::bind(int i, double v) {
  std::string* out = slot(i);
  if (!out) return *this;
  switch (types_[static_cast<std::size_t>(i - 1)]) {
    case kFloat8Oid:
      put32(*out, 8);
      put64(*out, std::bit_cast<std::uint64_t>(v));
      break;
    case kFloat4Oid:
      put32(*out, 4);
      put32(*out, std::bit_cast<std::uint32_t>(static_cast<float>(v)));
      break;
    case kInt8Oid:
    case kInt4Oid:
    case kBoolOid:
      out->clear();
      set_[static_cast<std::size_t>(i - 1)] = false;
      return bind(i, static_cast<std::int64_t>(v));
    default: {
      char buf[40];
      element(*out, std::string_view(buf, std::to_chars(buf, buf + sizeof buf, v).ptr));
    }
  }
  return *this;
}

ArrayRows& ArrayRows::bind(int i, std::string_view v) {
  if (i < 1 || static_cast<std::size_t>(i) > types_.size()) return *this;
  const unsigned type = types_[static_cast<std::size_t>(i - 1)];
  if (type == kInt8Oid || type == kInt4Oid || type == kBoolOid) {  // a number given as text
    std::int64_t n = 0;
    (void)std::from_chars(v.data(), v.data() + v.size(), n);
    return bind(i, n);
  }
  if (type == kFloat8Oid || type == kFloat4Oid) return bind(i, std::strtod(std::string(v).c_str(), nullptr));
  std::string* out = slot(i);
  // Text holds no NUL in PostgreSQL: cut there (as Stmt::bind); bytea takes every byte.
  if (type != kByteaOid)
    if (const auto nul = v.find('\0'); nul != std::string_view::npos) v = v.substr(0, nul);
  element(*out, v);
  return *this;
}

ArrayRows& ArrayRows::bind_blob(int i, std::span<const std::uint8_t> v) {
  return bind(i, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
}

ArrayRows& ArrayRows::bind_null(int i) {
  if (std::string* out = slot(i)) put32(*out, 0xffffffffu);  // length -1
  return *this;
}

void ArrayRows::next_row() {
  for (std::size_t k = 0; k < elements_.size(); ++k) {
    if (!set_[k]) {
      row_[k].clear();
      put32(row_[k], 0xffffffffu);
    }
    if (row_[k] == std::string_view("\xff\xff\xff\xff", 4)) has_null_[k] = true;
    elements_[k].append(row_[k]);
    set_[k] = false;
  }
  ++rows_;
}

std::string ArrayRows::array(std::size_t k) const {
  // One dimension of rows_ elements from index 1 (an empty array: no dimension).
  std::string out;
  if (k >= elements_.size()) return out;
  out.reserve(20 + elements_[k].size());
  put32(out, rows_ > 0 ? 1 : 0);
  put32(out, has_null_[k] ? 1 : 0);
  put32(out, types_[k]);
  if (rows_ > 0) {
    put32(out, static_cast<std::uint32_t>(rows_));
    put32(out, 1);
  }
  out.append(elements_[k]);
  return out;
}

void ArrayRows::bind_to(Stmt& s, int first) const {
  for (std::size_t k = 0; k < elements_.size(); ++k) s.bind_blob(first + static_cast<int>(k), std::string_view(array(k)));
}

void ArrayRows::clear() {
  for (std::string& e : elements_) e.clear();
  std::fill(set_.begin(), set_.end(), false);
  std::fill(has_null_.begin(), has_null_.end(), false);
  rows_ = 0;
}

// ---- Db ----

Db::Db(Db&& o) noexcept { *this = std::move(o); }

Db& Db::operator=(Db&& o) noexcept {
  if (this == &o) return *this;
  if (conn_) PQfinish(conn_);
  conn_ = std::exchange(o.conn_, nullptr);
  conninfo_ = std::move(o.conninfo_);
  connect_timeout_s_ = o.connect_timeout_s_;
  error_ = std::move(o.error_);
  sqlstate_ = std::move(o.sqlstate_);
  changes_ = o.changes_;
  generation_ = o.generation_;
  next_name_ = o.next_name_;
  return *this;
}

Db::~Db() {
  if (conn_) PQfinish(conn_);
}

namespace {
PGconn* connect(const std::string& conninfo, int timeout_s) {
  const std::string timeout = std::to_string(timeout_s);
  // The caller's own connect_timeout and application_name (in the URI) win: it is expanded last.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "overflowd", conninfo.c_str(), nullptr};
  return PQconnectdbParams(keys, values, 1);
}
}  // namespace

std::expected<Db, std::string> Db::open(const std::string& conninfo, int connect_timeout_s) {
  if (auto loaded = lazy::load(lazy::libpq()); !loaded) return std::unexpected(loaded.error());
  Db db;
  db.conninfo_ = conninfo;
  db.connect_timeout_s_ = connect_timeout_s;
  db.conn_ = connect(conninfo, connect_timeout_s);
  if (!db.ok()) {
    std::string why = db.conn_ ? PQerrorMessage(db.conn_) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return std::unexpected("cannot connect to PostgreSQL: " + why);
  }
  (void)PQsetNoticeReceiver(db.conn_, [](void*, const PGresult*) {}, nullptr);  // notices are not errors
  return db;
}

bool Db::reconnect() {
  if (conn_) PQfinish(conn_);
  conn_ = connect(conninfo_, connect_timeout_s_);
  ++generation_;
  if (!ok()) {
    error_ = conn_ ? PQerrorMessage(conn_) : "out of memory";
    while (!error_.empty() && (error_.back() == '\n' || error_.back() == ' ')) error_.pop_back();
    return false;
  }
  (void)PQsetNoticeReceiver(conn_, [](void*, const PGresult*) {}, nullptr);
  sqlstate_.clear();
  return true;
}

void Db::failed(const PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  if (sqlstate_ == "57014") timed_out_ = true;
  error_ = r ? PQresultErrorMessage(r) : "";
  if (error_.empty() && conn_) error_ = PQerrorMessage(conn_);
  if (error_.empty()) error_ = "PostgreSQL: no answer";
  while (!error_.empty() && (error_.back() == '\n' || error_.back() == ' ')) error_.pop_back();
}

bool Db::within_deadline() {
  if (!deadline_) return true;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline_ - std::chrono::steady_clock::now()).count();
  if (left <= 0) {
    sqlstate_ = "57014";
    timed_out_ = true;
    error_ = "canceling statement due to statement timeout (the request's time limit)";
    return false;
  }
  // statement_timeout only ever shrinks within a request: sent when it changed.
  if (left == timeout_sent_ms_) return true;
  PGresult* r = PQexec(conn_, ("SET statement_timeout = " + std::to_string(left)).c_str());
  const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) failed(r);
  if (r) PQclear(r);
  if (ok) timeout_sent_ms_ = left;
  return ok;
}

std::expected<void, std::string> Db::exec_native(std::string_view sql) {
  if (!conn_) return std::unexpected("not connected");
  if (!within_deadline()) return std::unexpected(error_);
  PGresult* r = PQexec(conn_, std::string(sql).c_str());
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
    failed(r);
    if (r) PQclear(r);
    return std::unexpected(error_);
  }
  const char* n = PQcmdTuples(r);
  changes_ = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
  sqlstate_.clear();
  PQclear(r);
  return {};
}

std::expected<void, std::string> Db::exec(std::string_view sql) { return exec_native(dialect::to_postgres(sql).sql); }

bool Db::prepare_on_server(Stmt& s) {
  s.name_ = "s" + std::to_string(++next_name_);
  s.generation_ = generation_;
  const std::vector<Oid> types = parameter_types(s.sql_);
  PGresult* r = PQprepare(conn_, s.name_.c_str(), s.sql_.c_str(), static_cast<int>(types.size()), types.empty() ? nullptr : types.data());
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
    failed(r);
    if (r) PQclear(r);
    s.generation_ = 0;
    return false;
  }
  PQclear(r);
  r = PQdescribePrepared(conn_, s.name_.c_str());
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
    failed(r);
    if (r) PQclear(r);
    s.generation_ = 0;
    return false;
  }
  const int params = PQnparams(r);
  s.types_.assign(static_cast<std::size_t>(params), 0);
  for (int i = 0; i < params; ++i) s.types_[static_cast<std::size_t>(i)] = PQparamtype(r, i);
  if (s.values_.size() != static_cast<std::size_t>(params)) {
    s.values_.resize(static_cast<std::size_t>(params));
    s.formats_.resize(static_cast<std::size_t>(params), 0);
  }
  s.columns_.clear();
  for (int i = 0; i < PQnfields(r); ++i) s.columns_.emplace_back(PQfname(r, i));
  PQclear(r);
  return true;
}

std::expected<Stmt, std::string> Db::prepare_native(std::string_view sql) {
  if (!conn_) return std::unexpected("not connected");
  Stmt s;
  s.db_ = this;
  s.sql_ = std::string(sql);
  if (!prepare_on_server(s)) {
    s.db_ = nullptr;
    return std::unexpected(error_ + " (in: " + s.sql_ + ")");
  }
  return s;
}

std::expected<Stmt, std::string> Db::prepare(std::string_view sqlite_sql) {
  const std::string unsupported = dialect::postgres_unsupported(sqlite_sql);
  if (!unsupported.empty()) return std::unexpected("SQL not portable to PostgreSQL (" + unsupported + "): " + std::string(sqlite_sql));
  dialect::Translated t = dialect::to_postgres(sqlite_sql);
  auto s = prepare_native(t.sql);
  if (s) {
    s->names_ = std::move(t.names);
    s->names_.resize(s->values_.size());
  }
  return s;
}

bool Db::pipeline(std::span<Stmt* const> stmts) {
  if (!conn_) {
    error_ = "not connected";
    return false;
  }
  // Statements prepared on an earlier connection are prepared again first (PQprepare waits for
  // its answer: not in pipeline mode).
  for (Stmt* s : stmts)
    if (s->generation_ != generation_ && !prepare_on_server(*s)) return false;
  if (PQenterPipelineMode(conn_) != 1) {
    failed(nullptr);
    return false;
  }
  std::size_t sent = 0;
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (Stmt* s : stmts) {
    values.assign(s->values_.size(), nullptr);
    lengths.assign(s->values_.size(), 0);
    for (std::size_t i = 0; i < s->values_.size(); ++i)
      if (s->values_[i]) {
        values[i] = s->values_[i]->data();
        lengths[i] = static_cast<int>(s->values_[i]->size());
      }
    if (PQsendQueryPrepared(conn_, s->name_.c_str(), static_cast<int>(values.size()), values.data(), lengths.data(),
                            s->formats_.data(), 0) != 1)
      break;
    ++sent;
  }
  const bool synced = PQpipelineSync(conn_) == 1;
  bool ok = sent == stmts.size() && synced;
  if (!ok) failed(nullptr);
  // One result per statement sent (then a null ending it), then the sync's.
  for (std::size_t k = 0; k < sent; ++k) {
    Stmt& s = *stmts[k];
    if (s.result_) PQclear(s.result_);
    s.result_ = PQgetResult(conn_);
    while (PGresult* more = PQgetResult(conn_)) PQclear(more);
    s.ran_ = true;
    s.row_ = 0;
    s.changes_ = 0;
    const ExecStatusType st = s.result_ ? PQresultStatus(s.result_) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      // The first failure says why; the aborted ones after it say nothing new.
      if (ok) failed(s.result_);
      ok = false;
      if (s.result_) PQclear(s.result_);
      s.result_ = nullptr;
      continue;
    }
    const char* n = PQcmdTuples(s.result_);
    s.changes_ = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
    changes_ = s.changes_;
  }
  if (synced)
    for (int nulls = 0; nulls < 2 && PQstatus(conn_) == CONNECTION_OK;) {
      PGresult* r = PQgetResult(conn_);
      if (!r) {
        ++nulls;
        continue;
      }
      const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
      PQclear(r);
      if (sync) break;
    }
  if (PQexitPipelineMode(conn_) != 1) {
    // Results left unread (a broken connection): nothing more to read from it.
    if (ok) failed(nullptr);
    ok = false;
  }
  if (ok) sqlstate_.clear();
  return ok;
}

std::optional<std::int64_t> Db::scalar(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return std::nullopt;
  if (st->step() != kRow) return std::nullopt;
  return st->i64(0);
}

}  // namespace overflowd::store::pg

#include "store/sql_dialect.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <utility>

namespace overflowd::store::dialect {

namespace {

// The dialects' differences in words, longest first where one begins another. Matched whole
// (word boundaries), case-insensitively, outside literals.
struct Word {
  std::string_view sqlite, postgres;
};
constexpr std::array kWords = {
    Word{"INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"},
    Word{"INTEGER", "BIGINT"},
    Word{"REAL", "DOUBLE PRECISION"},
    Word{"BLOB", "BYTEA"},
    Word{"WITHOUT ROWID", ""},
    Word{"BEGIN IMMEDIATE", "BEGIN"},
    Word{"LIMIT -1", "LIMIT ALL"},
    Word{"temp.", "pg_temp."},
};
// Two-argument forms of aggregates, and SQLite's own functions: name -> PostgreSQL's.
struct Function {
  std::string_view sqlite, two_args, one_arg_prefix, one_arg_suffix;
};
constexpr std::array kFunctions = {
    Function{"MAX", "GREATEST", "", ""},
    Function{"MIN", "LEAST", "", ""},
    Function{"TOTAL", "", "COALESCE(SUM(", "), 0)"},
};
constexpr std::array<std::string_view, 6> kUnsupported = {"PRAGMA", "json_extract", "json_valid", "json_type",
                                                          "INSERT OR REPLACE", "ON CONFLICT DO UPDATE"};

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool starts_with_ci(std::string_view s, std::size_t at, std::string_view w) {
  if (s.size() - at < w.size()) return false;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[at + i])) != std::toupper(static_cast<unsigned char>(w[i]))) return false;
  return true;
}

// `w` at `at` as a whole word (its ends not inside a longer name).
bool word_at(std::string_view s, std::size_t at, std::string_view w) {
  if (!starts_with_ci(s, at, w)) return false;
  if (at > 0 && word_char(s[at - 1]) && word_char(w.front())) return false;
  const std::size_t end = at + w.size();
  return !(end < s.size() && word_char(s[end]) && word_char(w.back()));
}

// The end of a quoted literal starting at `at` (the index past its closing quote).
std::size_t skip_quoted(std::string_view s, std::size_t at) {
  const char q = s[at];
  std::size_t i = at + 1;
  while (i < s.size()) {
    if (s[i] == q) {
      if (i + 1 < s.size() && s[i + 1] == q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return s.size();
}

// The index of the parenthesis closing the one at `open`, and whether a comma stands at its top
// level; npos when it is not closed.
std::pair<std::size_t, bool> closing(std::string_view s, std::size_t open) {
  int depth = 0;
  bool comma = false;
  for (std::size_t i = open; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      i = skip_quoted(s, i) - 1;
      continue;
    }
    if (c == '(') ++depth;
    else if (c == ')' && --depth == 0) return {i, comma};
    else if (c == ',' && depth == 1) comma = true;
  }
  return {std::string_view::npos, false};
}

// Words, functions and INSERT OR IGNORE; placeholders are left for the second pass.
std::string rewrite(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 32);
  bool ignore_conflicts = false;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      const std::size_t end = skip_quoted(s, i);
      out.append(s.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == ';' && ignore_conflicts) {
      out += " ON CONFLICT DO NOTHING";
      ignore_conflicts = false;
    }
    if (word_at(s, i, "INSERT OR IGNORE")) {
      out += "INSERT";
      i += 16;
      ignore_conflicts = true;
      continue;
    }
    bool done = false;
    for (const Word& w : kWords) {
      if (word_at(s, i, w.sqlite)) {
        out += w.postgres;
        i += w.sqlite.size();
        done = true;
        break;
      }
    }
    if (done) continue;
    for (const Function& f : kFunctions) {
      if (!word_at(s, i, f.sqlite)) continue;
      std::size_t open = i + f.sqlite.size();
      while (open < s.size() && s[open] == ' ') ++open;
      if (open >= s.size() || s[open] != '(') break;
      const auto [close, comma] = closing(s, open);
      if (close == std::string_view::npos) break;
      const std::string inner = rewrite(s.substr(open + 1, close - open - 1));
      if (!f.one_arg_prefix.empty()) out += std::string(f.one_arg_prefix) + inner + std::string(f.one_arg_suffix);
      else out += std::string(comma ? f.two_args : f.sqlite) + "(" + inner + ")";
      i = close + 1;
      done = true;
      break;
    }
    if (done) continue;
    out.push_back(c);
    ++i;
  }
  if (ignore_conflicts) {
    // Before a trailing RETURNING clause, else at the end.
    std::size_t at = std::string::npos;
    for (std::size_t k = 0; k + 9 <= out.size(); ++k)
      if (word_at(out, k, "RETURNING")) at = k;
    if (at != std::string::npos) {
      out.insert(at, "ON CONFLICT DO NOTHING ");
    } else {
      while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
      out += " ON CONFLICT DO NOTHING";
    }
  }
  return out;
}

}  // namespace

Translated to_postgres(std::string_view sqlite_sql) {
  const std::string s = rewrite(sqlite_sql);
  Translated t;
  t.sql.reserve(s.size() + 16);
  int next = 0;  // the last anonymous ? numbered
  std::map<std::string, int, std::less<>> named;
  auto note = [&](int n) {
    t.parameters = std::max(t.parameters, n);
    if (static_cast<int>(t.names.size()) < n) t.names.resize(static_cast<std::size_t>(n));
  };
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      const std::size_t end = skip_quoted(s, i);
      t.sql.append(s, i, end - i);
      i = end;
      continue;
    }
    if (c == '?') {
      std::size_t j = i + 1;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      const int n = j > i + 1 ? std::stoi(s.substr(i + 1, j - i - 1)) : ++next;
      note(n);
      t.sql += "$" + std::to_string(n);
      i = j;
      continue;
    }
    // :name (not PostgreSQL's :: cast, nor a colon inside a word).
    if (c == ':' && i + 1 < s.size() && (std::isalpha(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '_') &&
        (i == 0 || (s[i - 1] != ':' && !word_char(s[i - 1])))) {
      std::size_t j = i + 1;
      while (j < s.size() && word_char(s[j])) ++j;
      const std::string name = s.substr(i + 1, j - i - 1);
      auto it = named.find(name);
      if (it == named.end()) {
        it = named.emplace(name, t.parameters + 1).first;
        note(it->second);
        t.names[static_cast<std::size_t>(it->second - 1)] = name;
      }
      t.sql += "$" + std::to_string(it->second);
      i = j;
      continue;
    }
    t.sql.push_back(c);
    ++i;
  }
  return t;
}

std::string postgres_unsupported(std::string_view sqlite_sql) {
  std::string found;
  for (std::size_t i = 0; i < sqlite_sql.size(); ++i) {
    if (sqlite_sql[i] == '\'' || sqlite_sql[i] == '"') {
      i = skip_quoted(sqlite_sql, i) - 1;
      continue;
    }
    for (const std::string_view w : kUnsupported)
      if (word_at(sqlite_sql, i, w)) found += std::string(found.empty() ? "" : ", ") + std::string(w);
  }
  return found;
}

}  // namespace overflowd::store::dialect

// One logger for the sender and the receiver (spdlog, one sink on stderr). Start-up lines,
// warnings, errors and the summary of counters all go through it, in one of two forms:
//   text (default): the lines as they always were, e.g. "overflowd: warning: ..." or
//                   "overflowd receive: listening: ...", which scripts and tests read;
//   json:           one JSON object per line: {"time","level","program","msg"} and, for the
//                   summary, "counters": {name: value}.
// --log-level (trace, debug, info, warn, error, off; default info) filters both forms. The
// logger is process state, so it lives here in src/app/ (the only folder with globals).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overflowd::app::log {

enum class Format { text, json };
enum class Level { trace, debug, info, warn, error, off };

[[nodiscard]] std::expected<Format, std::string> parse_format(std::string_view text);
[[nodiscard]] std::expected<Level, std::string> parse_level(std::string_view text);

// Sets the form and the level; may be called again (tests, the receive command).
void configure(Format format, Level level);
[[nodiscard]] Format format() noexcept;

// `program` is "overflowd" (the sender and the other commands) or "overflowd receive".
void debug(std::string_view program, std::string_view message);
void info(std::string_view program, std::string_view message);
void warning(std::string_view program, std::string_view message);
void error(std::string_view program, std::string_view message);

// A block of counters at info level: in text, `title` then "  name value" lines (and `end` when
// given); in JSON, one line {"msg": title, "counters": {...}}.
using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
void counters(std::string_view program, std::string_view title, const Counts& counts, std::string_view end = {},
              int name_width = 40);

}  // namespace overflowd::app::log

#include "app/log.hpp"

#include <fmt/core.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace overflowd::app::log {
namespace {

std::atomic<Format> g_format{Format::text};  // process state: the app layer only

// One spdlog logger writing whole lines to stderr; we format the line ourselves ("%v") so that the
// text form stays byte for byte what scripts read, and the JSON form is real JSON.
spdlog::logger& logger() {
  static const std::shared_ptr<spdlog::logger> l = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto made = std::make_shared<spdlog::logger>("overflowd", std::move(sink));
    made->set_pattern("%v");
    made->set_level(spdlog::level::info);
    made->flush_on(spdlog::level::trace);  // every line at once: stderr is what operators watch
    return made;
  }();
  return *l;
}

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: break;
  }
  return spdlog::level::off;
}

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ms % 1000);
}

nlohmann::ordered_json json_line(std::string_view level, std::string_view program, std::string_view message) {
  return nlohmann::ordered_json{{"time", now_rfc3339()}, {"level", level}, {"program", program}, {"msg", message}};
}

std::string dump(const nlohmann::ordered_json& j) { return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace); }

void emit(spdlog::level::level_enum level, std::string_view level_name, std::string_view text_prefix,
          std::string_view program, std::string_view message) {
  auto& l = logger();
  if (!l.should_log(level)) return;
  if (g_format.load(std::memory_order_relaxed) == Format::json) {
    l.log(level, "{}", dump(json_line(level_name, program, message)));
  } else {
    l.log(level, "{}: {}{}", program, text_prefix, message);
  }
}

}  // namespace

std::expected<Format, std::string> parse_format(std::string_view text) {
  if (text == "text") return Format::text;
  if (text == "json") return Format::json;
  return std::unexpected(fmt::format("--log-format: '{}' is not text or json", text));
}

std::expected<Level, std::string> parse_level(std::string_view text) {
  static constexpr std::pair<std::string_view, Level> names[] = {
      {"trace", Level::trace}, {"debug", Level::debug}, {"info", Level::info},
      {"warn", Level::warn},   {"warning", Level::warn}, {"error", Level::error}, {"off", Level::off}};
  for (const auto& [name, level] : names)
    if (text == name) return level;
  return std::unexpected(fmt::format("--log-level: '{}' is not one of trace, debug, info, warn, error, off", text));
}

void configure(Format format, Level level) {
  g_format.store(format, std::memory_order_relaxed);
  logger().set_level(to_spdlog(level));
}

Format format() noexcept { return g_format.load(std::memory_order_relaxed); }

void debug(std::string_view program, std::string_view message) { emit(spdlog::level::debug, "debug", "", program, message); }
void info(std::string_view program, std::string_view message) { emit(spdlog::level::info, "info", "", program, message); }
void warning(std::string_view program, std::string_view message) {
  emit(spdlog::level::warn, "warning", "warning: ", program, message);
}
void error(std::string_view program, std::string_view message) {
  emit(spdlog::level::err, "error", "error: ", program, message);
}

void counters(std::string_view program, std::string_view title, const Counts& counts, std::string_view end, int name_width) {
  auto& l = logger();
  if (!l.should_log(spdlog::level::info)) return;
  if (g_format.load(std::memory_order_relaxed) == Format::json) {
    nlohmann::ordered_json j = json_line("info", program, title);
    nlohmann::ordered_json c = nlohmann::ordered_json::object();
    for (const auto& [name, value] : counts) c[name] = value;
    j["counters"] = std::move(c);
    l.info("{}", dump(j));
    return;
  }
  // One write for the block, so that lines from other threads cannot come between its lines.
  std::string out = fmt::format("{}: {}", program, title);
  for (const auto& [name, value] : counts) out += fmt::format("\n  {:<{}} {}", name, name_width, value);
  if (!end.empty()) out += fmt::format("\n{}: {}", program, end);
  l.info("{}", out);
}

}  // namespace overflowd::app::log

#include "app/log_settings.hpp"

namespace overflowd::app {

const std::vector<Setting<LogSettings>>& log_settings() {
  using V = std::string_view;
  static const std::vector<Setting<LogSettings>> table = {
      {"--log-format", "log", "format", "FORMAT", "Log lines on stderr: text (default) or json (one object per line)",
       SettingKind::text,
       [](LogSettings& c, V value, V what) -> SettingResult {
         auto f = log::parse_format(value);
         if (!f) return std::unexpected(std::string(what) + ": '" + std::string(value) + "' is not text or json");
         c.format = *f;
         return {};
       },
       {}, "", "Logging"},
      {"--log-level", "log", "level", "LEVEL", "Least level logged: trace, debug, info (default), warn, error, off",
       SettingKind::text,
       [](LogSettings& c, V value, V what) -> SettingResult {
         auto l = log::parse_level(value);
         if (!l) return std::unexpected(std::string(what) + ": '" + std::string(value) + "' is not one of trace, debug, info, warn, error, off");
         c.level = *l;
         return {};
       },
       {}, "", "Logging"},
  };
  return table;
}

}  // namespace overflowd::app

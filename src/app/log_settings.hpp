// The logger's settings, one table for both commands: --log-format / [log] format and
// --log-level / [log] level. The sender's and the receiver's tables take these rows
// (settings_of_member), so each flag, key and help is written once, here.
#pragma once

#include <vector>

#include "app/log.hpp"
#include "app/settings.hpp"

namespace overflowd::app {

struct LogSettings {
  log::Format format = log::Format::text;
  log::Level level = log::Level::info;
};

[[nodiscard]] const std::vector<Setting<LogSettings>>& log_settings();

}  // namespace overflowd::app

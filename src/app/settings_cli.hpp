// The command line of a settings table (app/settings.hpp): one CLI11 option per row with a flag,
// its help followed by the row's key in brackets, and apply() to set what was given over a config
// already read from a file (flags win).
#pragma once

#include <CLI/CLI.hpp>

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "app/settings.hpp"

namespace overflowd::app {

template <class Config>
class SettingFlags {
 public:
  // How the key is shown after each flag's help: "[udp_port]" (one section, the receiver's) or
  // "[source.udp_port]".
  enum class KeyShown { key, section_and_key };

  SettingFlags(CLI::App& app, const std::vector<Setting<Config>>& table, KeyShown shown) {
    const char* home = nullptr;  // KeyShown::key: the table's own section, whose keys are shown bare
    for (const auto& row : table)
      if (!home && row.section) home = row.section;
    for (const auto& row : table) {
      if (!row.flag) continue;
      Slot& slot = slots_.emplace_back();
      slot.row = &row;
      std::string help = row.help;
      if (row.section && row.key)
        help += shown == KeyShown::key && std::string_view(row.section) == home ? " [" + std::string(row.key) + "]"
                                       : " [" + std::string(row.section) + "." + row.key + "]";
      if (row.kind == SettingKind::boolean) {
        slot.option = app.add_flag(row.flag, slot.on, help);
      } else if (row.kind == SettingKind::list || row.kind == SettingKind::scalars) {
        slot.option = app.add_option(row.flag, slot.values, help)->type_name(row.value_name);
        slot.option->expected(1);  // one value per occurrence; lists repeat the flag
        slot.option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      } else {
        slot.option = app.add_option(row.flag, slot.values, help)->type_name(row.value_name);
        slot.option->expected(1);
        slot.option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      }
      if (row.group) slot.option->group(row.group);
    }
  }
  SettingFlags(const SettingFlags&) = delete;
  SettingFlags& operator=(const SettingFlags&) = delete;

  // The option of the row with this flag name ("--udp-port"), for constraints between flags.
  [[nodiscard]] CLI::Option* option(std::string_view flag) const {
    for (const auto& slot : slots_)
      if (slot.option->check_name(std::string(flag))) return slot.option;
    return nullptr;
  }

  // Sets every row whose flag was given, in the table's order; the flag's long name is `what`.
  [[nodiscard]] SettingResult apply(Config& config) const {
    for (const auto& slot : slots_) {
      if (slot.option->count() == 0) continue;
      const std::string what = slot.option->get_name();
      if (slot.row->kind == SettingKind::boolean) {
        if (auto r = slot.row->set(config, slot.on ? "true" : "false", what); !r) return r;
        continue;
      }
      if (slot.row->clear) slot.row->clear(config);
      for (const auto& v : slot.values)
        if (auto r = slot.row->set(config, v, what); !r) return r;
    }
    return {};
  }

 private:
  struct Slot {
    const Setting<Config>* row = nullptr;
    CLI::Option* option = nullptr;
    std::vector<std::string> values;
    bool on = false;
  };
  std::deque<Slot> slots_;  // CLI11 holds references into the slots: they must not move
};

}  // namespace overflowd::app

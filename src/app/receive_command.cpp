// The `receive` subcommand's command line, built from the settings table (config.hpp).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <map>

#include "app/log.hpp"
#include "app/receiver.hpp"

namespace overflowd::app {

struct ReceiveCommand {
  CLI::App* app = nullptr;
  std::string config_file;
  struct Value {
    CLI::Option* option = nullptr;
    std::string one;
    std::vector<std::string> many;
  };
  std::map<const Setting*, Value> values;
  std::map<const Setting*, std::pair<CLI::Option*, bool>> flags;
};

ReceiveCommand* add_receive_command(CLI::App& app) {
  static ReceiveCommand cmd;  // lives as long as the CLI::App of main()
  cmd.app = app.add_subcommand(
      "receive",
      "Receive reports from other networks (UDP, HTTP/HTTPS POST /.well-known/overflowd, a capture), verify and store\n"
      "them (SQLite), track each key's continuity, and answer a JSON API and a web page: who reports my traffic,\n"
      "the top sources of a flood toward me, and flows from my addresses that my own exporters never saw (spoofing).");
  cmd.app->add_option("--config", cmd.config_file, "TOML file whose [receive] section holds the settings below, by the names in\n"
                                                   "brackets (flags override it)")
      ->type_name("FILE");
  for (const Setting& s : settings()) {
    const std::string help = std::string(s.help) + " [" + s.key + "]";
    if (s.kind == Setting::Kind::boolean) {
      auto& slot = cmd.flags[&s];
      slot.first = cmd.app->add_flag(s.flag, slot.second, help);
    } else {
      auto& slot = cmd.values[&s];
      if (s.kind == Setting::Kind::list) slot.option = cmd.app->add_option(s.flag, slot.many, help)->type_name(s.value_name);
      else
        slot.option = cmd.app->add_option(s.flag, slot.one, help)->type_name(s.value_name)
                          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
  cmd.app->footer(
      "Durability: a report answered 2xx over HTTP(S) is committed (SQLite WAL, synchronous=FULL) before the answer;\n"
      "reports from UDP or a capture are committed in batches, so a crash loses at most the last --batch-ms of them.\n"
      "The API and the page answer only --api-allow addresses (loopback by default); reports are taken from anyone.");
  return &cmd;
}

CLI::App* receive_app(ReceiveCommand* cmd) { return cmd->app; }

bool receive_chosen(const ReceiveCommand* cmd) { return cmd && cmd->app && cmd->app->parsed(); }

int run_receive_command(ReceiveCommand* cmd) {
  ReceiveConfig config;
  if (!cmd->config_file.empty()) {
    if (auto r = load_receive_toml(cmd->config_file, config); !r) {
      log::error("overflowd", r.error());
      return 2;
    }
  }
  for (auto& [s, slot] : cmd->values) {
    if (slot.option->count() == 0) continue;
    const std::vector<std::string> v = s->kind == Setting::Kind::list ? slot.many : std::vector<std::string>{slot.one};
    if (auto r = s->set(config, v); !r) {
      log::error("overflowd", r.error());
      return 2;
    }
  }
  for (auto& [s, slot] : cmd->flags) {
    if (slot.first->count() == 0) continue;
    (void)s->set(config, {slot.second ? "true" : "false"});
  }
  return run_receive(config);
}

}  // namespace overflowd::app

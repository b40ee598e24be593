// The `receive` subcommand's command line, built from the settings table (receive_config.cpp).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <optional>

#include "app/log.hpp"
#include "app/receiver.hpp"
#include "app/settings_cli.hpp"

namespace overflowd::app {

struct ReceiveCommand {
  CLI::App* app = nullptr;
  std::string config_file;
  std::optional<SettingFlags<ReceiveConfig>> flags;
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
  cmd.flags.emplace(*cmd.app, receive_settings(), SettingFlags<ReceiveConfig>::KeyShown::key);
  cmd.app->footer(
      "Durability: a report answered 2xx over HTTP(S) is committed (SQLite WAL, synchronous=FULL) before the answer;\n"
      "reports from UDP or a capture are committed in batches, so a crash loses at most the last --batch-ms of them.\n"
      "The API and the page answer only --api-allow addresses (loopback by default); reports are taken from anyone.");
  return &cmd;
}

CLI::App* receive_app(ReceiveCommand* cmd) { return cmd->app; }

bool receive_chosen(const ReceiveCommand* cmd) { return cmd && cmd->app && cmd->app->parsed(); }

int run_receive_command(ReceiveCommand* cmd) {
  // The file, then the flags over it; run again on SIGHUP (ExecReload) with the same flags.
  const auto build = [cmd]() -> std::expected<ReceiveConfig, std::string> {
    ReceiveConfig config;
    if (!cmd->config_file.empty())
      if (auto r = load_receive_toml(cmd->config_file, config); !r) return std::unexpected(r.error());
    // --log-format / --log-level given before `receive` belong to the main command: under the
    // receive command's own, which win.
    if (const CLI::App* parent = cmd->app->get_parent())
      for (const auto& row : log_settings())
        if (const CLI::Option* o = parent->get_option_no_throw(row.flag); o && o->count() > 0)
          if (auto r = row.set(config.log, o->results().back(), row.flag); !r) return std::unexpected(r.error());
    if (auto r = cmd->flags->apply(config); !r) return std::unexpected(r.error());
    return config;
  };
  auto config = build();
  if (!config) {
    log::error("overflowd", config.error());
    return 2;
  }
  log::configure(config->log.format, config->log.level);  // the file's [log] under the flags
  if (cmd->config_file.empty()) return run_receive(*config);
  return run_receive(*config, cmd->config_file, build);
}

}  // namespace overflowd::app

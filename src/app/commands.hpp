// The subcommands. Each returns the process exit code: 0 success, 1 a failure of the work itself
// (a report that does not verify), 2 bad usage or configuration (one line on stderr says why).
#pragma once

#include <expected>
#include <functional>
#include <string>

#include "app/config.hpp"
#include "io/synth.hpp"

namespace CLI {
class App;
}

namespace overflowd::app {

using io::SynthConfig;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Rebuilds the sender's settings (the --config file, then the flags): called on SIGHUP.
using ConfigLoader = std::function<std::expected<RunConfig, std::string>()>;
// `config_file` and `reload` (both or neither): SIGHUP re-reads the file. The contact changes
// live; what cannot (the source, workers, key, output, delivery, templates, metrics) is named in
// the log; a file that does not load keeps the running settings and the log says why.
[[nodiscard]] int cmd_run(const RunConfig& config, const std::string& config_file = {}, ConfigLoader reload = {});
[[nodiscard]] int cmd_keygen(const std::string& path);
[[nodiscard]] int cmd_pubkey(const std::string& path);
[[nodiscard]] int cmd_keygen_x25519(const std::string& path);
[[nodiscard]] int cmd_pubkey_x25519(const std::string& path);
// A rotation statement (report/document.hpp) to `out`, or standard output when empty.
[[nodiscard]] int cmd_rotate_key(const std::string& old_path, const std::string& new_path, const std::string& out);
[[nodiscard]] int cmd_verify(const std::string& path);  // "-" for standard input
[[nodiscard]] int cmd_synth(const SynthConfig& config);
// `overflowd policy example`: the commented example policy on stdout.
[[nodiscard]] int cmd_policy_example();
// `overflowd policy check FILE`: loads the policy and its lists, prints what it loaded; 2 if bad.
[[nodiscard]] int cmd_policy_check(const std::string& path);

// `overflowd replay`: the flags as given, checked by cmd_replay (the destination first, before
// anything is opened).
struct ReplayArgs {
  std::string file;
  std::string to;
  std::string rate;       // datagrams per second; empty: as fast as possible
  std::string count;      // datagrams at most
  std::string duration;   // seconds at most
  std::string exporters;  // source sockets
  bool loop = false;
  bool allow_non_loopback = false;
};
[[nodiscard]] int cmd_replay(const ReplayArgs& args);

// `overflowd simulate` (simulate_command.cpp; the engine is src/sim/): registered on `app` by
// main, run when chosen.
struct SimulateCommand;
[[nodiscard]] SimulateCommand* add_simulate_command(CLI::App& app);
[[nodiscard]] bool simulate_chosen(const SimulateCommand* cmd);
[[nodiscard]] int run_simulate_command(SimulateCommand* cmd);

// "overflowd: error: <message>" on stderr.
void print_error(const std::string& message);
void print_warning(const std::string& message);

}  // namespace overflowd::app

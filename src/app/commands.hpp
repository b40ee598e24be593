// The subcommands. Each returns the process exit code: 0 success, 1 a failure of the work itself
// (a report that does not verify), 2 bad usage or configuration (one line on stderr says why).
#pragma once

#include <string>

#include "app/config.hpp"
#include "io/synth.hpp"

namespace overflowd::app {

using io::SynthConfig;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

[[nodiscard]] int cmd_run(const RunConfig& config);
[[nodiscard]] int cmd_keygen(const std::string& path);
[[nodiscard]] int cmd_pubkey(const std::string& path);
[[nodiscard]] int cmd_keygen_x25519(const std::string& path);
[[nodiscard]] int cmd_pubkey_x25519(const std::string& path);
// A rotation statement (report/document.hpp) to `out`, or standard output when empty.
[[nodiscard]] int cmd_rotate_key(const std::string& old_path, const std::string& new_path, const std::string& out);
[[nodiscard]] int cmd_verify(const std::string& path);  // "-" for standard input
[[nodiscard]] int cmd_synth(const SynthConfig& config);

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

// "overflowd: error: <message>" on stderr.
void print_error(const std::string& message);
void print_warning(const std::string& message);

}  // namespace overflowd::app

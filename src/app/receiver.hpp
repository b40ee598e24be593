// `overflowd receive`: the inputs (UDP, HTTP, HTTPS, a capture), the writer, the API and page,
// and my own flow exports for the spoofing view, wired in one place.
#pragma once

#include "app/receive_config.hpp"

namespace CLI {
class App;
}

namespace overflowd::app {

// Runs until SIGINT/SIGTERM, or, when a capture file is the only input, until it is read and
// stored. Returns the exit code (0, or 2 for a configuration that cannot start).
[[nodiscard]] int run_receive(const ReceiveConfig& config);

// Adds the `receive` subcommand to the command line; `run` is set to a function that runs it when
// it was chosen. Defined in command.cpp.
struct ReceiveCommand;
[[nodiscard]] ReceiveCommand* add_receive_command(CLI::App& app);
[[nodiscard]] bool receive_chosen(const ReceiveCommand* cmd);
[[nodiscard]] int run_receive_command(ReceiveCommand* cmd);

}  // namespace overflowd::app

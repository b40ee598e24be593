// `overflowd receive`, wired in one place: the inputs (UDP, HTTP, HTTPS, a capture), the verifying
// threads, the writer, the API and page, and my own flow exports for the spoofing view.
//
//   UDP socket ----\                                   (verified_cache)
//   capture -------+--> Verifier (N threads) --+--> Writer (1 thread) --> ReportStore (SQLite)
//   HTTP(S) POST --------- ingest on the HTTP thread -/   group commit        ^
//   own exports (UDP, file) --> SpoofWindow ---- judges reports in the writer  |
//   HTTP(S) GET /api, / <------------------------------------ ReportQueries --/
//
// A Receiver starts in three phases, each of which may fail with a message and leaves nothing
// behind when it does (what was made is unmade by the destructors, in reverse order):
//   open()   check the configuration, load the key, open the store and its queries, read my own
//            exports from a file; no socket, no thread
//   bind()   the UDP sockets, the capture, the HTTP(S) listeners (bound, not yet served)
//   start()  the threads: the writer, the verifying pool, one per input, one per HTTP listener
// Destroying a Receiver (or stop()) ends the inputs, then commits what the verifier and the
// writer hold, then closes the sockets and the database.
#pragma once

#include <functional>

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "app/receive_config.hpp"

namespace CLI {
class App;
}

namespace overflowd::api {
class HttpServer;
}

namespace overflowd::app {

class Receiver {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<Receiver>, std::string> open(const ReceiveConfig& config);
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  [[nodiscard]] std::expected<void, std::string> bind();
  void start();
  // Until `stop` is requested or, when a capture file is the only input, until it is read and stored.
  void wait(std::stop_token stop);
  // Ends the inputs, then commits what is queued, then ends every thread. Idempotent.
  void stop();

  // "udp [::]:65535", "http [::]:80", ...: what bind() bound.
  [[nodiscard]] const std::vector<std::string>& listening() const noexcept;
  // The end-of-run summary ("stored N", ...).
  [[nodiscard]] std::string summary() const;
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> summary_counts() const;
  // GET /metrics: the Prometheus text exposition (app/metrics.hpp); `own`: the --metrics server,
  // whose counters are added.
  [[nodiscard]] std::string metrics(const api::HttpServer* own = nullptr) const;
  // SIGHUP: takes from `fresh` what can change while running: the contact (the published document
  // is signed again), --api-allow (the API, the page and /metrics) and --alert-rate. When `fresh`
  // does not check, nothing changes and the error says why. The rest needs a restart.
  [[nodiscard]] std::expected<void, std::string> reload(const ReceiveConfig& fresh);
  // The key published for discovery, as hex.
  [[nodiscard]] std::string public_key() const;

private:
  struct Parts;
  explicit Receiver(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> p_;
};

// Runs until SIGINT/SIGTERM, or, when a capture file is the only input, until it is read and
// stored. Returns the exit code (0, or 2 for a configuration that cannot start).
// With `config_file` and `reload` (both or neither), SIGHUP re-reads the file (and the flags over it)
// and applies what can change live (Receiver::reload); each changed key is said in the log.
using ReceiveLoader = std::function<std::expected<ReceiveConfig, std::string>()>;
[[nodiscard]] int run_receive(const ReceiveConfig& config, const std::string& config_file = {},
                              ReceiveLoader reload = {});

// Adds the `receive` subcommand to the command line (receive_command.cpp).
struct ReceiveCommand;
[[nodiscard]] ReceiveCommand* add_receive_command(CLI::App& app);
[[nodiscard]] CLI::App* receive_app(ReceiveCommand* cmd);
[[nodiscard]] bool receive_chosen(const ReceiveCommand* cmd);
[[nodiscard]] int run_receive_command(ReceiveCommand* cmd);

}  // namespace overflowd::app

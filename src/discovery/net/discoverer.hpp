// The sender's key discovery (docs/manual.md, "Discovery"): a thread of its own that does the
// lookups the pure `Lookups` decides on, with c-ares (DNS: the `_overflowd` TXT record, names.hpp)
// and libcurl (HTTP(S): GET of the document), and hands their results back to it.
//
// `key_for` is what the delivery sink asks for each (report, address) pair. It never waits on the
// network: it answers from the cache, or queues a lookup (which the Guard's address checks, the
// discovery budget and the bound on lookups in flight allow or refuse, each counted) and answers
// "no key" for now. Thread-safe: one mutex around `Lookups`, held only for those decisions.
//
// Every connection the thread opens passes the Guard's address checks again, at connect time
// (libcurl's open-socket hook sees the address a URL's host name resolved to).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/counters.hpp"
#include "core/log_limit.hpp"
#include "discovery/lookups.hpp"
#include "discovery/names.hpp"
#include "discovery/trust_file.hpp"

namespace overflowd::discovery {

struct DiscovererConfig {
  LookupsConfig lookups;
  std::string resolver;       // --discovery-resolver ADDRESS:PORT (default: /etc/resolv.conf's)
  long timeout_ms = 3000;     // a DNS query or an HTTP(S) GET, each
  bool https_verify = false;  // --https-verify: check the document's server certificate
  std::string ca_file;        // --https-ca
  std::uint32_t log_per_minute = 10;  // identity-change lines at most; the rest counted
  // --discovery-trust FILE: the TOFU table kept across restarts (trust_file.hpp); empty: in memory
  // only. Read at open() (a file that does not parse refuses the start); written atomically (a
  // temp file beside it, then rename) after a lookup that saw a new identity (at most once a
  // second), else at most once a minute, and at the end.
  std::string trust_file;
};

// Reads FILE for --discovery-trust: no file is an empty table; one that does not parse, or cannot
// be read, is an error naming the file, the line and the code.
[[nodiscard]] std::expected<std::vector<TrustEntry>, std::string> read_trust_file(const std::string& path);
// Writes `text` to FILE atomically: FILE.tmp (mode 0600), fsync, rename over FILE.
[[nodiscard]] std::expected<void, std::string> write_trust_file(const std::string& path, const std::string& text);

class Discoverer {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<Discoverer>, std::string> open(DiscovererConfig config,
                                                                                    const core::Clock& clock);
  ~Discoverer();
  Discoverer(const Discoverer&) = delete;
  Discoverer& operator=(const Discoverer&) = delete;

  // The key to seal to for `address` now, or none (a lookup may have been queued).
  [[nodiscard]] std::optional<report::X25519Public> key_for(const core::IpAddress& address, std::int64_t now_ns);
  void append_counters(std::vector<core::NamedCount>& out) const;
  // Waits until no lookup is queued or running (tests, and the end of a run from a file).
  void wait_idle(std::int64_t timeout_ms);

private:
  Discoverer(DiscovererConfig config, const core::Clock& clock, std::vector<TrustEntry> trusted);
  void save_trust(bool force);
  void run(std::stop_token stop);
  [[nodiscard]] std::expected<Found, Outcome> lookup(const Job& job, std::stop_token stop);
  [[nodiscard]] std::expected<std::string, Outcome> resolve_txt(const std::string& name, std::stop_token stop);
  [[nodiscard]] std::expected<std::string, Outcome> fetch(const DocumentUrl& url, std::stop_token stop);
  [[nodiscard]] std::int64_t now_s() const noexcept { return clock_.wall_ns() / 1'000'000'000; }

  DiscovererConfig config_;
  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::condition_variable idle_;
  Lookups lookups_;
  std::deque<Job> queue_;
  core::LogLimiter log_limit_;
  std::uint64_t log_suppressed_ = 0;
  std::uint64_t trust_loaded_ = 0, trust_saved_ = 0, trust_save_failed_ = 0;  // under mutex_
  std::int64_t trust_saved_at_ = 0;  // Unix s; the run thread's only
  std::jthread thread_;  // last: started once everything above exists
};

}  // namespace overflowd::discovery

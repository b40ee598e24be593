// The suspicion policy's file (TOML, --policy FILE or [sampler] policy) and the list files it
// names, read into a policy::Policy; and the holder the pipeline reads the current policy from,
// with the reload function (a bad file keeps the old policy and says why) that a SIGHUP handler
// calls, and the refresh of lists that ask for one. The format: docs/manual.md, "Suspicion policy",
// and the commented example dist/config/policy.toml (`overflowd policy example` prints it).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/live.hpp"
#include "policy/policy.hpp"

namespace overflowd::app {

inline constexpr std::size_t kMaxPolicyBytes = 1 << 20;
inline constexpr std::size_t kMaxListBytes = 256u << 20;

// Reads a list file named by the policy: its text, or an error naming it.
using ListReader = std::function<std::expected<std::string, std::string>(const std::string& path)>;

// The policy in `text` (`name` stands for the file in messages, and its folder is where relative
// list paths start); list files are read through `read`. Never throws on any text.
[[nodiscard]] std::expected<policy::PolicySpec, std::string> parse_policy_text(std::string_view text,
                                                                              const std::string& name,
                                                                              const ListReader& read);
// Reads `path` and its lists from disk (regular files only, bounded) and builds the policy.
[[nodiscard]] std::expected<std::shared_ptr<const policy::Policy>, std::string> load_policy(const std::string& path);

// The commented example policy (dist/config/policy.toml, embedded at build time).
[[nodiscard]] std::string_view example_policy() noexcept;

// The policy the workers use, swapped whole on reload (a core::Live). Workers compare generation()
// with theirs once per batch and take current() when it moved.
class PolicyHolder {
public:
  using Loader = std::function<std::expected<std::shared_ptr<const policy::Policy>, std::string>(const std::string&)>;
  explicit PolicyHolder(std::string path, Loader loader = load_policy);

  // The first load: an error is the caller's to report (start-up fails).
  [[nodiscard]] std::expected<void, std::string> load();
  // Reads the file again. On success the new policy replaces the old one; on any error the old
  // policy stays and the message says why (the caller logs it).
  [[nodiscard]] std::expected<void, std::string> reload();
  // Reloads when a list's refresh interval has passed since the last load (monotonic seconds);
  // an error keeps the old policy, and the next try is one interval later.
  [[nodiscard]] std::expected<bool, std::string> refresh_if_due(double now_s);

  [[nodiscard]] std::shared_ptr<const policy::Policy> current() const { return live_.current(); }
  [[nodiscard]] std::uint64_t generation() const noexcept { return live_.generation(); }
  [[nodiscard]] std::uint64_t reloads_failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
  void schedule(const policy::Policy& p, double now_s);  // with mutex_ held
  std::string path_;
  Loader loader_;
  std::mutex mutex_;  // one reload at a time, and the refresh schedule
  core::Live<policy::Policy> live_{std::shared_ptr<const policy::Policy>{}};
  std::atomic<std::uint64_t> failed_{0};
  double next_refresh_s_ = -1;  // < 0: no list asks for a refresh
  double last_load_s_ = -1;
};

}  // namespace overflowd::app

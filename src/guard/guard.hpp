// The Guard: every report that leaves for the network passes it, one (report, destination address)
// pair at a time. It refuses, and counts by reason:
//   no_address        the flow has no such endpoint
//   report_port       a UDP flow to or from the report port (reports on reports would loop)
//   denied            the destination is in the operator's deny-list
//   opted_out         the destination's prefix asked not to get reports (the opt-out list)
//   special_purpose   an IANA special-purpose, multicast or reserved address not in the allow-list
//   duplicate         this flow (5-tuple and times) was already sent to this address lately
//   destination_table_full  too many destinations are mid-budget to track another one
//   per_destination_budget  the destination's token bucket is empty
//   global_budget     the global token bucket is empty
//   global_budget_reserved  an INFORMATIONAL report, and the global bucket holds no more than the
//                     share reserved for SUSPICIOUS ones (issue 16: they pass first under pressure)
// Deny and opt-out beat allow. Budgets are token buckets (rate per second, burst); a destination's
// bucket lives in a fixed-size set-associative table, and an entry is only ever replaced once its
// bucket has refilled to the full burst, which is exactly the state of a new entry: the table
// bounds memory without ever granting more than the budget. When every way of a set is mid-budget
// the report is refused (destination_table_full): the guard fails closed.
//
// Pure: no sockets, no clocks (the caller passes a monotonic time), no allocation after
// construction except in the recent-set's hash table, which is sized up front.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/report_port.hpp"
#include "core/counters.hpp"
#include "core/flow_record.hpp"
#include "guard/cidr.hpp"

namespace overflowd::guard {

#define OVERFLOWD_VERDICT_LIST(X)                       \
  X(admitted, "admitted")                               \
  X(no_address, "no_address")                           \
  X(report_port, "report_port")                         \
  X(denied, "denied")                                   \
  X(opted_out, "opted_out")                             \
  X(special_purpose, "special_purpose")                 \
  X(duplicate, "duplicate")                             \
  X(destination_table_full, "destination_table_full")   \
  X(per_destination_budget, "per_destination_budget")   \
  X(global_budget, "global_budget")                     \
  X(global_budget_reserved, "global_budget_reserved")

enum class Verdict : std::uint8_t {
#define OVERFLOWD_VERDICT_ENUM(name, text) name,
  OVERFLOWD_VERDICT_LIST(OVERFLOWD_VERDICT_ENUM)
#undef OVERFLOWD_VERDICT_ENUM
  count_
};
inline constexpr std::size_t kVerdictCount = static_cast<std::size_t>(Verdict::count_);

[[nodiscard]] const char* to_string(Verdict v) noexcept;

struct Budget {
  double per_second = 1;  // > 0
  double burst = 1;       // >= 1: tokens a full bucket holds
};

// A report's class: SUSPICIOUS ones (the suspicion policy boosted their flow) may use the share of
// the global budget reserved for them; every other budget and check is the same for both.
enum class Priority : std::uint8_t { informational, suspicious };

struct GuardConfig {
  std::optional<Budget> global = Budget{100, 100};        // nullopt: no global budget
  std::optional<Budget> per_destination = Budget{1, 3};   // nullopt: no per-destination budget
  // The share of the global bucket's burst that INFORMATIONAL reports may not use: they are
  // refused (global_budget_reserved) once the bucket holds fewer than 1 + share x burst tokens, so
  // under pressure they go first and SUSPICIOUS ones keep the rest. 0: no reservation (the sender
  // sets its [delivery] suspicious_share here when a suspicion policy is loaded).
  double suspicious_share = 0;  // [0, 1)
  std::size_t destination_table = 65536;  // entries (rounded up to a multiple of kWays)
  std::size_t recent = 65536;             // (flow, destination) pairs remembered for duplicates
  std::uint16_t report_port = core::kReportPort;
  std::vector<Cidr> allow;  // special-purpose blocks that may be targeted (tests: 127.0.0.0/8)
  std::vector<Cidr> deny;
  CidrSet opt_out;
};

struct GuardCounters {
  std::array<std::uint64_t, kVerdictCount> verdicts{};
  [[nodiscard]] std::uint64_t count(Verdict v) const noexcept { return verdicts[static_cast<std::size_t>(v)]; }
  [[nodiscard]] std::uint64_t suppressed() const noexcept;
  // "guard.admitted", "guard.suppressed.special_purpose", ... (non-zero ones, admitted always).
  void append_to(std::vector<core::NamedCount>& out) const;
};

class TokenBucket {
public:
  TokenBucket() = default;  // full
  // Tokens after refilling to `now_ns` (never more than the burst).
  [[nodiscard]] double available(const Budget& b, std::int64_t now_ns) const noexcept;
  [[nodiscard]] bool full(const Budget& b, std::int64_t now_ns) const noexcept { return available(b, now_ns) >= b.burst; }
  // Takes one token when there is one.
  bool take(const Budget& b, std::int64_t now_ns) noexcept;

private:
  double tokens_ = 0;
  std::int64_t last_ns_ = 0;
  bool started_ = false;  // a bucket that never gave a token is full
};

class Guard {
public:
  explicit Guard(GuardConfig config);

  // Decides whether the report on `flow` may go to `destination` (one of the flow's endpoints) at
  // `now_ns` (monotonic nanoseconds). An admitted pair has used its budget tokens and is
  // remembered as sent.
  [[nodiscard]] Verdict admit(const core::FlowRecord& flow, const core::IpAddress& destination, std::int64_t now_ns,
                              Priority priority = Priority::informational);

  [[nodiscard]] const GuardCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const GuardConfig& config() const noexcept { return config_; }

  // A reload (SIGHUP): the budgets, the suspicious share, the allow, deny and opt-out lists and the
  // report port become `next`'s. What the tables hold is kept (buckets mid-budget, recently sent
  // pairs), so a reload never refills a budget; their sizes stay as they were made.
  void reconfigure(const GuardConfig& next);

  static constexpr std::size_t kWays = 4;

private:
  struct Slot {
    core::IpAddress address;
    bool used = false;
    TokenBucket bucket;
  };
  [[nodiscard]] Verdict decide(const core::FlowRecord& flow, const core::IpAddress& destination, std::int64_t now_ns,
                               Priority priority);
  [[nodiscard]] std::uint64_t hash(const void* data, std::size_t size) const noexcept;
  [[nodiscard]] Slot* destination_slot(const core::IpAddress& destination, std::int64_t now_ns) noexcept;
  [[nodiscard]] std::uint64_t fingerprint(const core::FlowRecord& flow, const core::IpAddress& destination) const noexcept;
  void remember(std::uint64_t fp);

  GuardConfig config_;
  GuardCounters counters_;
  std::array<unsigned char, 16> hash_key_{};  // SipHash key, random per run: collisions unplannable
  TokenBucket global_;
  std::vector<Slot> slots_;
  std::size_t sets_ = 0;
  std::vector<std::uint64_t> recent_ring_;
  std::size_t recent_next_ = 0;
  std::unordered_set<std::uint64_t> recent_;
};

}  // namespace overflowd::guard

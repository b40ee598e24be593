// Discovery's decisions (docs/manual.md, "Discovery"), pure: which address gets a lookup, when,
// and what a lookup's answer is worth. The thread that does the lookups (net/discoverer.hpp) asks
// `want` on the sender's hot path, which never waits: it answers from the cache, or queues a lookup
// when the Guard's address checks, the discovery budget and the bound on lookups in flight allow.
// The answer comes back through `finish` (after `check_document` and `TofuTable::judge`).
// Time is passed in (Unix seconds for expiries, monotonic ns for the budget): tests drive it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/counters.hpp"
#include "core/ip_address.hpp"
#include "discovery/cache.hpp"
#include "discovery/names.hpp"
#include "guard/guard.hpp"

namespace overflowd::discovery {

enum class Mode : std::uint8_t { off, dns, http, https };
[[nodiscard]] const char* to_string(Mode m) noexcept;

struct LookupsConfig {
  Mode mode = Mode::off;
  std::uint16_t port = 0;                 // --discovery-port (http/https; 0: 80 or 443)
  guard::Budget budget{10, 10};           // --discovery-budget, --discovery-burst: lookups per second
  std::size_t cache = 10'000;             // --discovery-cache: entries
  std::size_t max_in_flight = 16;         // queued or running lookups at most
  // The Guard's address checks (deny, opt-out, special-purpose unless allowed); its budgets are not
  // used: lookups have their own.
  std::vector<guard::Cidr> allow, deny;
  guard::CidrSet opt_out;
};

// How a lookup ended: "discovery.lookups.<name>".
#define OVERFLOWD_LOOKUP_OUTCOMES(X)                                                          \
  X(ok, "ok")                         /* a usable key */                                      \
  X(no_record, "no_record")           /* no TXT record (NXDOMAIN or no data) */               \
  X(dns_error, "dns_error")           /* time-out, SERVFAIL, refused, ... */                  \
  X(bad_txt, "bad_txt")               /* the TXT is not a URL (names.hpp) */                  \
  X(url_refused, "url_refused")       /* the URL's host fails the Guard's address checks */   \
  X(http_error, "http_error")         /* connect, time-out, status other than 200 */          \
  X(too_large, "too_large")           /* the document is over kMaxDocumentBytes */            \
  X(bad_signature, "bad_signature")   /* not signed, or not by its own identity */            \
  X(bad_document, "bad_document")     /* a member missing or wrong, another service */        \
  X(expired, "expired")                                                                        \
  X(no_valid_key, "no_valid_key")     /* no encryption key valid now */                       \
  X(other_prefix, "other_prefix")     /* the document does not speak for the address */       \
  X(identity_changed, "identity_changed") /* another identity than first seen or pinned */

enum class Outcome : std::uint8_t {
#define OVERFLOWD_OUTCOME_ENUM(name, text) name,
  OVERFLOWD_LOOKUP_OUTCOMES(OVERFLOWD_OUTCOME_ENUM)
#undef OVERFLOWD_OUTCOME_ENUM
  count_
};
inline constexpr std::size_t kOutcomeCount = static_cast<std::size_t>(Outcome::count_);
[[nodiscard]] const char* to_string(Outcome o) noexcept;

inline constexpr std::size_t kMaxDocumentBytes = 64u << 10;

// Reads and checks a fetched document for `address` at `now_s`: signed by its own identity, not
// expired, a key valid now, speaking for the address. TOFU is the caller's (TofuTable).
[[nodiscard]] std::expected<Found, Outcome> check_document(std::span<const std::byte> raw,
                                                           const core::IpAddress& address, std::int64_t now_s);

// A lookup to do.
struct Job {
  std::string key;  // the cache's key: the zone prefix (dns) or the address (http, https)
  core::IpAddress address;
};

class Lookups {
public:
  explicit Lookups(LookupsConfig config);

  // The key to seal to for `address`, or none. Never waits; may hand back a lookup to start in `job`.
  [[nodiscard]] std::optional<report::X25519Public> want(const core::IpAddress& address, std::int64_t now_s,
                                                         std::int64_t now_ns, std::optional<Job>& job);
  // A lookup ended (also for a job that could not be queued after all: Outcome::dns_error etc.).
  void finish(const Job& job, std::expected<Found, Outcome> result, std::int64_t now_s);
  // Judges a found document's identity (trust on first use) for the prefix it speaks for (its
  // longest prefix holding the address: another document for that prefix, from any address, must
  // be signed by the same identity); `finish` takes the result.
  [[nodiscard]] std::expected<Found, Outcome> trust(const Job& job, Found found,
                                                    const std::optional<report::PublicKey>& pinned = std::nullopt,
                                                    std::int64_t now_s = 0);
  // The trust-on-first-use table (for --discovery-trust: loaded at start, saved when dirty).
  [[nodiscard]] TofuTable& tofu() noexcept { return tofu_; }
  [[nodiscard]] const TofuTable& tofu() const noexcept { return tofu_; }

  // The Guard's address checks alone: admitted, denied, opted_out or special_purpose.
  [[nodiscard]] guard::Verdict screen(const core::IpAddress& address) const noexcept;

  [[nodiscard]] std::string key_of(const core::IpAddress& address) const;
  [[nodiscard]] const LookupsConfig& config() const noexcept { return config_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
  [[nodiscard]] std::size_t cache_size() const noexcept { return cache_.size(); }
  [[nodiscard]] std::uint64_t started() const noexcept { return counts_.started; }
  [[nodiscard]] std::uint64_t outcome(Outcome o) const noexcept { return outcomes_[static_cast<std::size_t>(o)]; }
  // "discovery.lookups.started", "discovery.lookups.<outcome>", "discovery.cache.*",
  // "discovery.refused.<why>", "discovery.identity_changed".
  void append_counters(std::vector<core::NamedCount>& out) const;

private:
  LookupsConfig config_;
  KeyCache cache_;
  TofuTable tofu_;
  guard::TokenBucket bucket_;
  std::size_t in_flight_ = 0;
  std::array<std::uint64_t, kOutcomeCount> outcomes_{};
  struct {
    std::uint64_t started = 0, hits = 0, misses = 0, pending = 0, negative = 0, not_covered = 0;
    std::uint64_t denied = 0, opted_out = 0, special_purpose = 0, budget = 0, in_flight_full = 0;
    std::uint64_t max_cache = 0;
  } counts_;
};

}  // namespace overflowd::discovery

// Delivery to the flow's endpoints (opt-in): for each report, each target address (the flow's
// source, destination or both) goes through the Guard (guard/guard.hpp); an admitted address gets
// the report over every enabled transport (UDP, HTTP, HTTPS). One Guard decision covers all
// transports: a budget token is one report to one address.
//
// Thread-safe: pipeline workers share one DeliverySink, and its Guard (with the global and
// per-destination budgets) and transports are used under one lock, so the budgets hold for the
// whole process however many workers there are. Reports are few (the sampler picks them), so the
// lock is not on the hot path.
//
// IPv4-mapped IPv6 endpoints (::ffff:a.b.c.d) are delivered to as the IPv4 addresses they are.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/live.hpp"
#include "discovery/net/discoverer.hpp"
#include "guard/guard.hpp"
#include "report/peer_keys.hpp"
#include "sink/http_sender.hpp"
#include "sink/sink.hpp"
#include "sink/udp_sender.hpp"

namespace overflowd::sink {

enum class DeliverTo : std::uint8_t { src, dst, both };

// The encryption mode (docs/manual.md, "Encryption"): off sends reports as signed; auto seals to
// an endpoint whose key is known and sends plain otherwise; require never sends plain.
enum class Encrypt : std::uint8_t { off, auto_, require };

struct EncryptionConfig {
  Encrypt mode = Encrypt::off;
  std::string peer_keys_path;  // --peer-keys: CIDR x25519-hex [identity-hex] per line
  report::KeyPair signing;     // re-signs each sealed report with its recipient (set by the run command)
  // Key discovery (--discovery off|dns|http|https): after the pinned keys; its address checks are
  // the Guard's (allow, deny, opt-out: copied from DeliveryConfig::guard by open()).
  discovery::DiscovererConfig discovery;
};

// --rotation over UDP (docs/manual.md, "Rotation over UDP"): a report whose datagram would pass
// the UDP cap because of its metadata.rotation goes over UDP without it (signed again), and that
// endpoint gets the statement itself as a datagram of its own, at most once per
// kStatementInterval (the receiver needs it once per key). HTTP(S) gets the report as it is.
struct RotationDelivery {
  std::string statement;         // as rotate-key wrote it (canonical JSON); empty: no rotation
  report::KeyPair signing;       // the key the reports are signed with (--key)
};

struct DeliveryConfig {
  bool udp = false;
  bool http = false;
  bool https = false;
  DeliverTo to = DeliverTo::both;
  guard::GuardConfig guard;
  UdpSenderConfig udp_sender;
  HttpSenderConfig http_sender;  // its http/https flags are set from the ones above
  EncryptionConfig encryption;
  RotationDelivery rotation;
  [[nodiscard]] bool any() const noexcept { return udp || http || https; }
};

// What a reload (SIGHUP) may change while workers deliver: the Guard's budgets and lists and which
// endpoints get reports. The transports, their ports and the encryption mode are fixed at start.
struct DeliveryLive {
  DeliverTo to = DeliverTo::both;
  guard::GuardConfig guard;
};

// One report's delivery, split in three steps so that the signing pool (app/signing_pool.hpp) can
// seal on its threads (issue 17): DeliverySink::plan (the Guard and the keys, in input order),
// DeliverySink::seal (a signature with the recipient and the box per target; any thread), then
// DeliverySink::write_planned (the counters and the transports, in input order).
struct DeliveryPlan {
  enum class How : std::uint8_t { plain, sealed, skip };
  struct Target {
    core::IpAddress address;
    std::optional<report::X25519Public> key;  // set: to be sealed to this key
    How how = How::plain;
    report::SignedReport sealed;  // seal()'s result when how == sealed
  };
  std::array<Target, 2> targets{};
  std::size_t count = 0;  // admitted targets, in targets[0..count)
  [[nodiscard]] bool needs_seal() const noexcept {
    for (std::size_t i = 0; i < count; ++i)
      if (targets[i].key) return true;
    return false;
  }
};

class DeliverySink final : public Sink {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<DeliverySink>, std::string> open(const DeliveryConfig& config);
  // For tests and benchmarks: any transports, e.g. fakes that record what they are given.
  DeliverySink(const DeliveryConfig& config, std::vector<std::unique_ptr<Transport>> transports);

  void write(const core::FlowRecord& flow, const report::SignedReport& report) override;
  // The three steps of write() (DeliveryPlan), for the signing pool: only worth it when sealing
  // (sealing() is true). plan() and write_planned() are called in input order; seal() on any thread
  // with any signer of the sealing key (sealing_keys()), `message` the report's unsigned message.
  [[nodiscard]] bool sealing() const noexcept { return encrypt_ != Encrypt::off; }
  [[nodiscard]] const report::KeyPair& sealing_keys() const noexcept { return sealing_keys_; }
  void plan(const core::FlowRecord& flow, bool suspicious, std::int64_t now_ns, DeliveryPlan& out);
  void seal(std::string_view message, report::Signer& signer, DeliveryPlan& plan) const;
  void write_planned(const report::SignedReport& report, const DeliveryPlan& plan);
  // The same at a given monotonic time (tests).
  void write_at(const core::FlowRecord& flow, const report::SignedReport& report, std::int64_t now_ns);
  void flush() override;
  void append_counters(std::vector<core::NamedCount>& out) const override;
  // Not while workers run (tests).
  [[nodiscard]] const guard::Guard& guard() const noexcept { return guard_; }
  // A reload: the next write (on any worker) takes `next` whole (core::Live: one atomic load per
  // write until then). The Guard keeps its buckets and recent pairs (Guard::reconfigure).
  void update(DeliveryLive next) { live_.publish(std::move(next)); }
  [[nodiscard]] std::uint64_t updates_applied() const;
  // Reports waiting in the transports' queues (the HTTP(S) sender's), for metrics.
  [[nodiscard]] std::size_t queue_depth() const;
  // Signatures this sink made (sealed reports signed again with their recipient), for tests.
  [[nodiscard]] std::uint64_t signatures() const noexcept { return encrypt_counts_.signatures; }
  // An endpoint gets the rotation statement datagram at most this often (monotonic ns).
  static constexpr std::int64_t kStatementInterval = std::int64_t{3600} * 1'000'000'000;
  static constexpr std::size_t kStatementSlots = 4096;  // endpoints remembered (direct-mapped)
  // The pinned keys (--peer-keys), for open() and tests.
  void set_peer_keys(report::PeerKeys keys) { peer_keys_ = std::move(keys); }
  // Key discovery, for open() and tests.
  void set_discoverer(std::unique_ptr<discovery::Discoverer> d) { discoverer_ = std::move(d); }

private:
  mutable std::mutex mutex_;
  DeliverTo to_;
  void plan_locked(const core::FlowRecord& flow, bool suspicious, std::int64_t now_ns, DeliveryPlan& out);
  void send_locked(const report::SignedReport& report, const DeliveryPlan& plan, std::int64_t now_ns);
  // Over a datagram transport: `sent` (the report as prepared for `address`) when it fits the cap
  // or carries no rotation; else the same without metadata.rotation, signed (and sealed) again.
  const report::SignedReport& fit_datagram(const core::IpAddress& address, const report::X25519Public* key,
                                           const report::SignedReport& report, const report::SignedReport& sent,
                                           bool& stripped);
  // Whether `address` is due the statement datagram now (and marks it sent).
  bool statement_due(const core::IpAddress& address, std::int64_t now_ns);
  // The key for `address`: pinned first, then discovered (never waits; may queue a lookup).
  std::optional<report::X25519Public> key_for(const core::IpAddress& address, std::int64_t now_ns, bool& pinned);

  guard::Guard guard_;
  core::Live<DeliveryLive> live_;
  core::LiveView<DeliveryLive> view_;  // read under mutex_
  std::uint64_t updates_applied_ = 0;
  std::vector<std::unique_ptr<Transport>> transports_;
  Encrypt encrypt_ = Encrypt::off;
  report::PeerKeys peer_keys_;
  std::unique_ptr<discovery::Discoverer> discoverer_;
  report::KeyPair sealing_keys_;
  std::optional<report::Signer> signer_;
  std::string message_;
  DeliveryPlan plan_;  // write()'s, reused
  // Which sealed forms to make: the binary datagram for UDP, the JSON envelope for HTTP(S) (both
  // when the transports are not known: tests' fakes).
  bool seal_datagram_ = true, seal_json_ = true;
  struct {
    std::uint64_t sealed = 0, plain = 0, no_key = 0, pinned = 0, discovered = 0;
    std::uint64_t signatures = 0;  // made here: one per sealed (report, endpoint), with its recipient
  } encrypt_counts_;
  // --rotation over UDP.
  std::string statement_;
  std::optional<report::Signer> rotation_signer_;
  std::string stripped_message_;
  report::SignedReport stripped_, stripped_sealed_;
  struct StatementSlot {
    std::uint64_t hash = 0;
    std::int64_t sent_ns = 0;
    bool used = false;
  };
  std::vector<StatementSlot> statement_slots_;
  struct {
    std::uint64_t left_out = 0, statements = 0, statement_failed = 0;
  } rotation_counts_;
  bool finished_ = false;
};

}  // namespace overflowd::sink

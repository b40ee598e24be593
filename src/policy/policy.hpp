// The suspicion policy: rules that raise a flow's chance of being reported, with the reasons a
// reader can act on. Pure and immutable once built (Policy::build); what changes per flow (the
// per-destination volume sketch) lives in a PolicyState, one per worker.
//
// A rule matches when every condition it names holds (AND); a list of values within one
// condition matches when any does (OR). Conditions:
//   src_list / dst_list       the address is in one of the named lists (list files or built-ins)
//   src_cidr / dst_cidr       ... or in one of these prefixes
//   src_special / dst_special the address is in the IANA special-purpose registries (guard/)
//   protocol                  IP protocol numbers
//   src_port / dst_port       port sets: numbers, "lo-hi" ranges, or "amplification"
//   tcp_flags_set / _unset    TCP flags all set / all clear (SYN without ACK: set S, unset A)
//   bytes_per_packet          [min, max] of bcount / pcount
//   exporter / input          the exporting device and the ingress interface index
//   spoofed                   uRPF-lite says the source is spoofed (see Urpf)
//   dst_pps / dst_bps / dst_sources   the destination's volume over the window exceeds this
// and gives a multiplier (p = min(1, base x multiplier), multiplier capped by max_multiplier) or a
// fixed probability (p = max(base, probability), capped by max_probability), and a class.
//
// Combining: `combine = "max"` (the default) evaluates every rule, takes the largest resulting
// probability, and lists every matching rule as a reason; `combine = "first"` stops at the first
// matching rule in file order, which alone decides and is the only reason.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow_record.hpp"
#include "guard/cidr.hpp"
#include "policy/prefix_table.hpp"
#include "policy/volume.hpp"

namespace overflowd::policy {

// The reasons' classes (metadata.reasons[].class).
#define OVERFLOWD_REASON_LIST(X)             \
  X(spoofed_source, "spoofed-source")        \
  X(bogon_source, "bogon-source")            \
  X(listed_source, "listed-source")          \
  X(reflection_trigger, "reflection-trigger") \
  X(reflection_response, "reflection-response") \
  X(syn_flood, "syn-flood")                  \
  X(volumetric, "volumetric")

enum class ReasonClass : std::uint8_t {
#define OVERFLOWD_REASON_ENUM(name, text) name,
  OVERFLOWD_REASON_LIST(OVERFLOWD_REASON_ENUM)
#undef OVERFLOWD_REASON_ENUM
};
[[nodiscard]] const char* to_string(ReasonClass c) noexcept;
[[nodiscard]] std::optional<ReasonClass> parse_reason_class(std::string_view text) noexcept;

// The built-in `amplification` port set: UDP services that answer a small request with a large
// reply (US-CERT TA14-017A and later reflection vectors).
[[nodiscard]] std::span<const std::uint16_t> amplification_ports() noexcept;

enum class Combine : std::uint8_t { max, first };
enum class InterfaceRole : std::uint8_t { customer, peer, transit };
[[nodiscard]] std::optional<InterfaceRole> parse_interface_role(std::string_view text) noexcept;
[[nodiscard]] const char* to_string(InterfaceRole r) noexcept;

// ---- What a policy file says (filled by app/policy_file.cpp, checked by Policy::build) ----

struct ListSpec {
  std::string name;
  std::string file;            // empty for a built-in
  std::string format = "plain";
  double refresh_s = 0;        // 0: read once (and on reload)
  std::vector<guard::Cidr> prefixes;  // as loaded
};

struct PortRange {
  std::uint16_t lo = 0, hi = 0;
};

struct RuleSpec {
  std::string name;
  ReasonClass reason = ReasonClass::listed_source;
  std::optional<double> multiplier;   // > 1
  std::optional<double> probability;  // in (0, 1]
  std::vector<std::string> src_list, dst_list;
  std::vector<guard::Cidr> src_cidr, dst_cidr;
  std::optional<bool> src_special, dst_special;
  std::vector<std::uint8_t> protocol;
  std::vector<PortRange> src_port, dst_port;
  std::uint8_t tcp_flags_set = 0, tcp_flags_unset = 0;
  std::optional<double> bytes_per_packet_min, bytes_per_packet_max;
  std::vector<core::IpAddress> exporter;
  std::vector<std::uint32_t> input;
  std::optional<bool> spoofed;
  std::optional<double> dst_pps, dst_bps, dst_sources;
};

struct InterfaceSpec {
  core::IpAddress exporter;
  std::uint32_t index = 0;
  InterfaceRole role = InterfaceRole::customer;
  std::vector<guard::Cidr> allowed;  // customer: the source prefixes allowed in on it
};

struct PolicySpec {
  Combine combine = Combine::max;
  double max_multiplier = 100;   // >= 1
  double max_probability = 1;    // in (0, 1]
  std::vector<ListSpec> lists;
  std::vector<RuleSpec> rules;
  // uRPF-lite
  std::vector<guard::Cidr> own_prefixes;
  std::vector<InterfaceSpec> interfaces;
  VolumeConfig volume;
};

inline constexpr std::size_t kMaxRules = 256;
// The standard error the distinct-sources estimate may have at the smallest dst_sources threshold
// (relative): it sets the pair sample (volume.hpp).
inline constexpr double kSourcesError = 0.03;

// ---- What a flow gets ----

struct Reason {
  ReasonClass reason;
  std::string_view rule;  // into the Policy: valid while it lives
  std::string_view list;  // the list (or "cidr", "special-purpose") that matched; may be empty
};

struct Decision {
  bool suspicious = false;
  double multiplier = 1;                  // applied to the base probability
  double probability = 0;                 // a floor: p = max(base x multiplier, probability)
  std::vector<Reason> reasons;            // reserved to the rule count once: no allocation per flow
};

// uRPF-lite's verdict on a flow's source, given its exporter and ingress interface.
enum class UrpfVerdict : std::uint8_t { unknown, ok, spoofed };

class PolicyState;

class Policy {
public:
  // Checks the spec (names, ranges, lists referenced) and compiles it; the error says what is wrong.
  [[nodiscard]] static std::expected<std::shared_ptr<const Policy>, std::string> build(PolicySpec spec);

  // Fills `out` (cleared first) for `flow` at `now_ns` (monotonic; for the volume window):
  // observe() then decide().
  void evaluate(const core::FlowRecord& flow, PolicyState& state, std::int64_t now_ns, Decision& out) const;
  // Counts `flow` into the per-destination volume (when a rule uses it): every flow must be
  // observed, reported or not, for the volume to be true.
  void observe(const core::FlowRecord& flow, PolicyState& state, std::int64_t now_ns) const noexcept;
  // observe() for each of `flows`, pipelined: the cells of the flows it counts are prefetched now
  // and counted at the next observe_batch() or observe() (a datagram later, when the cache lines
  // have arrived), so for decide(..., index) the volume is the destination's as the batches before
  // this one left it (a lag of one batch: a datagram's flows, against a window of seconds).
  // (It is a BatchObserver's loop over `flows`: the pipeline makes the observer itself and adds
  // each flow in its own loop over the batch, the sampler's.)
  void observe_batch(std::span<const core::FlowRecord> flows, PolicyState& state, std::int64_t now_ns) const;
  // The rules on `flow`, with the volume of its destination as the last observe() left it, or
  // (index given) as observe_batch() left it for flows[index].
  void decide(const core::FlowRecord& flow, const PolicyState& state, Decision& out,
              std::size_t index = SIZE_MAX) const;

  // The probability `flow` gets: base (the sampler's) raised as `d` says, capped.
  [[nodiscard]] double boosted(double base, const Decision& d) const noexcept;
  // The most boosted() can give any flow with this base: the sampler draws first and calls
  // decide() only when the draw is below it (decide() is then needed; otherwise the flow is not
  // reported whatever the rules say, and the result is exact: P(draw < boosted) = boosted).
  // (top_multiplier_ >= 1, so base x top_multiplier_ >= base. Not capped at 1: the sampler takes
  // a ceiling of 1 or more as "always decide", so a cap would cost a flow a comparison for nothing.)
  // (Written as x86's maxsd reads, c > floor ? c : floor: both members are then read by the
  // instructions that use them, not first loaded into registers; docs/benchmarks.md.)
  [[nodiscard]] double ceiling(double base) const noexcept {
    const double c = base * top_multiplier_;
    return c > top_probability_ ? c : top_probability_;
  }

  [[nodiscard]] UrpfVerdict urpf(const core::FlowRecord& flow) const noexcept;

  [[nodiscard]] const PolicySpec& spec() const noexcept { return spec_; }
  [[nodiscard]] bool uses_volume() const noexcept { return uses_volume_; }
  [[nodiscard]] std::size_t table_ranges() const noexcept { return table_.ranges(); }
  // What `policy check` prints: lists with sizes, rules, interfaces.
  [[nodiscard]] std::string describe() const;

private:
  struct Rule;
  Policy() = default;
  [[nodiscard]] [[gnu::always_inline]] inline bool match(const Rule& r, const core::FlowRecord& f, std::uint64_t src_sets, std::uint64_t dst_sets,
                           UrpfVerdict urpf, const VolumeEstimate* volume, Reason& reason) const noexcept;

  PolicySpec spec_;
  std::vector<Rule> rules_;
  PrefixTable table_;                     // every list and rule CIDR set, one bit each
  std::vector<std::string> set_names_;    // bit -> list name ("cidr" for a rule's own prefixes)
  std::uint64_t special_bit_ = 0;         // the built-in special-purpose set
  std::uint64_t own_bit_ = 0;             // uRPF-lite: my own prefixes
  bool uses_src_sets_ = false, uses_dst_sets_ = false, uses_urpf_ = false, uses_volume_ = false;
  double top_multiplier_ = 1, top_probability_ = 0;  // the largest any rule gives, capped
  struct Interface {
    core::IpAddress exporter;
    std::uint32_t index;
    InterfaceRole role;
    std::vector<guard::Cidr> allowed;
  };
  std::vector<Interface> interfaces_;     // sorted by (exporter, index)
  friend class PolicyState;
};

// Per-worker mutable state: the volume sketch (made when the policy uses volume).
class PolicyState {
public:
  explicit PolicyState(const Policy& policy);
  // Re-fits the state to a reloaded policy (keeps the sketch when its shape is unchanged).
  void adopt(const Policy& policy);
  [[nodiscard]] VolumeSketch* volume() noexcept { return volume_.get(); }

private:
  friend class Policy;
  std::unique_ptr<VolumeSketch> volume_;
  VolumeEstimate last_{};   // the last observed flow's destination
  bool observed_ = false;
  bool batched_ = false;    // observe_batch() ran: decide(..., index) estimates at batch_now_
  std::int64_t batch_now_ = 0;
  // The last batch's flows to count (their cells prefetched), written by index into arrays sized
  // at begin_batch() (no push_back call a flow): those taken for their packets, then the sampled pairs.
  struct PacketTake {
    std::uint64_t dst = 0;                 // the destination's key
    std::uint64_t packets = 0, bytes = 0;  // scaled by the sampling interval
    double weight = 1;
  };
  struct PairTake {
    std::uint64_t dst = 0;  // the destination's key
    std::size_t bit = 0;    // the pair's bit
  };
  std::vector<PacketTake> packet_takes_;
  std::vector<PairTake> pair_takes_;
  std::size_t pending_packets_ = 0, pending_pairs_ = 0;
  std::vector<std::uint32_t> index_, pair_index_, bits_;  // a BatchObserver's selections (scratch)
  void count_pending() noexcept {
    if (pending_packets_ | pending_pairs_) count_taken();  // a call only when the last batch took flows
  }
  void count_taken() noexcept;
  // A BatchObserver's parts: at the start, the batch before counted and the window moved, then the
  // selector's start (selecting nothing without a volume rule); at the end, the selected flows'
  // cells prefetched and kept to count at the next batch. begin_batch() is inline, its calls made
  // only when there is work (the last batch's flows to count, a new epoch, spent gaps, a larger
  // batch): the Selector is then built in the caller's registers, not returned through memory.
  friend class BatchObserver;
  [[nodiscard]] VolumeSketch::Selector begin_batch(std::span<const core::FlowRecord> flows, std::int64_t now_ns) {
    observed_ = false;
    batched_ = false;
    VolumeSketch* const v = volume_.get();
    if (!v) [[unlikely]] return {};
    // The previous batch's counted flows first: their cells were prefetched a datagram ago (its
    // decoding and sampling since), so counting them no longer waits on memory.
    count_pending();
    v->advance(now_ns);
    if (index_.size() < flows.size()) [[unlikely]] grow(flows.size());
    batched_ = true;  // decide(..., index): as the batches before this one left the volume
    batch_now_ = now_ns;
    return v->begin_selection(index_.data(), pair_index_.data(), bits_.data());
  }
  void grow(std::size_t flows);  // the selections' arrays sized for a batch of `flows` (end_batch() writes without allocating)
  void end_batch(std::span<const core::FlowRecord> flows, std::size_t taken, std::size_t paired, std::int64_t gap,
                 std::uint64_t spent) noexcept;
};

// observe_batch() flow by flow, inside the caller's own loop over the batch (the pipeline's: the
// sampler's loop, where each flow's fields are already loaded, so the volume costs no second pass):
//   BatchObserver seen(policy, flows, state, now);  // the batch before counted, the window moved
//   for each i: seen.add(flows[i], i); ... policy.decide(flows[i], state, decision, i) ...
//   seen.finish();  // (or its destructor) the selected flows' cells prefetched, counted next batch
// decide(..., i) in the loop sees the volume as the batches before this one left it, as after
// observe_batch(). `flows` must stay as it is until finish().
class BatchObserver {
public:
  BatchObserver(const Policy& policy, std::span<const core::FlowRecord> flows, PolicyState& state,
                std::int64_t now_ns)
      : state_(state), flows_(flows), selector_(start(policy, flows, state, now_ns)) {}
  BatchObserver(const BatchObserver&) = delete;
  BatchObserver& operator=(const BatchObserver&) = delete;
  ~BatchObserver() { finish(); }
  // Flow `i` of the batch, in order: counted (its packets, its pair) or skipped, as the sketch's
  // samples say.
  void add(const core::FlowRecord& flow, std::size_t i) noexcept { selector_.add(flow, static_cast<std::uint32_t>(i)); }
  void finish() noexcept {
    if (!selector_.active()) return;
    state_.end_batch(flows_, selector_.taken(), selector_.paired(), selector_.gap(), selector_.spent());
    selector_ = VolumeSketch::Selector();
  }

private:
  // Without a volume rule nothing is selected, and no call made (the pipeline makes one observer a datagram).
  static VolumeSketch::Selector start(const Policy& policy, std::span<const core::FlowRecord> flows, PolicyState& state,
                                      std::int64_t now_ns) {
    if (policy.uses_volume()) return state.begin_batch(flows, now_ns);
    state.observed_ = false;
    state.batched_ = false;
    return {};
  }
  PolicyState& state_;
  std::span<const core::FlowRecord> flows_;
  VolumeSketch::Selector selector_;  // selects nothing without a volume rule
};

}  // namespace overflowd::policy

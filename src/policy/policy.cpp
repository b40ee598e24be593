#include "policy/policy.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include <fmt/format.h>

#include "guard/special_purpose.hpp"
#include "policy/lists.hpp"

namespace overflowd::policy {

const char* to_string(ReasonClass c) noexcept {
  switch (c) {
#define OVERFLOWD_REASON_CASE(name, text) \
  case ReasonClass::name:                 \
    return text;
    OVERFLOWD_REASON_LIST(OVERFLOWD_REASON_CASE)
#undef OVERFLOWD_REASON_CASE
  }
  return "unknown";
}

std::optional<ReasonClass> parse_reason_class(std::string_view text) noexcept {
#define OVERFLOWD_REASON_PARSE(name, str) \
  if (text == str) return ReasonClass::name;
  OVERFLOWD_REASON_LIST(OVERFLOWD_REASON_PARSE)
#undef OVERFLOWD_REASON_PARSE
  return std::nullopt;
}

std::span<const std::uint16_t> amplification_ports() noexcept {
  // chargen 19, QOTD 17, DNS 53, portmap 111, NTP 123, NetBIOS 137, SNMP 161, CLDAP 389,
  // RIPv1 520, OpenVPN 1194, SSDP 1900, ARMS 3283, WS-Discovery 3702, mDNS 5353, Ubiquiti 10001,
  // memcached 11211, TFTP 69, Apple Remote Desktop 3283, CoAP 5683, Steam 27015, Quake 27960.
  static constexpr std::uint16_t kPorts[] = {17,   19,   53,   69,   111,  123,   137,   161,   389,  520,
                                             1194, 1900, 3283, 3702, 5353, 5683, 10001, 11211, 27015, 27960};
  return kPorts;
}

std::optional<InterfaceRole> parse_interface_role(std::string_view text) noexcept {
  if (text == "customer") return InterfaceRole::customer;
  if (text == "peer") return InterfaceRole::peer;
  if (text == "transit") return InterfaceRole::transit;
  return std::nullopt;
}

const char* to_string(InterfaceRole r) noexcept {
  switch (r) {
    case InterfaceRole::customer:
      return "customer";
    case InterfaceRole::peer:
      return "peer";
    case InterfaceRole::transit:
      return "transit";
  }
  return "unknown";
}

struct Policy::Rule {
  std::size_t spec = 0;  // index into spec_.rules
  std::uint64_t src_sets = 0, dst_sets = 0;  // any of these (0: no condition)
  std::optional<bool> src_special, dst_special;
  std::array<std::uint64_t, 4> protocols{};
  bool has_protocol = false;
  std::vector<std::uint64_t> src_ports, dst_ports;  // 65,536-bit maps; empty: any port
  std::uint8_t flags_set = 0, flags_unset = 0;
  std::optional<double> bpp_min, bpp_max;
  std::vector<core::IpAddress> exporters;  // sorted
  std::vector<std::uint32_t> inputs;       // sorted
  std::optional<bool> spoofed;
  std::optional<double> dst_pps, dst_bps, dst_sources;
  bool volume = false;
  double multiplier = 1, probability = 0;
  ReasonClass reason = ReasonClass::listed_source;
};

namespace {
std::vector<std::uint64_t> port_map(const std::vector<PortRange>& ranges) {
  if (ranges.empty()) return {};
  std::vector<std::uint64_t> map(1024, 0);
  for (const auto& r : ranges)
    for (std::uint32_t p = r.lo; p <= r.hi; ++p) map[p / 64] |= std::uint64_t{1} << (p % 64);
  return map;
}
bool in_ports(const std::vector<std::uint64_t>& map, std::uint16_t port) noexcept {
  return map.empty() || (map[port / 64u] >> (port % 64u)) & 1u;
}
bool cidrs_contain(const std::vector<guard::Cidr>& list, const core::IpAddress& a) noexcept {
  return std::any_of(list.begin(), list.end(), [&](const guard::Cidr& c) { return c.contains(a); });
}
}  // namespace

std::expected<std::shared_ptr<const Policy>, std::string> Policy::build(PolicySpec spec) {
  auto fail = [](std::string what) { return std::unexpected(std::move(what)); };
  if (!(spec.max_multiplier >= 1 && spec.max_multiplier <= 1e9)) return fail("max_multiplier must be a number from 1 to 1e9");
  if (!(spec.max_probability > 0 && spec.max_probability <= 1)) return fail("max_probability must be in (0, 1]");
  if (spec.rules.size() > kMaxRules) return fail("more than " + std::to_string(kMaxRules) + " rules");
  if (!(spec.volume.window_s > 0 && spec.volume.window_s <= 3600)) return fail("volume.window must be 0 to 3600 seconds (not 0)");
  if (spec.volume.width < 64 || spec.volume.width > (1u << 24)) return fail("volume.width must be 64 to 16777216");
  if (spec.volume.depth < 1 || spec.volume.depth > 8) return fail("volume.depth must be 1 to 8");
  if (spec.volume.pair_bits < 4096 || spec.volume.pair_bits > (std::size_t{1} << 32))
    return fail("volume.pair_bits must be 4096 to 4294967296");

  std::shared_ptr<Policy> p(new Policy());
  p->spec_ = std::move(spec);
  const PolicySpec& s = p->spec_;
  unsigned next_bit = 0;
  auto new_set = [&](std::string name) -> std::expected<unsigned, std::string> {
    if (next_bit == PrefixTable::kMaxSets)
      return std::unexpected("more than 64 address sets (lists, rule prefixes, built-ins): merge some lists");
    p->set_names_.push_back(std::move(name));
    return next_bit++;
  };
  // Lists, by name.
  std::vector<std::pair<std::string, unsigned>> list_bits;
  for (const ListSpec& l : s.lists) {
    if (l.name.empty()) return fail("a list without a name");
    if (l.name == "special-purpose") return fail("list '" + l.name + "': the name is built in");
    for (const auto& [n, b] : list_bits)
      if (n == l.name) return fail("list '" + l.name + "' is defined twice");
    auto bit = new_set(l.name);
    if (!bit) return fail(bit.error());
    for (const auto& c : l.prefixes) p->table_.add(c, *bit);
    list_bits.push_back({l.name, *bit});
  }
  auto special_needed = std::any_of(s.rules.begin(), s.rules.end(), [](const RuleSpec& r) {
    return r.src_special.has_value() || r.dst_special.has_value() ||
           std::count(r.src_list.begin(), r.src_list.end(), "special-purpose") ||
           std::count(r.dst_list.begin(), r.dst_list.end(), "special-purpose");
  });
  if (special_needed) {
    auto bit = new_set("special-purpose");
    if (!bit) return fail(bit.error());
    for (const auto& range : guard::special_purpose_ranges()) p->table_.add(range.cidr, *bit);
    p->special_bit_ = std::uint64_t{1} << *bit;
    list_bits.push_back({"special-purpose", *bit});
  }
  if (!s.own_prefixes.empty()) {
    auto bit = new_set("own");
    if (!bit) return fail(bit.error());
    for (const auto& c : s.own_prefixes) p->table_.add(c, *bit);
    p->own_bit_ = std::uint64_t{1} << *bit;
  }
  // Interfaces.
  for (const InterfaceSpec& i : s.interfaces) {
    if (i.exporter.empty()) return fail("an interface without an exporter address");
    for (const auto& o : p->interfaces_)
      if (o.exporter == i.exporter && o.index == i.index)
        return fail("interface " + std::to_string(i.index) + " of " + i.exporter.to_string() + " is declared twice");
    if (i.role != InterfaceRole::customer && !i.allowed.empty())
      return fail("interface " + std::to_string(i.index) + " of " + i.exporter.to_string() +
                  ": allowed prefixes are for customer interfaces only");
    p->interfaces_.push_back({i.exporter, i.index, i.role, i.allowed});
  }
  std::sort(p->interfaces_.begin(), p->interfaces_.end(),
            [](const Interface& a, const Interface& b) { return std::tie(a.exporter, a.index) < std::tie(b.exporter, b.index); });

  // Rules.
  for (std::size_t k = 0; k < s.rules.size(); ++k) {
    const RuleSpec& r = s.rules[k];
    const std::string name = r.name.empty() ? "rule " + std::to_string(k + 1) : "rule '" + r.name + "'";
    if (r.name.empty()) return fail(name + ": needs a name (reports carry it)");
    for (std::size_t j = 0; j < k; ++j)
      if (s.rules[j].name == r.name) return fail(name + " is defined twice");
    if (r.multiplier.has_value() == r.probability.has_value())
      return fail(name + ": give exactly one of multiplier and probability");
    if (r.multiplier && !(*r.multiplier >= 1 && *r.multiplier <= 1e9)) return fail(name + ": multiplier must be from 1 to 1e9");
    if (r.probability && !(*r.probability > 0 && *r.probability <= 1)) return fail(name + ": probability must be in (0, 1]");
    Rule c;
    c.spec = k;
    c.reason = r.reason;
    c.multiplier = r.multiplier.value_or(1);
    c.probability = r.probability.value_or(0);
    for (auto [names, cidrs, into, side] : {std::tuple{&r.src_list, &r.src_cidr, &c.src_sets, "src"},
                                           std::tuple{&r.dst_list, &r.dst_cidr, &c.dst_sets, "dst"}}) {
      for (const std::string& n : *names) {
        const auto it = std::find_if(list_bits.begin(), list_bits.end(), [&](const auto& lb) { return lb.first == n; });
        if (it == list_bits.end()) return fail(name + ": " + side + "_list names '" + n + "', which is not a [lists] entry");
        *into |= std::uint64_t{1} << it->second;
      }
      if (!cidrs->empty()) {
        auto bit = new_set(r.name + "." + side + "_cidr");
        if (!bit) return fail(bit.error());
        for (const auto& cidr : *cidrs) p->table_.add(cidr, *bit);
        *into |= std::uint64_t{1} << *bit;
      }
    }
    c.src_special = r.src_special;
    c.dst_special = r.dst_special;
    for (std::uint8_t proto : r.protocol) c.protocols[proto / 64u] |= std::uint64_t{1} << (proto % 64u);
    c.has_protocol = !r.protocol.empty();
    if (r.src_port.size() > 1024 || r.dst_port.size() > 1024) return fail(name + ": more than 1024 port ranges");
    for (const auto& pr : r.src_port) if (pr.lo > pr.hi) return fail(name + ": a port range runs backwards");
    for (const auto& pr : r.dst_port) if (pr.lo > pr.hi) return fail(name + ": a port range runs backwards");
    c.src_ports = port_map(r.src_port);
    c.dst_ports = port_map(r.dst_port);
    c.flags_set = r.tcp_flags_set;
    c.flags_unset = r.tcp_flags_unset;
    if (c.flags_set & c.flags_unset) return fail(name + ": a TCP flag cannot be both set and unset");
    c.bpp_min = r.bytes_per_packet_min;
    c.bpp_max = r.bytes_per_packet_max;
    c.exporters = r.exporter;
    std::sort(c.exporters.begin(), c.exporters.end());
    c.inputs = r.input;
    std::sort(c.inputs.begin(), c.inputs.end());
    c.spoofed = r.spoofed;
    if (c.spoofed && p->interfaces_.empty())
      return fail(name + ": spoofed needs [[urpf.interface]] declarations");
    c.dst_pps = r.dst_pps;
    c.dst_bps = r.dst_bps;
    c.dst_sources = r.dst_sources;
    for (auto v : {r.dst_pps, r.dst_bps, r.dst_sources})
      if (v && !(*v > 0)) return fail(name + ": dst_pps, dst_bps and dst_sources must be positive");
    // The sketch's packet and source counters hold up to 2^32 - 1 per window.
    if ((r.dst_pps && *r.dst_pps * s.volume.window_s >= 4e9) || (r.dst_sources && *r.dst_sources >= 4e9))
      return fail(name + ": dst_pps x volume.window and dst_sources must stay below 4e9 (the sketch's counters)");
    c.volume = c.dst_pps || c.dst_bps || c.dst_sources;
    const bool any_condition = c.src_sets || c.dst_sets || c.src_special || c.dst_special || c.has_protocol ||
                               !c.src_ports.empty() || !c.dst_ports.empty() || c.flags_set || c.flags_unset ||
                               c.bpp_min || c.bpp_max || !c.exporters.empty() || !c.inputs.empty() || c.spoofed ||
                               c.volume;
    if (!any_condition) return fail(name + ": has no condition (it would boost every flow)");
    p->uses_src_sets_ |= c.src_sets != 0 || c.src_special.has_value();
    p->uses_dst_sets_ |= c.dst_sets != 0 || c.dst_special.has_value();
    p->uses_urpf_ |= c.spoofed.has_value();
    p->uses_volume_ |= c.volume;
    p->top_multiplier_ = std::max(p->top_multiplier_, std::min(c.multiplier, s.max_multiplier));
    p->top_probability_ = std::max(p->top_probability_, std::min(c.probability, s.max_probability));
    p->rules_.push_back(std::move(c));
  }
  if (p->uses_urpf_ && p->own_bit_) p->uses_src_sets_ = true;
  if (p->uses_volume_) {
    // Sampled counting (volume.hpp): z such that the estimate's standard error at the smallest
    // threshold is at most 1 % (variance below z x total); bytes thresholds are taken at 1,500
    // bytes a packet. Packets are not counted at all when no rule uses them. Distinct sources:
    // pairs sampled 1 in k, k such that the standard error at the smallest dst_sources threshold T
    // is at most kSourcesError (variance T x (k - 1)).
    double smallest = 4e18, smallest_sources = 4e18;
    bool packets = false, bytes = false, sources = false;
    for (const Rule& c : p->rules_) {
      if (c.dst_pps) smallest = std::min(smallest, *c.dst_pps * s.volume.window_s);
      if (c.dst_bps) smallest = std::min(smallest, *c.dst_bps * s.volume.window_s / 8 / 1500);
      if (c.dst_sources) smallest_sources = std::min(smallest_sources, *c.dst_sources);
      packets |= c.dst_pps.has_value() || c.dst_bps.has_value();
      bytes |= c.dst_bps.has_value();
      sources |= c.dst_sources.has_value();
    }
    p->spec_.volume.packets = packets;
    p->spec_.volume.bytes = bytes;
    p->spec_.volume.sources = sources;
    p->spec_.volume.sample = packets ? static_cast<std::uint32_t>(std::clamp(std::floor(smallest * 1e-4), 1.0, 4096.0)) : 1u;
    p->spec_.volume.source_sample =
        sources ? static_cast<std::uint32_t>(
                      std::clamp(std::floor(1 + kSourcesError * kSourcesError * smallest_sources), 1.0, 4096.0))
                : 1u;
  }
  p->table_.build();
  return std::shared_ptr<const Policy>(std::move(p));
}

UrpfVerdict Policy::urpf(const core::FlowRecord& f) const noexcept {
  if (interfaces_.empty() || !f.has(core::Field::kInterfaces) || f.input_format != core::InterfaceFormat::ifindex ||
      f.exporter.empty() || f.src.empty())
    return UrpfVerdict::unknown;
  const auto it = std::lower_bound(interfaces_.begin(), interfaces_.end(), std::tie(f.exporter, f.input),
                                   [](const Interface& i, const auto& key) {
                                     return std::tie(i.exporter, i.index) < key;
                                   });
  if (it == interfaces_.end() || it->exporter != f.exporter || it->index != f.input) return UrpfVerdict::unknown;
  if (it->role == InterfaceRole::customer) return cidrs_contain(it->allowed, f.src) ? UrpfVerdict::ok : UrpfVerdict::spoofed;
  // Peer or transit: one of my own prefixes cannot come in from outside.
  return own_bit_ && (table_.lookup(f.src) & own_bit_) ? UrpfVerdict::spoofed : UrpfVerdict::ok;
}

bool Policy::match(const Rule& r, const core::FlowRecord& f, std::uint64_t src_sets, std::uint64_t dst_sets,
                   UrpfVerdict urpf_verdict, const VolumeEstimate* volume, Reason& reason) const noexcept {
  // The list conditions first (one AND each, and most list rules fail there): the order changes
  // nothing but how soon a rule that fails is left, every condition must hold.
  if ((r.src_sets && !(src_sets & r.src_sets)) || (r.dst_sets && !(dst_sets & r.dst_sets))) return false;
  if (r.has_protocol && !((r.protocols[f.protocol / 64u] >> (f.protocol % 64u)) & 1u)) return false;
  if (!r.src_ports.empty() || !r.dst_ports.empty()) {
    if (!f.has(core::Field::kPorts) || (f.protocol != 6 && f.protocol != 17 && f.protocol != 132)) return false;
    if (!in_ports(r.src_ports, f.sport) || !in_ports(r.dst_ports, f.dport)) return false;
  }
  if (r.flags_set || r.flags_unset) {
    if (f.protocol != 6 || !f.has(core::Field::kTcpFlags)) return false;
    if ((f.tcp_flags & r.flags_set) != r.flags_set || (f.tcp_flags & r.flags_unset) != 0) return false;
  }
  if (r.bpp_min || r.bpp_max) {
    if (!f.has(core::Field::kPackets) || !f.has(core::Field::kBytes) || f.pcount == 0) return false;
    const double bpp = static_cast<double>(f.bcount) / static_cast<double>(f.pcount);
    if ((r.bpp_min && bpp < *r.bpp_min) || (r.bpp_max && bpp > *r.bpp_max)) return false;
  }
  if (!r.exporters.empty() && !std::binary_search(r.exporters.begin(), r.exporters.end(), f.exporter)) return false;
  if (!r.inputs.empty() &&
      (!f.has(core::Field::kInterfaces) || !std::binary_search(r.inputs.begin(), r.inputs.end(), f.input)))
    return false;
  std::string_view list;
  if (r.src_sets) {
    const std::uint64_t hit = src_sets & r.src_sets;
    if (!hit) return false;
    list = set_names_[static_cast<std::size_t>(std::countr_zero(hit))];
  }
  if (r.dst_sets) {
    const std::uint64_t hit = dst_sets & r.dst_sets;
    if (!hit) return false;
    if (list.empty()) list = set_names_[static_cast<std::size_t>(std::countr_zero(hit))];
  }
  if (r.src_special && ((src_sets & special_bit_) != 0) != *r.src_special) return false;
  if (r.dst_special && ((dst_sets & special_bit_) != 0) != *r.dst_special) return false;
  if (list.empty() && ((r.src_special && *r.src_special) || (r.dst_special && *r.dst_special))) list = "special-purpose";
  if (r.spoofed && (urpf_verdict == UrpfVerdict::spoofed) != *r.spoofed) return false;
  if (r.volume) {
    if (!volume) return false;
    if (r.dst_pps && volume->packets_per_second <= *r.dst_pps) return false;
    if (r.dst_bps && volume->bits_per_second <= *r.dst_bps) return false;
    if (r.dst_sources && volume->distinct_sources <= *r.dst_sources) return false;
  }
  reason = {r.reason, spec_.rules[r.spec].name, list};
  return true;
}

void Policy::evaluate(const core::FlowRecord& f, PolicyState& state, std::int64_t now_ns, Decision& out) const {
  observe(f, state, now_ns);
  decide(f, state, out);
}

void Policy::observe(const core::FlowRecord& f, PolicyState& state, std::int64_t now_ns) const noexcept {
  state.observed_ = false;
  state.batched_ = false;
  if (!uses_volume_ || !state.volume_) return;
  state.count_pending();
  if (f.dst.empty()) return;
  const std::uint64_t scale = f.sampling_interval;  // >= 1 from every decoder (FlowRecord), as end_batch() and add()
  state.last_ = state.volume_->add(f.src, f.dst, f.pcount * scale, f.bcount * scale, now_ns);
  state.observed_ = true;
}

void PolicyState::count_taken() noexcept {
  VolumeSketch& v = *volume_;
  for (std::size_t j = 0; j < pending_packets_; ++j) {
    const PacketTake& t = packet_takes_[j];
    v.count_packets(t.dst, t.packets, t.bytes, t.weight);
  }
  for (std::size_t j = 0; j < pending_pairs_; ++j) v.count_pair(pair_takes_[j].dst, pair_takes_[j].bit);
  pending_packets_ = pending_pairs_ = 0;
}

void Policy::observe_batch(std::span<const core::FlowRecord> flows, PolicyState& state, std::int64_t now_ns) const {
  BatchObserver seen(*this, flows, state, now_ns);
  for (std::size_t i = 0; i < flows.size(); ++i) seen.add(flows[i], i);
  seen.finish();
}

void PolicyState::grow(std::size_t flows) {
  index_.resize(flows);
  pair_index_.resize(flows);
  bits_.resize(flows);
  packet_takes_.resize(flows);
  pair_takes_.resize(flows);
}

void PolicyState::end_batch(std::span<const core::FlowRecord> flows, std::size_t taken, std::size_t paired,
                            std::int64_t gap, std::uint64_t spent) noexcept {
  VolumeSketch& v = *volume_;
  v.end_selection(gap, spent);
  // A flow is counted for its packets (all, or a sample: one subtraction each) and for its
  // (source, destination) pair (a sample of the pairs: one hash each); only the flows counted
  // touch the sketch (a flow counted both ways is counted twice, once for each). Their cells are
  // prefetched now and counted at the next batch.
  auto scale = [](const core::FlowRecord& f) noexcept -> std::uint64_t { return f.sampling_interval; };  // >= 1: as add()
  std::size_t n = 0;
  for (std::size_t j = 0; j < taken; ++j) {
    const core::FlowRecord& f = flows[index_[j]];
    if (f.dst.empty()) continue;
    const std::uint64_t packets = f.pcount * scale(f);
    PacketTake& t = packet_takes_[n++];
    t = {v.key(f.dst), packets, f.bcount * scale(f), v.weight(packets)};
    v.prefetch_packets(t.dst);
  }
  pending_packets_ = n;
  n = 0;
  for (std::size_t j = 0; j < paired; ++j) {
    const core::FlowRecord& f = flows[pair_index_[j]];
    if (f.dst.empty()) continue;
    PairTake& t = pair_takes_[n++];
    t = {v.key(f.dst), bits_[j]};
    v.prefetch_pair(t.bit);
  }
  pending_pairs_ = n;
}

void Policy::decide(const core::FlowRecord& f, const PolicyState& state, Decision& out, std::size_t index) const {
  out.suspicious = false;
  out.multiplier = 1;
  out.probability = 0;
  out.reasons.clear();
  if (out.reasons.capacity() < rules_.size()) out.reasons.reserve(rules_.size());
  const std::uint64_t src_sets = uses_src_sets_ ? table_.lookup(f.src) : 0;
  const std::uint64_t dst_sets = uses_dst_sets_ ? table_.lookup(f.dst) : 0;
  const UrpfVerdict u = uses_urpf_ ? urpf(f) : UrpfVerdict::unknown;
  const VolumeEstimate* vp = state.observed_ ? &state.last_ : nullptr;
  VolumeEstimate batch_estimate;
  if (index != SIZE_MAX) {
    vp = nullptr;
    if (state.batched_ && state.volume_ && !f.dst.empty()) {  // as the batches before this one left it
      batch_estimate = state.volume_->estimate(state.volume_->key(f.dst), state.batch_now_);
      vp = &batch_estimate;
    }
  }
  Reason reason{};
  for (const Rule& r : rules_) {
    if (!match(r, f, src_sets, dst_sets, u, vp, reason)) continue;
    out.suspicious = true;
    out.reasons.push_back(reason);
    out.multiplier = std::max(out.multiplier, std::min(r.multiplier, spec_.max_multiplier));
    out.probability = std::max(out.probability, std::min(r.probability, spec_.max_probability));
    if (spec_.combine == Combine::first) break;
  }
}

double Policy::boosted(double base, const Decision& d) const noexcept {
  if (!d.suspicious) return base;
  const double p = std::max(base * d.multiplier, d.probability);
  return std::max(base, std::min(p, 1.0));
}

std::string Policy::describe() const {
  std::string out;
  out += fmt::format("combine: {} (max_multiplier {}, max_probability {})\n",
                     spec_.combine == Combine::max ? "max" : "first", spec_.max_multiplier, spec_.max_probability);
  out += fmt::format("lists: {}\n", spec_.lists.size());
  for (const auto& l : spec_.lists)
    out += fmt::format("  {}: {} prefixes ({}{}{})\n", l.name, l.prefixes.size(), l.file.empty() ? "inline" : l.file,
                       l.file.empty() ? "" : ", format " + l.format,
                       l.refresh_s > 0 ? fmt::format(", refresh every {} s", l.refresh_s) : std::string());
  out += fmt::format("address ranges after flattening: {}\n", table_.ranges());
  if (!interfaces_.empty()) {
    out += fmt::format("urpf: {} own prefixes, {} interfaces\n", spec_.own_prefixes.size(), interfaces_.size());
    for (const auto& i : interfaces_)
      out += fmt::format("  {} ifindex {}: {}{}\n", i.exporter.to_string(), i.index, to_string(i.role),
                         i.role == InterfaceRole::customer ? fmt::format(" ({} allowed prefixes)", i.allowed.size()) : "");
  }
  if (uses_volume_)
    out += fmt::format("volume: window {} s, sketch {} x {}, {}, flows counted {}\n", spec_.volume.window_s,
                       spec_.volume.depth, std::bit_ceil(spec_.volume.width),
                       !spec_.volume.sources           ? std::string("no distinct sources")
                       : spec_.volume.source_sample > 1 ? fmt::format("distinct sources kept (pairs sampled 1 in {})",
                                                                      spec_.volume.source_sample)
                                                        : std::string("distinct sources kept"),
                       !spec_.volume.packets         ? std::string("for sources only")
                       : spec_.volume.sample > 1 ? fmt::format("sampled (z = {} packets)", spec_.volume.sample)
                                                 : std::string("all"));
  out += fmt::format("rules: {}\n", rules_.size());
  for (const auto& r : rules_) {
    const RuleSpec& s = spec_.rules[r.spec];
    out += fmt::format("  {}: class {}, {}\n", s.name, to_string(s.reason),
                       s.multiplier ? fmt::format("multiplier {}", *s.multiplier)
                                    : fmt::format("probability {}", *s.probability));
  }
  return out;
}

PolicyState::PolicyState(const Policy& policy) { adopt(policy); }

void PolicyState::adopt(const Policy& policy) {
  if (!policy.uses_volume()) {
    volume_.reset();
    pending_packets_ = pending_pairs_ = 0;
    return;
  }
  const VolumeConfig& want = policy.spec().volume;
  if (volume_) {
    const VolumeConfig& have = volume_->config();
    if (have.window_s == want.window_s && have.width == std::bit_ceil(want.width) && have.depth == want.depth &&
        have.pair_bits == std::bit_ceil(want.pair_bits) && have.sample == want.sample && have.sources == want.sources &&
        have.packets == want.packets && have.bytes == want.bytes && have.source_sample == want.source_sample)
      return;
  }
  volume_ = std::make_unique<VolumeSketch>(want);
  pending_packets_ = pending_pairs_ = 0;  // counted into the sketch they were taken for, or not at all
}

}  // namespace overflowd::policy

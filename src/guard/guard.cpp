#include "guard/guard.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "guard/special_purpose.hpp"
#include "core/sodium.hpp"

namespace overflowd::guard {

const char* to_string(Verdict v) noexcept {
  switch (v) {
#define OVERFLOWD_VERDICT_CASE(name, text) \
  case Verdict::name:                      \
    return text;
    OVERFLOWD_VERDICT_LIST(OVERFLOWD_VERDICT_CASE)
#undef OVERFLOWD_VERDICT_CASE
    case Verdict::count_:
      break;
  }
  return "unknown";
}

std::uint64_t GuardCounters::suppressed() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < kVerdictCount; ++i)
    if (i != static_cast<std::size_t>(Verdict::admitted)) n += verdicts[i];
  return n;
}

void GuardCounters::append_to(std::vector<core::NamedCount>& out) const {
  out.push_back({"guard.admitted", count(Verdict::admitted)});
  for (std::size_t i = 0; i < kVerdictCount; ++i) {
    const auto v = static_cast<Verdict>(i);
    if (v != Verdict::admitted && verdicts[i]) out.push_back({std::string("guard.suppressed.") + to_string(v), verdicts[i]});
  }
}

double TokenBucket::available(const Budget& b, std::int64_t now_ns) const noexcept {
  if (!started_) return b.burst;
  const double elapsed_s = now_ns > last_ns_ ? static_cast<double>(now_ns - last_ns_) * 1e-9 : 0.0;
  return std::min(b.burst, tokens_ + elapsed_s * b.per_second);
}

bool TokenBucket::take(const Budget& b, std::int64_t now_ns) noexcept {
  const double have = available(b, now_ns);
  started_ = true;
  if (now_ns > last_ns_) last_ns_ = now_ns;
  tokens_ = have;
  if (have < 1.0) return false;
  tokens_ = have - 1.0;
  return true;
}

Guard::Guard(GuardConfig config) : config_(std::move(config)) {
  core::init_sodium();
  randombytes_buf(hash_key_.data(), hash_key_.size());
  if (config_.per_destination) {
    const std::size_t entries = std::max<std::size_t>(config_.destination_table, kWays);
    sets_ = (entries + kWays - 1) / kWays;
    slots_.resize(sets_ * kWays);
  }
  const std::size_t recent = std::max<std::size_t>(config_.recent, 1);
  recent_ring_.assign(recent, 0);
  recent_.reserve(recent);
}

void Guard::reconfigure(const GuardConfig& next) {
  const std::size_t table = config_.destination_table, recent = config_.recent;
  config_ = next;
  config_.destination_table = table;
  config_.recent = recent;
  if (config_.per_destination && slots_.empty()) {  // switched on by the reload: its table now
    const std::size_t entries = std::max<std::size_t>(table, kWays);
    sets_ = (entries + kWays - 1) / kWays;
    slots_.resize(sets_ * kWays);
  }
}

std::uint64_t Guard::hash(const void* data, std::size_t size) const noexcept {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, static_cast<const unsigned char*>(data), size, hash_key_.data());
  std::uint64_t h = 0;
  std::memcpy(&h, out, sizeof h);
  return h;
}

std::uint64_t Guard::fingerprint(const core::FlowRecord& f, const core::IpAddress& destination) const noexcept {
  // (src, dst, sport, dport, protocol, stime, etime, destination), laid out in a fixed buffer.
  unsigned char buf[3 * 17 + 2 + 2 + 1 + 8 + 8];
  std::size_t at = 0;
  auto put = [&](const void* p, std::size_t n) {
    std::memcpy(buf + at, p, n);
    at += n;
  };
  for (const core::IpAddress* a : {&f.src, &f.dst, &destination}) {
    const auto family = static_cast<std::uint8_t>(a->family());
    put(&family, 1);
    put(a->bytes().data(), 16);
  }
  put(&f.sport, 2);
  put(&f.dport, 2);
  put(&f.protocol, 1);
  put(&f.stime_ms, 8);
  put(&f.etime_ms, 8);
  return hash(buf, at);
}

void Guard::remember(std::uint64_t fp) {
  const std::uint64_t old = recent_ring_[recent_next_];
  if (old != 0) recent_.erase(old);
  recent_ring_[recent_next_] = fp;
  recent_.insert(fp);
  recent_next_ = (recent_next_ + 1) % recent_ring_.size();
}

Guard::Slot* Guard::destination_slot(const core::IpAddress& destination, std::int64_t now_ns) noexcept {
  unsigned char key[17];
  key[0] = static_cast<unsigned char>(destination.family());
  std::memcpy(key + 1, destination.bytes().data(), 16);
  const std::size_t set = static_cast<std::size_t>(hash(key, sizeof key) % sets_);
  Slot* ways = slots_.data() + set * kWays;
  Slot* free_way = nullptr;
  for (std::size_t w = 0; w < kWays; ++w) {
    Slot& s = ways[w];
    if (s.used && s.address == destination) return &s;
    // A way whose bucket is full again holds nothing a fresh entry would not: reusable.
    if (!free_way && (!s.used || s.bucket.full(*config_.per_destination, now_ns))) free_way = &s;
  }
  if (!free_way) return nullptr;
  free_way->used = true;
  free_way->address = destination;
  free_way->bucket = TokenBucket{};
  return free_way;
}

Verdict Guard::decide(const core::FlowRecord& flow, const core::IpAddress& destination, std::int64_t now_ns,
                      Priority priority) {
  if (destination.empty()) return Verdict::no_address;
  if (flow.protocol == 17 && (flow.sport == config_.report_port || flow.dport == config_.report_port))
    return Verdict::report_port;
  auto in = [&](const std::vector<Cidr>& list) {
    return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(destination); });
  };
  if (in(config_.deny)) return Verdict::denied;
  if (config_.opt_out.contains(destination)) return Verdict::opted_out;
  if (is_special_purpose(destination) && !in(config_.allow)) return Verdict::special_purpose;
  const std::uint64_t fp = fingerprint(flow, destination);
  if (recent_.contains(fp)) return Verdict::duplicate;
  Slot* slot = nullptr;
  if (config_.per_destination) {
    slot = destination_slot(destination, now_ns);
    if (!slot) return Verdict::destination_table_full;
    if (slot->bucket.available(*config_.per_destination, now_ns) < 1.0) return Verdict::per_destination_budget;
  }
  if (config_.global) {
    const Budget& g = *config_.global;
    if (priority == Priority::informational && config_.suspicious_share > 0) {
      const double have = global_.available(g, now_ns);
      if (have >= 1.0 && have < 1.0 + config_.suspicious_share * g.burst) return Verdict::global_budget_reserved;
    }
    if (!global_.take(g, now_ns)) return Verdict::global_budget;
  }
  if (slot) slot->bucket.take(*config_.per_destination, now_ns);
  remember(fp);
  return Verdict::admitted;
}

Verdict Guard::admit(const core::FlowRecord& flow, const core::IpAddress& destination, std::int64_t now_ns,
                     Priority priority) {
  const Verdict v = decide(flow, destination, now_ns, priority);
  ++counters_.verdicts[static_cast<std::size_t>(v)];
  return v;
}

}  // namespace overflowd::guard

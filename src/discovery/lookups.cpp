#include "discovery/lookups.hpp"

#include <algorithm>

#include "guard/special_purpose.hpp"
#include "report/document.hpp"

namespace overflowd::discovery {

const char* to_string(Mode m) noexcept {
  switch (m) {
    case Mode::off: return "off";
    case Mode::dns: return "dns";
    case Mode::http: return "http";
    case Mode::https: return "https";
  }
  return "unknown";
}

const char* to_string(Outcome o) noexcept {
  switch (o) {
#define OVERFLOWD_OUTCOME_NAME(name, text) \
  case Outcome::name: return text;
    OVERFLOWD_LOOKUP_OUTCOMES(OVERFLOWD_OUTCOME_NAME)
#undef OVERFLOWD_OUTCOME_NAME
    case Outcome::count_: break;
  }
  return "unknown";
}

std::expected<Found, Outcome> check_document(std::span<const std::byte> raw, const core::IpAddress& address,
                                             std::int64_t now_s) {
  if (raw.size() > kMaxDocumentBytes) return std::unexpected(Outcome::too_large);
  auto doc = report::parse_document(raw, now_s);
  if (!doc) {
    switch (doc.error()) {
      case report::DocumentErrc::not_signed:
      case report::DocumentErrc::identity_mismatch: return std::unexpected(Outcome::bad_signature);
      case report::DocumentErrc::expired: return std::unexpected(Outcome::expired);
      case report::DocumentErrc::no_valid_key: return std::unexpected(Outcome::no_valid_key);
      case report::DocumentErrc::bad_member:
      case report::DocumentErrc::wrong_service: return std::unexpected(Outcome::bad_document);
    }
    return std::unexpected(Outcome::bad_document);
  }
  const report::PublishedKey* key = doc->current_key(now_s);
  if (!key) return std::unexpected(Outcome::no_valid_key);
  Found found;
  found.x25519 = key->x25519;
  found.identity = doc->identity;
  found.expires = std::min(doc->expires, key->not_after);
  for (const auto& p : doc->prefixes) {
    if (found.prefixes.size() >= kMaxPrefixesKept) break;
    if (auto c = guard::Cidr::parse(p)) found.prefixes.push_back(*c);
  }
  if (!found.covers(address)) return std::unexpected(Outcome::other_prefix);
  return found;
}

Lookups::Lookups(LookupsConfig config)
    : config_(std::move(config)), cache_(config_.cache), tofu_(std::max<std::size_t>(config_.cache * 4, 1024)) {}

guard::Verdict Lookups::screen(const core::IpAddress& address) const noexcept {
  auto in = [&](const std::vector<guard::Cidr>& list) {
    return std::any_of(list.begin(), list.end(), [&](const guard::Cidr& c) { return c.contains(address); });
  };
  if (in(config_.deny)) return guard::Verdict::denied;
  if (config_.opt_out.contains(address)) return guard::Verdict::opted_out;
  if (guard::is_special_purpose(address) && !in(config_.allow)) return guard::Verdict::special_purpose;
  return guard::Verdict::admitted;
}

std::string Lookups::key_of(const core::IpAddress& address) const {
  return config_.mode == Mode::dns ? zone_prefix(address).to_string() : address.to_string();
}

std::optional<report::X25519Public> Lookups::want(const core::IpAddress& address, std::int64_t now_s,
                                                  std::int64_t now_ns, std::optional<Job>& job) {
  job.reset();
  if (config_.mode == Mode::off) return std::nullopt;
  std::string key = key_of(address);
  if (const CacheEntry* e = cache_.find(key, now_s)) {
    switch (e->state) {
      case CacheEntry::State::positive:
        if (e->found.covers(address)) {
          ++counts_.hits;
          return e->found.x25519;
        }
        ++counts_.not_covered;
        return std::nullopt;
      case CacheEntry::State::negative: ++counts_.negative; return std::nullopt;
      case CacheEntry::State::pending: ++counts_.pending; return std::nullopt;
    }
  }
  ++counts_.misses;
  switch (screen(address)) {
    case guard::Verdict::denied: ++counts_.denied; return std::nullopt;
    case guard::Verdict::opted_out: ++counts_.opted_out; return std::nullopt;
    case guard::Verdict::special_purpose: ++counts_.special_purpose; return std::nullopt;
    default: break;
  }
  if (in_flight_ >= config_.max_in_flight) {
    ++counts_.in_flight_full;
    return std::nullopt;
  }
  if (!bucket_.take(config_.budget, now_ns)) {
    ++counts_.budget;
    return std::nullopt;
  }
  cache_.put_pending(key, now_s);
  counts_.max_cache = std::max<std::uint64_t>(counts_.max_cache, cache_.size());
  ++in_flight_;
  ++counts_.started;
  job = Job{std::move(key), address};
  return std::nullopt;
}

std::expected<Found, Outcome> Lookups::trust(const Job& job, Found found, const std::optional<report::PublicKey>& pinned,
                                             std::int64_t now_s) {
  // The prefix the identity speaks for: the document's longest prefix holding the address.
  const guard::Cidr* best = nullptr;
  for (const auto& p : found.prefixes)
    if (p.contains(job.address) && (!best || p.length > best->length)) best = &p;
  const std::string key = best ? best->to_string() : job.key;
  if (tofu_.judge(key, found.identity, pinned, now_s) == Trust::changed) return std::unexpected(Outcome::identity_changed);
  return found;
}

void Lookups::finish(const Job& job, std::expected<Found, Outcome> result, std::int64_t now_s) {
  if (in_flight_ > 0) --in_flight_;
  const Outcome o = result ? Outcome::ok : result.error();
  ++outcomes_[static_cast<std::size_t>(o)];
  if (result) cache_.put_positive(job.key, std::move(*result), now_s);
  else cache_.put_negative(job.key, now_s);
  counts_.max_cache = std::max<std::uint64_t>(counts_.max_cache, cache_.size());
}

void Lookups::append_counters(std::vector<core::NamedCount>& out) const {
  if (config_.mode == Mode::off) return;
  out.push_back({"discovery.lookups.started", counts_.started});
  for (std::size_t i = 0; i < kOutcomeCount; ++i)
    if (outcomes_[i] || i == static_cast<std::size_t>(Outcome::ok))
      out.push_back({std::string("discovery.lookups.") + to_string(static_cast<Outcome>(i)), outcomes_[i]});
  out.push_back({"discovery.identity_changed", outcomes_[static_cast<std::size_t>(Outcome::identity_changed)]});
  out.push_back({"discovery.in_flight", in_flight_});
  out.push_back({"discovery.cache.hit", counts_.hits});
  out.push_back({"discovery.cache.miss", counts_.misses});
  out.push_back({"discovery.cache.pending", counts_.pending});
  out.push_back({"discovery.cache.negative", counts_.negative});
  if (counts_.not_covered) out.push_back({"discovery.cache.not_covered", counts_.not_covered});
  out.push_back({"discovery.cache.entries", cache_.size()});
  out.push_back({"discovery.cache.entries_max", counts_.max_cache});
  out.push_back({"discovery.cache.capacity", cache_.capacity()});
  out.push_back({"discovery.cache.evicted", cache_.evicted()});
  out.push_back({"discovery.refused.budget", counts_.budget});
  out.push_back({"discovery.refused.in_flight_full", counts_.in_flight_full});
  if (counts_.denied) out.push_back({"discovery.refused.denied", counts_.denied});
  if (counts_.opted_out) out.push_back({"discovery.refused.opted_out", counts_.opted_out});
  if (counts_.special_purpose) out.push_back({"discovery.refused.special_purpose", counts_.special_purpose});
}

}  // namespace overflowd::discovery

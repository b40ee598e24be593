#include "decode/template_cache.hpp"

#include <algorithm>
#include <bit>

namespace overflowd::decode {

using core::Errc;

std::size_t DomainKeyHash::operator()(const DomainKey& k) const noexcept {
  // FNV-1a over the address bytes and family (see the header: not the version or domain id).
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint64_t byte) {
    h ^= byte;
    h *= 1099511628211ull;
  };
  for (std::uint8_t b : k.exporter.bytes()) mix(b);
  mix(static_cast<std::uint8_t>(k.exporter.family()));
  return static_cast<std::size_t>(h);
}

std::uint32_t SamplingState::find(SamplerKind kind, std::uint64_t id) const noexcept {
  const auto it = std::lower_bound(samplers.begin(), samplers.end(), std::pair{kind, id},
                                   [](const Entry& e, const std::pair<SamplerKind, std::uint64_t>& k) {
                                     return std::pair{e.kind, e.id} < k;
                                   });
  if (it == samplers.end() || it->kind != kind || it->id != id) return 0;
  return it->interval;
}

std::uint32_t template_field_bits(std::span<const ie::FieldOp> ops) noexcept {
  std::uint32_t bits = 0;
  for (const ie::FieldOp& op : ops) bits |= ie::field_bit(op.op);
  return bits;
}

namespace {

// A template with both IPv4 and IPv6 source or destination fields: its IPv6 address ops keep their
// values aside, so that ie::resolve_record() picks the record's family (an all-zero address of one
// family must not overwrite the other's).
void mark_dual_stack(std::vector<ie::FieldOp>& ops) noexcept {
  bool v4 = false, v6 = false;
  for (const ie::FieldOp& op : ops) {
    v4 |= op.op == ie::Op::src_v4 || op.op == ie::Op::dst_v4;
    v6 |= op.op == ie::Op::src_v6 || op.op == ie::Op::dst_v6;
  }
  if (!v4 || !v6) return;
  for (ie::FieldOp& op : ops) {
    switch (op.op) {
      case ie::Op::src_v6:
        op.op = ie::Op::src_v6_aside;
        break;
      case ie::Op::dst_v6:
        op.op = ie::Op::dst_v6_aside;
        break;
      case ie::Op::nexthop_v6:
        op.op = ie::Op::nexthop_v6_aside;
        break;
      case ie::Op::bgp_nexthop_v6:
        op.op = ie::Op::bgp_nexthop_v6_aside;
        break;
      default:
        break;
    }
  }
}

void summarize(Template& t) noexcept {
  // Which family's source/destination fields come last: the record's family when both are set.
  t.dual_stack = ie::DualStack::none;
  for (const ie::FieldOp& op : t.ops) {
    if (op.op == ie::Op::src_v6_aside || op.op == ie::Op::dst_v6_aside) t.dual_stack = ie::DualStack::v6_last;
    if ((op.op == ie::Op::src_v4 || op.op == ie::Op::dst_v4) && t.dual_stack != ie::DualStack::none)
      t.dual_stack = ie::DualStack::v4_last;
  }
  t.biflow = std::any_of(t.ops.begin(), t.ops.end(), [](const ie::FieldOp& op) { return ie::is_reverse_op(op.op); });
  t.fields = template_field_bits(t.ops);
  t.times = std::any_of(t.ops.begin(), t.ops.end(), [](const ie::FieldOp& op) { return ie::is_time_op(op.op); });
  t.sampling =
      std::any_of(t.ops.begin(), t.ops.end(), [](const ie::FieldOp& op) { return ie::is_sampling_op(op.op); });
}
}  // namespace

TemplateCache::TemplateCache(TemplateCacheLimits limits) : limits_(limits) {
  scratch_.reserve(limits_.max_fields_per_template);
}

Domain* TemplateCache::find(const DomainKey& key) noexcept {
  const auto it = domains_.find(key);
  return it == domains_.end() ? nullptr : &it->second;
}

const Template* TemplateCache::find_template(const DomainKey& key, std::uint16_t id) const noexcept {
  const auto d = domains_.find(key);
  if (d == domains_.end()) return nullptr;
  const auto t = d->second.templates.find(id);
  return t == d->second.templates.end() ? nullptr : &t->second;
}

const Template* TemplateCache::use(const DomainKey& key, Domain& domain, std::uint16_t id, std::int64_t now_ms,
                                   bool& expired) noexcept {
  expired = false;
  const Template* t = domain.find(id);
  if (t) domain.last_used = ++tick_;
  if (!t || limits_.template_timeout_s == 0) return t;
  const auto timeout_ms = static_cast<std::int64_t>(std::min<std::size_t>(limits_.template_timeout_s, 1u << 30)) * 1000;
  if (now_ms - t->refreshed_ms <= timeout_ms) return t;  // (a clock that went back keeps it)
  expired = true;
  withdraw(key, id);
  return nullptr;
}

std::optional<Errc> TemplateCache::store(const DomainKey& key, const Draft& draft, std::int64_t now_ms) {
  if (draft.min_length > limits_.max_record_length) return Errc::record_limit;
  if (draft.min_length == 0) return Errc::bad_template;  // only empty fields: records cannot be framed
  if (scratch_.size() > limits_.max_fields_per_template) return Errc::field_limit;
  mark_dual_stack(scratch_);

  auto d = domains_.find(key);
  if (d != domains_.end()) {
    auto t = d->second.templates.find(draft.id);
    if (t != d->second.templates.end()) {
      Template& old = t->second;
      old.options = draft.options;
      old.variable = draft.variable;
      old.min_length = draft.min_length;
      if (old.ops != scratch_) old.ops.assign(scratch_.begin(), scratch_.end());  // redefinition
      old.refreshed_ms = now_ms;
      summarize(old);
      d->second.last_used = ++tick_;
      return std::nullopt;
    }
  }
  // A new template: every cap is checked before the domain or the template is created. The
  // exporter's own caps first (nothing is evicted for an exporter over them), then the totals,
  // which may evict another exporter's domain (evict_for()).
  ExporterUse use = exporter_use(key.exporter);
  if (use.templates >= limits_.max_templates_per_exporter) return Errc::exporter_template_limit;
  if (d == domains_.end()) {
    if (use.domains >= limits_.max_domains_per_exporter) return Errc::exporter_domain_limit;
    if (limits_.max_templates_per_domain == 0) return Errc::template_limit;
  } else if (d->second.templates.size() >= limits_.max_templates_per_domain) {
    return Errc::template_limit;
  }
  // Room for the domain first: evicting a domain frees its templates too.
  if (d == domains_.end())
    while (domains_.size() >= limits_.max_domains)
      if (!evict_for(use, true)) return Errc::exporter_limit;
  while (templates_ >= limits_.max_templates)
    if (!evict_for(use, false)) return Errc::template_limit;
  if (d == domains_.end()) d = domains_.try_emplace(key).first;
  ++use.domains;  // (an upper bound: the domain may have been there)
  ++use.templates;
  heaviest_domains_ = std::max(heaviest_domains_, use.domains);
  heaviest_templates_ = std::max(heaviest_templates_, use.templates);
  d->second.last_used = ++tick_;
  Template t;
  t.id = draft.id;
  t.options = draft.options;
  t.variable = draft.variable;
  t.min_length = draft.min_length;
  t.ops.assign(scratch_.begin(), scratch_.end());
  t.refreshed_ms = now_ms;
  summarize(t);
  d->second.templates.insert_or_assign(draft.id, std::move(t));
  ++templates_;
  return std::nullopt;
}

TemplateCache::ExporterUse TemplateCache::exporter_use(const core::IpAddress& exporter) const noexcept {
  ExporterUse u;
  const std::size_t b = domains_.bucket(DomainKey{exporter, 0, 0});
  for (auto it = domains_.begin(b); it != domains_.end(b); ++it) {
    if (it->first.exporter != exporter) continue;
    ++u.domains;
    u.templates += it->second.templates.size();
  }
  return u;
}

bool TemplateCache::evict_for(const ExporterUse& requester, bool by_domains) noexcept {
  // Evicting only from an exporter holding 2 more than the requester means the requester, one
  // more after this, never holds more than its victim did: no two exporters take turns.
  const std::size_t have = by_domains ? requester.domains : requester.templates;
  std::size_t& bound = by_domains ? heaviest_domains_ : heaviest_templates_;
  if (bound < have + 2) return false;  // cheap refusal under a flood from the heaviest itself
  // The heaviest exporter, and its least recently used domain (one holding templates when it is
  // templates that are short). All domains of an exporter share a bucket, so each bucket is
  // summed per exporter in a small local table (distinct exporters colliding in one bucket are
  // few; past kPerBucket of them the rest of that bucket is not considered this time).
  struct Holder {
    const core::IpAddress* who;
    std::size_t domains, templates;
    const DomainKey* lru;
    std::uint64_t lru_used;
  };
  constexpr std::size_t kPerBucket = 16;
  std::size_t most = 0;
  const DomainKey* victim = nullptr;
  std::uint64_t victim_used = 0;
  std::size_t max_domains = 0, max_templates = 0;
  bool partial = false;  // some exporter was not counted: the bounds stay as they were
  for (std::size_t b = 0; b < domains_.bucket_count(); ++b) {
    Holder holders[kPerBucket];
    std::size_t n = 0;
    for (auto it = domains_.begin(b); it != domains_.end(b); ++it) {
      std::size_t h = 0;
      while (h < n && *holders[h].who != it->first.exporter) ++h;
      if (h == n) {
        if (n == kPerBucket) {
          partial = true;
          continue;
        }
        holders[n++] = Holder{&it->first.exporter, 0, 0, nullptr, 0};
      }
      Holder& x = holders[h];
      ++x.domains;
      x.templates += it->second.templates.size();
      if ((by_domains || !it->second.templates.empty()) && (!x.lru || it->second.last_used < x.lru_used)) {
        x.lru = &it->first;
        x.lru_used = it->second.last_used;
      }
    }
    for (std::size_t h = 0; h < n; ++h) {
      const Holder& x = holders[h];
      max_domains = std::max(max_domains, x.domains);
      max_templates = std::max(max_templates, x.templates);
      const std::size_t count = by_domains ? x.domains : x.templates;
      if (x.lru && (count > most || (count == most && x.lru_used < victim_used))) {
        most = count;
        victim = x.lru;
        victim_used = x.lru_used;
      }
    }
  }
  if (!partial) {
    heaviest_domains_ = max_domains;
    heaviest_templates_ = max_templates;
  }
  if (!victim || most < have + 2) return false;
  const auto it = domains_.find(*victim);
  templates_ -= it->second.templates.size();
  evicted_templates_ += it->second.templates.size();
  ++evicted_domains_;
  domains_.erase(it);
  return true;
}

namespace {

// Bucket arrays never shrink by themselves: a domain that held many templates and withdrew them
// would keep its large array. Rehash to fit once the table is mostly empty (hysteresis of 4, so a
// define / withdraw cycle rehashes rarely). rehash() may allocate; if it cannot, the array stays.
void shrink_if_sparse(std::unordered_map<std::uint16_t, Template>& templates) noexcept {
  if (templates.bucket_count() <= 4 * templates.size() + 16) return;
  try {
    templates.rehash(0);
  } catch (...) {  // std::bad_alloc: keeping the larger array is harmless
  }
}

}  // namespace

void TemplateCache::withdraw(const DomainKey& key, std::uint16_t id) noexcept {
  Domain* d = find(key);
  if (!d) return;
  templates_ -= d->templates.erase(id);
  shrink_if_sparse(d->templates);
}

void TemplateCache::withdraw_all(const DomainKey& key, bool options) noexcept {
  Domain* d = find(key);
  if (!d) return;
  templates_ -= std::erase_if(d->templates, [options](const auto& kv) { return kv.second.options == options; });
  shrink_if_sparse(d->templates);
}

namespace {

// One node of a libstdc++ hash table: the value, the link to the next node, and room for a
// cached hash code, plus the allocator's overhead.
template <class Value>
constexpr std::size_t node_bytes() noexcept {
  return sizeof(Value) + 2 * sizeof(void*) + TemplateCache::kAllocOverhead;
}

template <class T>
constexpr std::size_t heap_bytes(std::size_t capacity) noexcept {
  return capacity == 0 ? 0 : capacity * sizeof(T) + TemplateCache::kAllocOverhead;
}

using DomainNode = std::pair<const DomainKey, Domain>;
using TemplateNode = std::pair<const std::uint16_t, Template>;

}  // namespace

std::size_t TemplateCacheLimits::memory_bound() const noexcept {
  // Bucket arrays: a table grows to about twice its size (the next prime past 2 x the old bucket
  // count), and a domain's table is shrunk when over 4 x its size + 16 buckets (above).
  const std::size_t domain_buckets = heap_bytes<void*>(4 * max_domains + 16);
  const std::size_t template_buckets =
      (4 * max_templates + 17 * max_domains) * sizeof(void*) + max_domains * TemplateCache::kAllocOverhead;
  // A sampler list grows by doubling: its capacity is at most the cap rounded up to a power of 2.
  const std::size_t samplers = heap_bytes<SamplingState::Entry>(std::bit_ceil(max_samplers_per_domain));
  const std::size_t per_domain = node_bytes<DomainNode>() + samplers;
  const std::size_t per_template = node_bytes<TemplateNode>() + heap_bytes<ie::FieldOp>(max_fields_per_template);
  const std::size_t scratch = heap_bytes<ie::FieldOp>(max_fields_per_template);
  return domain_buckets + template_buckets + max_domains * per_domain + max_templates * per_template + scratch;
}

TemplateCacheLimits TemplateCacheLimits::shared_among(std::size_t workers) const noexcept {
  TemplateCacheLimits one = *this;
  if (workers > 1) {
    one.max_domains = std::max<std::size_t>(max_domains / workers, 1);
    one.max_templates = std::max<std::size_t>(max_templates / workers, 1);
  }
  return one;
}

std::size_t TemplateCache::memory_bytes() const noexcept {
  std::size_t total = heap_bytes<void*>(domains_.bucket_count()) + heap_bytes<ie::FieldOp>(scratch_.capacity());
  for (const auto& [key, domain] : domains_) {
    total += node_bytes<DomainNode>() + heap_bytes<void*>(domain.templates.bucket_count()) +
             heap_bytes<SamplingState::Entry>(domain.sampling.samplers.capacity());
    for (const auto& [id, t] : domain.templates) total += node_bytes<TemplateNode>() + heap_bytes<ie::FieldOp>(t.ops.capacity());
  }
  return total;
}

std::optional<Errc> TemplateCache::learn(Domain& domain, const ie::RecordExtras& x) {
  using X = ie::RecordExtras;
  if (x.has(X::kSystemInit)) domain.system_init_ms = x.system_init_ms;
  const std::uint32_t interval = ie::sampling_interval_of(x);
  if (interval == 0) return std::nullopt;

  std::optional<std::pair<SamplerKind, std::uint64_t>> key;
  if (x.has(X::kSelectorId)) {
    key = std::pair{SamplerKind::selector_id, x.selector_id};
  } else if (x.has(X::kSamplerId)) {
    key = std::pair{SamplerKind::sampler_id, x.sampler_id};
  }
  SamplingState& s = domain.sampling;
  if (!key) {
    s.domain_interval = interval;
    return std::nullopt;
  }
  auto it = std::lower_bound(s.samplers.begin(), s.samplers.end(), *key,
                             [](const SamplingState::Entry& e, const std::pair<SamplerKind, std::uint64_t>& k) {
                               return std::pair{e.kind, e.id} < k;
                             });
  if (it != s.samplers.end() && it->kind == key->first && it->id == key->second) {
    it->interval = interval;
  } else {
    if (s.samplers.size() >= limits_.max_samplers_per_domain) return Errc::sampler_limit;
    s.samplers.insert(it, SamplingState::Entry{key->first, key->second, interval});
  }
  s.last_interval = interval;
  return std::nullopt;
}

std::uint32_t TemplateCache::sampling_interval(const Domain* domain, const ie::RecordExtras& x) noexcept {
  using X = ie::RecordExtras;
  if (const std::uint32_t own = ie::sampling_interval_of(x)) return own;
  if (!domain) return 1;
  const SamplingState& s = domain->sampling;
  if (x.has(X::kSelectorId))
    if (const std::uint32_t v = s.find(SamplerKind::selector_id, x.selector_id)) return v;
  if (x.has(X::kSamplerId))
    if (const std::uint32_t v = s.find(SamplerKind::sampler_id, x.sampler_id)) return v;
  if (s.domain_interval) return s.domain_interval;
  if (s.last_interval) return s.last_interval;
  return 1;
}

}  // namespace overflowd::decode

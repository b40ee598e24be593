// The state that NetFlow v9 and IPFIX decoding needs between datagrams: templates and options
// templates, and the sampling state learned from options data. It is passed INTO the decoders
// (goflow2-style): a decoder is a function of the bytes and this cache, with no globals, so a test or
// a fuzz target makes a fresh cache and the dispatcher owns the one of the running process.
//
// Keys. Templates are kept per domain, and a domain is (exporter address, protocol version, source
// id / observation domain id): v9 and IPFIX templates of one exporter never mix, and neither do two
// exporters that use the same domain id. The exporter's UDP port is not part of the key.
//
// Lifetime. A template lives until it is redefined (a template with the same id replaces it; an
// identical one just refreshes it, allocating nothing), withdrawn (IPFIX only: field count 0 for one
// id, or the all-templates withdrawal whose template id is its set id, 2 or 3), or the cache is
// destroyed, or, when TemplateCacheLimits::template_timeout_s is set (configuration
// `[templates] template_timeout`), until it has not been sent again for that long (RFC 7011 section
// 8.4 for UDP): data for it is then template_expired and the template is dropped, so an exporter
// that re-numbered its templates is not decoded with stale ones. The clock is the datagram's
// receive time (core::Datagram::received_ns: the kernel's for live input, the capture's for a
// file), passed in by the decoders: tests inject it, and a capture decodes the same way whenever it
// is read. Off (0) by default: captures joined from several recordings span months.
//
// Caps. Everything an exporter can make the cache hold is bounded by TemplateCacheLimits. What would
// exceed a cap is refused and counted (exporter_limit, template_limit, field_limit, record_limit,
// sampler_limit; exporter_domain_limit and exporter_template_limit for the caps per exporter
// address) BEFORE anything is allocated for it. One address may hold at most
// max_domains_per_exporter domains and max_templates_per_exporter templates, so no single
// exporter fills the cache. When a total (max_domains or max_templates) is full, a new domain or
// template evicts the least recently used domain (stored to or decoded with) of the exporter
// address holding the most, if that exporter holds at least 2 more than the one asking: a flood
// from a few addresses cannot starve the others, and exporters holding about as much never take
// turns evicting each other (a flood from more addresses than max_domains still locks new ones
// out until templates expire: UDP sources cannot be told apart from spoofed ones). Evictions are
// counted (evicted_domains(), evicted_templates()). Worst case memory is about
//   max_templates x (max_fields_per_template x sizeof(ie::FieldOp) (4 bytes) + ~100 bytes)
//   + max_domains x (max_samplers_per_domain x 24 bytes + ~200 bytes),
// 65.97 MiB with the defaults: TemplateCacheLimits::memory_bound() computes it, and memory_bytes()
// reports what the cache holds now. Withdrawals give their memory back (the hash table of a domain
// shrinks once it is mostly empty), so withdrawing and redefining cannot grow it past the bound.
//
// Data that arrives before its template (or after it was withdrawn) is counted as unknown_template
// and dropped, not buffered: buffering would need memory the exporter controls, and exporters resend
// templates periodically (RFC 3954 section 9, RFC 7011 section 8.4), so only the first seconds of
// flows after a collector (re)start are lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/ip_address.hpp"
#include "core/result.hpp"
#include "decode/information_elements.hpp"

namespace overflowd::decode {

struct TemplateCacheLimits {
  std::size_t max_domains = 4096;              // (exporter, version, domain id) triples
  std::size_t max_templates_per_domain = 1024;  // data and options templates together
  std::size_t max_templates = 65536;           // over all domains
  std::size_t max_fields_per_template = 128;
  std::size_t max_record_length = 16384;       // bytes: a template's (minimum) record length, and
                                               // the actual length of a variable-length record
  std::size_t max_samplers_per_domain = 256;   // sampler / selector ids learned from options data
  std::size_t template_timeout_s = 0;          // a template not sent again for longer expires; 0: never
  std::size_t max_domains_per_exporter = 256;    // domains of one exporter address (all versions)
  std::size_t max_templates_per_exporter = 4096; // templates of one exporter address

  // The most a TemplateCache with these caps can hold, in bytes, as TemplateCache::memory_bytes()
  // accounts it (see there). 65.97 MiB with the defaults.
  [[nodiscard]] std::size_t memory_bound() const noexcept;

  // The caps of one of `workers` caches that together keep to these: the process-wide caps
  // (domains, templates) divided among them, at least 1 each; the per-domain and per-template caps
  // unchanged (one exporter's templates stay with one worker).
  [[nodiscard]] TemplateCacheLimits shared_among(std::size_t workers) const noexcept;
};

struct Template {
  std::uint16_t id = 0;
  bool options = false;
  bool variable = false;            // has a variable-length field
  std::uint32_t min_length = 0;     // the record length, or its minimum when `variable`
  std::uint32_t fields = 0;         // core::Field bits the template's records carry
  bool times = false;               // has a time field (else records carry no times)
  bool sampling = false;            // has a sampling field (else the domain's interval applies)
  ie::DualStack dual_stack = ie::DualStack::none;  // IPv4 and IPv6 addresses: family chosen per record
  bool biflow = false;              // reverse-direction counters (RFC 5103): a second flow per record
  std::int64_t refreshed_ms = 0;    // when it was last stored (the datagram's receive time)
  std::vector<ie::FieldOp> ops;     // compiled fields, adjacent fixed skips merged
};

struct DomainKey {
  core::IpAddress exporter;
  std::uint32_t domain = 0;
  std::uint16_t version = 0;  // 9 or 10
  friend bool operator==(const DomainKey&, const DomainKey&) = default;
};

// Hashes the exporter address only: all domains of one exporter share a bucket, so what one
// exporter holds is counted by walking its bucket (at most max_domains_per_exporter long, plus
// collisions) and the per-exporter caps cost no memory of their own.
struct DomainKeyHash {
  [[nodiscard]] std::size_t operator()(const DomainKey& k) const noexcept;
};

// Which sampler a learned interval belongs to: samplerId (48, v9 FLOW_SAMPLER_ID) and selectorId
// (302) are separate id spaces.
enum class SamplerKind : std::uint8_t { sampler_id, selector_id };

struct SamplingState {
  struct Entry {
    SamplerKind kind;
    std::uint64_t id;
    std::uint32_t interval;
  };
  std::uint32_t domain_interval = 0;  // from options data that names no sampler; 0 = none learned
  std::uint32_t last_interval = 0;    // the latest interval learned for any sampler id
  std::vector<Entry> samplers;        // sorted by (kind, id)

  // 0 when that sampler is unknown.
  [[nodiscard]] std::uint32_t find(SamplerKind kind, std::uint64_t id) const noexcept;
};

struct Domain {
  std::unordered_map<std::uint16_t, Template> templates;
  SamplingState sampling;
  std::optional<std::int64_t> system_init_ms;  // IPFIX systemInitTimeMilliseconds from options data
  std::uint64_t last_used = 0;  // TemplateCache's use tick when last stored to or decoded with (LRU)

  [[nodiscard]] const Template* find(std::uint16_t id) const noexcept {
    const auto it = templates.find(id);
    return it == templates.end() ? nullptr : &it->second;
  }
};

class TemplateCache {
public:
  explicit TemplateCache(TemplateCacheLimits limits = {});

  [[nodiscard]] const TemplateCacheLimits& limits() const noexcept { return limits_; }

  // The domain, or nullptr when it has sent no template yet (nothing is created).
  [[nodiscard]] Domain* find(const DomainKey& key) noexcept;
  [[nodiscard]] const Template* find_template(const DomainKey& key, std::uint16_t id) const noexcept;

  // A template record compiled by a decoder into scratch() (see begin_template()).
  struct Draft {
    std::uint16_t id = 0;
    bool options = false;
    bool variable = false;
    std::uint32_t min_length = 0;
  };

  // Empties and returns the scratch op list a decoder compiles one template into. Its capacity is
  // max_fields_per_template from construction on, and decoders append at most that many ops (they
  // check the field count first), so compiling never allocates.
  [[nodiscard]] std::vector<ie::FieldOp>& begin_template() noexcept {
    scratch_.clear();
    return scratch_;
  }

  // Stores the template in scratch() under `key`: refreshes an identical one, replaces a different
  // one, or adds it. Refusals: record_limit (min_length over the cap), exporter_limit (a new domain
  // over max_domains), template_limit (a new template over either template cap).
  // `now_ms` (the datagram's receive time) is when the template was last seen, for expiry.
  [[nodiscard]] std::optional<core::Errc> store(const DomainKey& key, const Draft& draft, std::int64_t now_ms = 0);

  // The template `id` of `domain` for data received at `now_ms`; nullptr when there is none, and
  // also when it has expired (see the header comment), in which case it is dropped and `expired`
  // is set.
  [[nodiscard]] const Template* use(const DomainKey& key, Domain& domain, std::uint16_t id, std::int64_t now_ms,
                                    bool& expired) noexcept;

  // IPFIX withdrawals. Withdrawing an unknown id is not an error (RFC 7011 8.1 says the collector
  // ignores it... after logging, which a decoder does not do).
  void withdraw(const DomainKey& key, std::uint16_t id) noexcept;
  void withdraw_all(const DomainKey& key, bool options) noexcept;

  // What an options data record teaches: a sampling interval (for its sampler or selector id, or
  // for the whole domain when it names none) and systemInitTimeMilliseconds. sampler_limit when a
  // new sampler id would pass the cap. `domain` must come from find().
  [[nodiscard]] std::optional<core::Errc> learn(Domain& domain, const ie::RecordExtras& x);

  // The interval that applies to a data record: its own sampling fields; else its sampler or
  // selector id's learned interval; else the domain's (options data naming no sampler); else the
  // latest learned for any sampler of the domain; else 1 (the exporter declared no sampling).
  [[nodiscard]] static std::uint32_t sampling_interval(const Domain* domain, const ie::RecordExtras& x) noexcept;

  [[nodiscard]] std::size_t domain_count() const noexcept { return domains_.size(); }
  // What one exporter address holds (walks its domains only: they share a hash bucket).
  struct ExporterUse {
    std::size_t domains = 0;
    std::size_t templates = 0;
  };
  [[nodiscard]] ExporterUse exporter_use(const core::IpAddress& exporter) const noexcept;
  // Domains evicted (with their templates) to make room for other exporters, since construction.
  [[nodiscard]] std::uint64_t evicted_domains() const noexcept { return evicted_domains_; }
  [[nodiscard]] std::uint64_t evicted_templates() const noexcept { return evicted_templates_; }
  [[nodiscard]] std::size_t template_count() const noexcept { return templates_; }
  // What the cache holds on the heap, in bytes: every hash node (value and links), bucket array,
  // op list and sampler list by its capacity, plus kAllocOverhead per allocation for the
  // allocator's own bookkeeping. Walks the whole cache: for tests and summaries, not per datagram.
  // Never more than limits().memory_bound().
  [[nodiscard]] std::size_t memory_bytes() const noexcept;
  static constexpr std::size_t kAllocOverhead = 16;

private:
  // When a total cap is full: evicts the least recently used domain of the exporter holding the
  // most domains (by_domains) or templates, if it holds at least 2 more than `requester` has.
  bool evict_for(const ExporterUse& requester, bool by_domains) noexcept;

  TemplateCacheLimits limits_;
  std::unordered_map<DomainKey, Domain, DomainKeyHash> domains_;
  std::size_t templates_ = 0;
  std::uint64_t tick_ = 0;  // advances on every store and use: the LRU clock (datagram times may go back)
  // Upper bounds of what the heaviest exporter holds (exact after each scan in evict_for()): an
  // exporter holding that much already is refused without scanning the cache.
  std::size_t heaviest_domains_ = 0;
  std::size_t heaviest_templates_ = 0;
  std::uint64_t evicted_domains_ = 0;
  std::uint64_t evicted_templates_ = 0;
  std::vector<ie::FieldOp> scratch_;
};

// Field bits of a compiled op list; shared by store() and the tests.
[[nodiscard]] std::uint32_t template_field_bits(std::span<const ie::FieldOp> ops) noexcept;

}  // namespace overflowd::decode

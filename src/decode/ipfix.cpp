#include "decode/ipfix.hpp"

namespace overflowd::decode::ipfix {

using core::ByteReader;
using core::Errc;

namespace {

constexpr std::uint16_t kVersion = 10;
constexpr std::uint16_t kEnterpriseBit = 0x8000;

core::Error error(const DomainKey& key, Errc code, std::size_t offset, std::uint16_t template_id = 0) {
  return core::Error{code, static_cast<std::uint32_t>(offset), kVersion, template_id, key.domain};
}

// Template Set (2) or Options Template Set (3), RFC 7011 3.4.1 / 3.4.2, with withdrawals (8.1).
void parse_templates(TemplateCache& cache, const DomainKey& key, std::uint16_t set_id, core::Bytes body,
                     std::size_t body_offset, SetErrors& errors, std::int64_t now_ms) {
  const bool options = set_id == kOptionsTemplateSetId;
  ByteReader r(body);
  while (r.remaining() >= 4) {
    const std::size_t at = body_offset + r.offset();
    const std::uint16_t id = r.u16();
    const std::uint16_t count = r.u16();
    if (count == 0) {  // withdrawal: 4 bytes in either kind of Set
      if (id == set_id) {
        cache.withdraw_all(key, options);
      } else if (id >= kMinDataSetId) {
        cache.withdraw(key, id);
      } else {
        errors.add(error(key, Errc::bad_template, at, id));
        return;
      }
      continue;
    }
    if (id < kMinDataSetId) {
      errors.add(error(key, Errc::bad_template, at, id));
      return;
    }
    std::uint16_t scope_count = 0;
    if (options) {
      scope_count = r.u16();
      if (!r.ok() || scope_count == 0 || scope_count > count) {
        errors.add(error(key, Errc::bad_template, at, id));
        return;
      }
    }
    // Every specifier takes at least 4 bytes: a count the Set cannot hold is refused at once.
    if (std::size_t{count} * 4 > r.remaining()) {
      errors.add(error(key, Errc::bad_template, at, id));
      return;
    }
    const bool compile = count <= cache.limits().max_fields_per_template;
    auto& ops = cache.begin_template();
    TemplateCache::Draft draft{.id = id, .options = options, .variable = false, .min_length = 0};
    for (std::uint16_t i = 0; i < count; ++i) {
      const std::uint16_t raw = r.u16();
      const std::uint16_t length = r.u16();
      const bool enterprise = (raw & kEnterpriseBit) != 0;
      const std::uint32_t pen = enterprise ? r.u32() : 0;
      if (!r.ok()) {  // a length of 0 is legal: the field is skipped
        errors.add(error(key, Errc::bad_template, at, id));
        return;
      }
      if (!compile) continue;  // walked to find the next record, nothing kept
      const auto element = static_cast<std::uint16_t>(raw & ~kEnterpriseBit);
      add_template_field(draft, ops, length,
                         enterprise ? ie::classify_enterprise(pen, element, length) : ie::classify(element, false, length));
    }
    if (!compile) {
      errors.add(error(key, Errc::field_limit, at, id));
      continue;
    }
    if (auto e = cache.store(key, draft, now_ms)) errors.add(error(key, *e, at, id));
  }
  // Fewer than 4 bytes left: padding (shorter than any template record).
}

}  // namespace

core::Result<Header> parse_header(core::Bytes datagram) noexcept {
  ByteReader r(datagram);
  if (!r.has(kHeaderSize)) return core::fail(Errc::short_header, datagram.size(), kVersion);
  Header h;
  h.version = r.u16();
  h.length = r.u16();
  h.export_time = r.u32();
  h.sequence = r.u32();
  h.observation_domain = r.u32();
  if (h.version != kVersion) return core::fail(Errc::bad_version, 0, h.version);
  if (h.length < kHeaderSize || h.length > datagram.size())
    return core::fail(Errc::bad_message_length, 2, kVersion, h.observation_domain);
  return h;
}

core::Result<std::size_t> decode(const core::Datagram& datagram, TemplateCache& cache,
                                 std::vector<core::FlowRecord>& out, SetErrors& errors) {
  const auto header = parse_header(datagram.bytes);
  if (!header) return std::unexpected(header.error());
  const Header& h = *header;
  const DomainKey key{datagram.exporter, h.observation_domain, kVersion};
  if (datagram.bytes.size() > h.length) errors.add(error(key, Errc::trailing_bytes, h.length));

  SetContext ctx{cache, key, datagram, {}, core::SourceType::ipfix, errors};
  ctx.time.export_ms = std::int64_t{h.export_time} * 1000;
  const std::int64_t now_ms = datagram.received_ns / 1'000'000;  // the templates' clock

  ByteReader r(datagram.bytes.first(h.length));
  r.skip(kHeaderSize);
  std::size_t produced = 0;
  while (!r.empty()) {
    const std::size_t at = r.offset();
    if (r.remaining() < 4) {  // Sets must fill the message
      errors.add(error(key, Errc::bad_set_length, at));
      break;
    }
    const std::uint16_t set_id = r.u16();
    const std::uint16_t length = r.u16();
    if (length < 4 || length - 4u > r.remaining()) {
      errors.add(error(key, Errc::bad_set_length, at + 2, set_id >= kMinDataSetId ? set_id : 0));
      break;  // the rest of the message cannot be located
    }
    const core::Bytes body = r.bytes(length - 4u);
    const std::size_t body_offset = at + 4;
    if (set_id == kTemplateSetId || set_id == kOptionsTemplateSetId) {
      parse_templates(cache, key, set_id, body, body_offset, errors, now_ms);
    } else if (set_id < kMinDataSetId) {
      errors.skip();  // reserved Set id
    } else {
      Domain* domain = cache.find(key);
      bool expired = false;
      const Template* t = domain ? cache.use(key, *domain, set_id, now_ms, expired) : nullptr;
      if (!t) {
        errors.add(error(key, expired ? Errc::template_expired : Errc::unknown_template, at, set_id));
        continue;
      }
      produced += decode_data_set(ctx, *domain, *t, body, body_offset, out);
    }
  }
  return produced;
}

}  // namespace overflowd::decode::ipfix

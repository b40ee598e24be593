#include "decode/netflow_v9.hpp"

namespace overflowd::decode::netflow_v9 {

using core::ByteReader;
using core::Errc;

namespace {

constexpr std::uint16_t kVersion = 9;

core::Error error(const DomainKey& key, Errc code, std::size_t offset, std::uint16_t template_id = 0) {
  return core::Error{code, static_cast<std::uint32_t>(offset), kVersion, template_id, key.domain};
}

// Template FlowSet (id 0): records of template id, field count, then (type, length) pairs.
void parse_templates(TemplateCache& cache, const DomainKey& key, core::Bytes body, std::size_t body_offset,
                     SetErrors& errors, std::int64_t now_ms) {
  ByteReader r(body);
  while (r.remaining() >= 4) {
    const std::size_t at = body_offset + r.offset();
    const std::uint16_t id = r.u16();
    const std::uint16_t count = r.u16();
    if (id < kMinDataSetId || count == 0 || std::size_t{count} * 4 > r.remaining()) {
      errors.add(error(key, Errc::bad_template, at, id));
      return;
    }
    if (count > cache.limits().max_fields_per_template) {
      r.skip(std::size_t{count} * 4);
      errors.add(error(key, Errc::field_limit, at, id));
      continue;
    }
    auto& ops = cache.begin_template();
    TemplateCache::Draft draft{.id = id, .options = false, .variable = false, .min_length = 0};
    for (std::uint16_t i = 0; i < count; ++i) {
      const std::uint16_t type = r.u16();
      const std::uint16_t length = r.u16();  // 0 is legal: the field is skipped
      add_template_field(draft, ops, length, ie::classify(type, false, length));
    }
    if (auto e = cache.store(key, draft, now_ms)) errors.add(error(key, *e, at, id));
  }
  // Fewer than 4 bytes left: padding.
}

// Options Template FlowSet (id 1): template id, option scope length, option length (both in bytes),
// then the scope fields and the option fields as (type, length) pairs.
void parse_options_templates(TemplateCache& cache, const DomainKey& key, core::Bytes body, std::size_t body_offset,
                             SetErrors& errors, std::int64_t now_ms) {
  ByteReader r(body);
  while (r.remaining() >= 6) {
    const std::size_t at = body_offset + r.offset();
    const std::uint16_t id = r.u16();
    const std::uint16_t scope_length = r.u16();
    const std::uint16_t option_length = r.u16();
    const std::size_t fields_length = std::size_t{scope_length} + option_length;
    if (id < kMinDataSetId || scope_length % 4 != 0 || option_length % 4 != 0 || fields_length == 0 ||
        fields_length > r.remaining()) {
      errors.add(error(key, Errc::bad_template, at, id));
      return;
    }
    const std::size_t count = fields_length / 4;
    if (count > cache.limits().max_fields_per_template) {
      r.skip(fields_length);
      errors.add(error(key, Errc::field_limit, at, id));
      continue;
    }
    auto& ops = cache.begin_template();
    TemplateCache::Draft draft{.id = id, .options = true, .variable = false, .min_length = 0};
    const std::size_t scope_count = scope_length / 4u;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint16_t type = r.u16();
      const std::uint16_t length = r.u16();  // 0 is legal (Juniper's System scope): skipped
      // Scope types (1 System, 2 Interface, 3 Line Card, 4 Cache, 5 Template) are not element ids.
      const bool variable = length == ie::kVariableLength;
      add_template_field(draft, ops, length,
                         i < scope_count ? (variable ? ie::Op::skip_variable : ie::Op::skip) : ie::classify(type, false, length));
    }
    if (auto e = cache.store(key, draft, now_ms)) errors.add(error(key, *e, at, id));
  }
  // Fewer than 6 bytes left: padding.
}

}  // namespace

core::Result<Header> parse_header(core::Bytes datagram) noexcept {
  ByteReader r(datagram);
  if (!r.has(kHeaderSize)) return core::fail(Errc::short_header, datagram.size(), kVersion);
  Header h;
  h.version = r.u16();
  h.count = r.u16();
  h.sys_uptime = r.u32();
  h.unix_secs = r.u32();
  h.sequence = r.u32();
  h.source_id = r.u32();
  if (h.version != kVersion) return core::fail(Errc::bad_version, 0, h.version);
  return h;
}

core::Result<std::size_t> decode(const core::Datagram& datagram, TemplateCache& cache,
                                 std::vector<core::FlowRecord>& out, SetErrors& errors) {
  const auto header = parse_header(datagram.bytes);
  if (!header) return std::unexpected(header.error());
  const Header& h = *header;
  const DomainKey key{datagram.exporter, h.source_id, kVersion};

  SetContext ctx{cache, key, datagram, {}, core::SourceType::netflow, errors};
  ctx.time.export_ms = std::int64_t{h.unix_secs} * 1000;
  ctx.time.sys_uptime_ms = h.sys_uptime;
  ctx.time.has_uptime = true;
  const std::int64_t now_ms = datagram.received_ns / 1'000'000;  // the templates' clock

  ByteReader r(datagram.bytes);
  r.skip(kHeaderSize);
  std::size_t produced = 0;
  while (r.remaining() >= 4) {
    const std::size_t at = r.offset();
    const std::uint16_t set_id = r.u16();
    const std::uint16_t length = r.u16();
    if (length < 4 || length - 4u > r.remaining()) {
      errors.add(error(key, Errc::bad_set_length, at + 2, set_id >= kMinDataSetId ? set_id : 0));
      break;  // the rest of the datagram cannot be located
    }
    const core::Bytes body = r.bytes(length - 4u);
    const std::size_t body_offset = at + 4;
    if (set_id == kTemplateSetId) {
      parse_templates(cache, key, body, body_offset, errors, now_ms);
    } else if (set_id == kOptionsTemplateSetId) {
      parse_options_templates(cache, key, body, body_offset, errors, now_ms);
    } else if (set_id < kMinDataSetId) {
      errors.skip();  // reserved FlowSet id
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

}  // namespace overflowd::decode::netflow_v9

#include "decode/flow_sets.hpp"

namespace overflowd::decode {

using core::ByteReader;
using core::Errc;
using core::FlowRecord;

void append_op(std::vector<ie::FieldOp>& ops, ie::FieldOp op) {
  if (op.op == ie::Op::skip && !ops.empty() && ops.back().op == ie::Op::skip &&
      std::uint32_t{ops.back().length} + op.length < ie::kVariableLength) {
    ops.back().length = static_cast<std::uint16_t>(ops.back().length + op.length);
    return;
  }
  ops.push_back(op);
}

void add_template_field(TemplateCache::Draft& draft, std::vector<ie::FieldOp>& ops, std::uint16_t length, ie::Op op) {
  if (length == 0) return;  // legal, and carries nothing (RFC 3954 and 7011 do not forbid it)
  const bool variable = length == ie::kVariableLength;
  draft.variable |= variable;
  draft.min_length += variable ? 1u : length;
  append_op(ops, {length, op});
}

namespace {

bool is_padding(core::Bytes rest) noexcept {
  if (rest.size() < 4) return true;
  for (std::byte b : rest)
    if (b != std::byte{0}) return false;
  return true;
}

// A record of template `t` before its fields are read: what is the same for every record of a set.
FlowRecord prototype(const SetContext& ctx, const Template& t, std::uint32_t interval) noexcept {
  FlowRecord f;
  f.fields = t.fields;
  f.exporter = ctx.datagram.exporter;
  f.source_type = ctx.source_type;
  f.source_version = ctx.key.version;
  f.sampling_interval = interval;
  return f;
}

// What needs the whole record: its own sampling fields, and its times.
inline void finish(const SetContext& ctx, const Domain& domain, const Template& t, ie::RecordExtras& x,
                   FlowRecord& f) noexcept {
  if (t.sampling) f.sampling_interval = TemplateCache::sampling_interval(&domain, x);
  if (t.times) {
    ie::resolve_times(x, ctx.time, f);
    if (!(f.fields & core::Field::kTimes)) ctx.errors.note_no_time();
  }
  ctx.errors.note(ie::resolve_record(x, t.dual_stack, f));
}

core::Error set_error(const SetContext& ctx, Errc code, std::size_t offset, std::uint16_t template_id) {
  return core::Error{code, static_cast<std::uint32_t>(offset), ctx.key.version, template_id, ctx.key.domain};
}

}  // namespace

std::size_t decode_data_set(SetContext& ctx, Domain& domain, const Template& t, core::Bytes body,
                            std::size_t body_offset, std::vector<FlowRecord>& out) {
  ctx.time.system_init_ms = domain.system_init_ms;
  ByteReader r(body);
  const std::size_t base = out.size();
  std::size_t produced = 0;

  if (t.options) {
    // Options data: only the sampling state and systemInitTime are kept.
    while (r.remaining() >= t.min_length) {
      const std::size_t start = r.offset();
      FlowRecord scratch;
      ie::RecordExtras x;
      ie::apply_all(r, t.ops, scratch, x);
      if (!r.ok()) {
        ctx.errors.add(set_error(ctx, Errc::truncated_records, body_offset + start, t.id));
        return 0;
      }
      if (r.offset() - start > ctx.cache.limits().max_record_length) {
        ctx.errors.add(set_error(ctx, Errc::record_limit, body_offset + start, t.id));
        return 0;
      }
      if (auto e = ctx.cache.learn(domain, x)) ctx.errors.add(set_error(ctx, *e, body_offset + start, t.id));
    }
    if (!is_padding(r.rest())) ctx.errors.add(set_error(ctx, Errc::truncated_records, body_offset + r.offset(), t.id));
    return 0;
  }
  // The domain's interval, for every record that names no sampler of its own.
  const FlowRecord proto = prototype(ctx, t, TemplateCache::sampling_interval(&domain, ie::RecordExtras{}));
  if (!t.variable && !t.biflow) {
    // Fixed-length records: the count follows from the length, so the output grows once.
    const std::size_t len = t.min_length;  // >= 1: a template whose fields are all empty is refused
    const std::size_t count = body.size() / len;
    out.resize(base + count, proto);
    for (std::size_t i = 0; i < count; ++i) {
      ByteReader rec = r.take(len);
      FlowRecord& f = out[base + i];
      ie::RecordExtras x;
      ie::apply_all(rec, t.ops, f, x);
      finish(ctx, domain, t, x, f);
    }
    produced = count;
  } else {
    while (r.remaining() >= t.min_length) {
      const std::size_t start = r.offset();
      FlowRecord& f = out.emplace_back(proto);
      ie::RecordExtras x;
      ie::apply_all(r, t.ops, f, x);
      if (!r.ok()) {
        out.pop_back();
        ctx.errors.add(set_error(ctx, Errc::truncated_records, body_offset + start, t.id));
        return produced;
      }
      if (r.offset() - start > ctx.cache.limits().max_record_length) {
        out.pop_back();
        ctx.errors.add(set_error(ctx, Errc::record_limit, body_offset + start, t.id));
        return produced;
      }
      finish(ctx, domain, t, x, f);
      ++produced;
      if (t.biflow) {  // RFC 5103: the reverse direction is a flow of its own
        FlowRecord reverse;
        if (ie::reverse_flow(x, out.back(), reverse)) {
          ctx.errors.note(ie::resolve_counts(reverse));
          out.push_back(reverse);
          ++produced;
        }
      }
    }
  }
  if (!is_padding(r.rest())) {
    ctx.errors.add(set_error(ctx, Errc::truncated_records, body_offset + r.offset(), t.id));
  }
  return produced;
}

}  // namespace overflowd::decode

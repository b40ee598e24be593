#include "report/report_schema.hpp"

#include <array>

#include "report/json_writer.hpp"

namespace overflowd::report {

using core::Field;
using core::FlowRecord;

void MemberWriter::key(std::string_view k) {
  if (!first) out.push_back(',');
  first = false;
  out.push_back('"');
  out += k;
  out += "\":";
}

void MemberWriter::uint(std::string_view k, std::uint64_t v) {
  key(k);
  json::append_uint(out, v);
}

void MemberWriter::integer(std::string_view k, std::int64_t v) {
  key(k);
  json::append_int(out, v);
}

void MemberWriter::address(std::string_view k, const core::IpAddress& a) {
  key(k);
  char buf[core::IpAddress::kMaxText];
  out.push_back('"');
  out.append(buf, a.format(buf));
  out.push_back('"');
}

void MemberWriter::text(std::string_view k, std::string_view v) {
  key(k);
  json::append_string(out, v);
}

namespace {

using F = ReportFields;
using W = MemberWriter;
using N = std::string_view;

using core::InterfaceFormat;
constexpr bool is_ifindex(const FlowRecord& f, InterfaceFormat k) {
  return f.has(Field::kInterfaces) && k == InterfaceFormat::ifindex;
}
constexpr bool is_other(const FlowRecord& f, InterfaceFormat k) {
  return f.has(Field::kInterfaces) && k != InterfaceFormat::ifindex;
}
constexpr bool has_value(const FlowRecord& f, InterfaceFormat k) {
  return f.has(Field::kInterfaces) && (k == InterfaceFormat::discarded || k == InterfaceFormat::multiple);
}

// The rows. A row's build writes its member (named by the row) when the flow record has it.
constexpr auto kSchema = std::to_array<SchemaField>({
    // contact (from the sender's configuration, not the flow: report_builder.cpp writes it)
    {.section = Section::contact, .json = "email", .type = FieldType::text, .text = &F::email, .column = "email"},
    {.section = Section::contact, .json = "identity", .type = FieldType::text, .text = &F::identity, .column = "identity"},
    // metadata: the class and reasons (the suspicion policy, issue 16), the time the report was made
    {.section = Section::metadata, .json = "class", .type = FieldType::text, .text = &F::report_class, .column = "class"},
    {.section = Section::metadata, .json = "reasons", .type = FieldType::text, .text = &F::reasons, .column = "reasons",
     .reason_classes = true},
    // metadata.coherent: JSON true when path-coherent sampling's keyed draw picked the flow, absent
    // otherwise (report_builder.cpp writes it); the receiver keeps it (0 or 1) for /api/paths.
    {.section = Section::metadata, .json = "coherent", .type = FieldType::boolean, .flag = &F::coherent,
     .column = "coherent"},
    // metadata.rotation: the sender's latest rotation statement of its key, for a period after it
    // (an object, document.hpp rotation_member; report_builder.cpp writes it from the settings
    // [report] rotation and rotation_period). The receiver checks it in ingest (Accepted::rotation)
    // and links the keys in its store; not a column.
    {.section = Section::metadata, .json = "rotation", .type = FieldType::text},
    {.section = Section::metadata, .json = "time", .type = FieldType::number, .number = &F::time,
     .present = &F::has_time, .column = "time"},
    // flowdata.sourcetype
    {.section = Section::sourcetype, .json = "type", .type = FieldType::text, .text = &F::source_type,
     .column = "source_type"},
    {.section = Section::sourcetype, .json = "version", .type = FieldType::integer, .integer = &F::source_version,
     .column = "source_version"},
    // flowdata.data, sorted by name
    {.section = Section::data, .json = "bcount", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kBytes)) w.uint(n, f.bcount); },
     .integer = &F::bcount, .column = "bcount"},
    {.section = Section::data, .json = "daddr", .type = FieldType::address,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kDstAddr)) w.address(n, f.dst); },
     .address = &F::daddr, .column = "daddr", .range_index = true},
    {.section = Section::data, .json = "dport", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kPorts)) w.uint(n, f.dport); },
     .integer = &F::dport, .column = "dport"},
    {.section = Section::data, .json = "dst_as", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kAsNumbers)) w.uint(n, f.dst_as); },
     .integer = &F::dst_as, .column = "dst_as"},
    {.section = Section::data, .json = "dst_mask", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kMasks)) w.uint(n, f.dst_mask); }},
    {.section = Section::data, .json = "etime", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kTimes)) w.integer(n, f.etime_ms); },
     .integer = &F::etime, .column = "etime"},
    {.section = Section::data, .json = "exporter", .type = FieldType::address,
     .build = [](W& w, N n, const FlowRecord& f) { if (!f.exporter.empty()) w.address(n, f.exporter); },
     .address = &F::exporter, .column = "exporter"},
    {.section = Section::data, .json = "flags", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kTcpFlags)) w.uint(n, f.tcp_flags); },
     .integer = &F::tcp_flags, .column = "tcp_flags"},
    {.section = Section::data, .json = "icmp_code", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kIcmp)) w.uint(n, f.icmp_code); }},
    {.section = Section::data, .json = "icmp_type", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kIcmp)) w.uint(n, f.icmp_type); }},
    // input/output: the ifIndex when the interface format says it is one; else what it was instead
    // (input_format), and for discarded and multiple the reason code or interface count (input_value).
    {.section = Section::data, .json = "input", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (is_ifindex(f, f.input_format)) w.uint(n, f.input); },
     .integer = &F::input_if, .column = "input_if"},
    {.section = Section::data, .json = "input_format", .type = FieldType::text,
     .build = [](W& w, N n, const FlowRecord& f) { if (is_other(f, f.input_format)) w.text(n, core::to_string(f.input_format)); }},
    {.section = Section::data, .json = "input_value", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (has_value(f, f.input_format)) w.uint(n, f.input); }},
    {.section = Section::data, .json = "nexthop", .type = FieldType::address,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kNextHop)) w.address(n, f.nexthop); },
     .address = &F::nexthop, .column = "nexthop"},
    {.section = Section::data, .json = "output", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (is_ifindex(f, f.output_format)) w.uint(n, f.output); },
     .integer = &F::output_if, .column = "output_if"},
    {.section = Section::data, .json = "output_format", .type = FieldType::text,
     .build = [](W& w, N n, const FlowRecord& f) { if (is_other(f, f.output_format)) w.text(n, core::to_string(f.output_format)); }},
    {.section = Section::data, .json = "output_value", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (has_value(f, f.output_format)) w.uint(n, f.output); }},
    {.section = Section::data, .json = "pcount", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kPackets)) w.uint(n, f.pcount); },
     .integer = &F::pcount, .column = "pcount"},
    {.section = Section::data, .json = "protocol", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kProtocol)) w.uint(n, f.protocol); },
     .integer = &F::protocol, .column = "protocol"},
    {.section = Section::data, .json = "saddr", .type = FieldType::address,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kSrcAddr)) w.address(n, f.src); },
     .address = &F::saddr, .column = "saddr", .range_index = true},
    {.section = Section::data, .json = "sampling_interval", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { w.uint(n, f.sampling_interval); },
     .integer = &F::sampling_interval, .column = "sampling_interval"},
    {.section = Section::data, .json = "sport", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kPorts)) w.uint(n, f.sport); },
     .integer = &F::sport, .column = "sport"},
    {.section = Section::data, .json = "src_as", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kAsNumbers)) w.uint(n, f.src_as); },
     .integer = &F::src_as, .column = "src_as"},
    {.section = Section::data, .json = "src_mask", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kMasks)) w.uint(n, f.src_mask); }},
    {.section = Section::data, .json = "stime", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kTimes)) w.integer(n, f.stime_ms); },
     .integer = &F::stime, .column = "stime"},
    {.section = Section::data, .json = "tos", .type = FieldType::integer,
     .build = [](W& w, N n, const FlowRecord& f) { if (f.has(Field::kTos)) w.uint(n, f.tos); },
     .integer = &F::tos, .column = "tos"},
});

// The builder writes flowdata.data in the table's order: it must be RFC 8785's (sorted by name).
constexpr bool data_sorted() {
  std::string_view last;
  for (const auto& r : kSchema) {
    if (r.section != Section::data) continue;
    if (!last.empty() && !(last < r.json)) return false;
    last = r.json;
  }
  return true;
}
static_assert(data_sorted(), "flowdata.data rows must be sorted by their JSON name");

}  // namespace

std::span<const SchemaField> report_schema() noexcept { return kSchema; }

const SchemaField* find_field(Section section, std::string_view json) noexcept {
  for (const auto& r : kSchema)
    if (r.section == section && r.json == json && r.kept()) return &r;
  return nullptr;
}

}  // namespace overflowd::report

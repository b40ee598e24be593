// The report's fields in one table: for each, where it sits in the report's JSON, its type, the
// flow record member the sender's builder writes it from, where the receiver keeps it
// (ReportFields) and its column in the receiver's store. Driven from this table:
//   - the builder (report_builder.cpp): flowdata.data, in the table's (sorted, RFC 8785) order
//   - the receiver's fast scanner (receive/report_scan.cpp): which members it reads, into what
//   - the reference extraction (receive/ingest.cpp, extract_fields): the same over a DOM
//   - the store (store/store.cpp): the reports table's columns and its insert (named binds)
//   - the API (store/queries.cpp): the row reader (columns by name) and the JSON of a report
// Adding a field is one row here (and, to store it, a migration adding its column) plus its tests;
// tests/report/report_schema_test.cpp walks every row through builder -> scanner -> reference ->
// store -> API.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/flow_record.hpp"
#include "core/ip_address.hpp"

namespace overflowd::report {

// The fields of a report that the receiver stores, indexes and answers with. Fields missing or of
// the wrong type are left at their defaults (a report is stored as signed, whatever it holds).
struct ReportFields {
  double time = 0;  // metadata.time, Unix seconds
  bool has_time = false;
  std::string email;
  std::string identity;
  std::string report_class;  // metadata.class: INFORMATIONAL, SUSPICIOUS (issue 16)
  std::string reasons;       // metadata.reasons: each reason's class, joined by ','
  bool coherent = false;     // metadata.coherent: the path-coherent draw picked the flow (issue 19)
  std::string source_type;  // flowdata.sourcetype.type
  std::int64_t source_version = 0;
  core::IpAddress saddr, daddr, exporter;
  std::int64_t sport = 0, dport = 0, protocol = 0;
  std::int64_t pcount = 0, bcount = 0;
  std::int64_t stime = 0, etime = 0;  // Unix ms
  std::int64_t input_if = 0, output_if = 0, src_as = 0, dst_as = 0;
  std::int64_t sampling_interval = 1;
  std::int64_t tcp_flags = 0, tos = 0;  // flowdata.data.flags (TCP flags, OR-ed over the flow), .tos
  core::IpAddress nexthop;
};

// The object a field is a member of.
enum class Section : std::uint8_t { contact, metadata, sourcetype, data };
[[nodiscard]] constexpr std::string_view json_path(Section s) noexcept {
  switch (s) {
    case Section::contact:
      return "contact";
    case Section::metadata:
      return "metadata";
    case Section::sourcetype:
      return "flowdata.sourcetype";
    case Section::data:
      return "flowdata.data";
  }
  return "";
}

enum class FieldType : std::uint8_t {
  text,     // a JSON string
  integer,  // a JSON integer (kept as a signed 64-bit integer; larger ones as INT64_MAX)
  number,   // a JSON number (kept as a double)
  address,  // a JSON string holding an IPv4 or IPv6 address (kept unmapped; anything else: empty)
  boolean,  // JSON true or false (kept as a bool, stored as 0 or 1; anything else: false)
};

// Appends the members of one JSON object, with the commas between them (report_builder.cpp).
struct MemberWriter {
  std::string& out;
  bool first = true;
  void key(std::string_view k);
  void uint(std::string_view k, std::uint64_t v);
  void integer(std::string_view k, std::int64_t v);
  void address(std::string_view k, const core::IpAddress& a);
  void text(std::string_view k, std::string_view v);
};

struct SchemaField {
  Section section;
  std::string_view json;  // its name in the section's object
  FieldType type;
  // The sender's side (flowdata.data only): writes the member when the flow record has it.
  void (*build)(MemberWriter& out, std::string_view json, const core::FlowRecord& flow) = nullptr;
  // The receiver's side: the ReportFields member that keeps it (one, by type; none: not kept) and
  // its column in the reports table.
  std::int64_t ReportFields::*integer = nullptr;
  std::string ReportFields::*text = nullptr;
  core::IpAddress ReportFields::*address = nullptr;
  double ReportFields::*number = nullptr;
  bool ReportFields::*present = nullptr;  // a number: whether the report had it (null in the store otherwise)
  bool ReportFields::*flag = nullptr;     // a boolean
  std::string_view column = {};
  bool range_index = false;  // an address also kept as 16 sortable bytes (<column>_bin) for prefix queries
  // metadata.reasons: an array of objects, kept (in `text`) as their "class" members joined by ','
  // (a report stored, read and answered as text from there on).
  bool reason_classes = false;

  [[nodiscard]] constexpr bool kept() const noexcept { return integer || text || address || number || flag; }
};

// Every field, by section; within flowdata.data in sorted (RFC 8785) order, as the builder writes it.
[[nodiscard]] std::span<const SchemaField> report_schema() noexcept;

// The kept field of `section` named `json`, or null.
[[nodiscard]] const SchemaField* find_field(Section section, std::string_view json) noexcept;

}  // namespace overflowd::report

// The report schema (report/report_schema.hpp) walked row by row: every field a flow record has
// is written by the builder, read back the same by the fast scanner and by the reference, stored
// in its column, and answered by the API under its name, with the value that was signed.
#include "report/report_schema.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "receive/ingest.hpp"
#include "receive/receive_test_util.hpp"
#include "policy/policy.hpp"
#include "report/document.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"

namespace overflowd::receive {
namespace {

using nlohmann::json;
using report::FieldType;
using report::SchemaField;
using report::Section;
using testing::kNow;

// A flow with every field present and no two numbers alike, so that a field read from the wrong
// place shows.
core::FlowRecord every_field() {
  core::FlowRecord f;
  f.src = *core::IpAddress::parse("192.0.2.10");
  f.dst = *core::IpAddress::parse("2001:db8::7");
  f.exporter = *core::IpAddress::parse("203.0.113.9");
  f.nexthop = *core::IpAddress::parse("198.51.100.1");
  f.pcount = 1001;
  f.bcount = 1002003;
  f.stime_ms = kNow / 1'000'000 - 9000;
  f.etime_ms = kNow / 1'000'000 - 3000;
  f.input = 11;
  f.output = 12;
  f.src_as = 64501;
  f.dst_as = 64502;
  f.sampling_interval = 13;
  f.sport = 40001;
  f.dport = 443;
  f.source_version = 10;
  f.source_type = core::SourceType::ipfix;
  f.protocol = 1;
  f.tcp_flags = 18;
  f.tos = 14;
  f.src_mask = 24;
  f.dst_mask = 48;
  f.icmp_type = 8;
  f.icmp_code = 3;
  f.fields = ~std::uint32_t{0};
  return f;
}

const json& section_of(const json& report, Section s) {
  switch (s) {
    case Section::contact:
      return report.at("contact");
    case Section::metadata:
      return report.at("metadata");
    case Section::sourcetype:
      return report.at("flowdata").at("sourcetype");
    case Section::data:
      return report.at("flowdata").at("data");
  }
  return report;
}

// The field's value as ReportFields keeps it, as JSON (addresses as text).
json kept_value(const ReportFields& f, const SchemaField& field) {
  switch (field.type) {
    case FieldType::text:
      return f.*field.text;
    case FieldType::integer:
      return f.*field.integer;
    case FieldType::boolean:
      return f.*field.flag;
    case FieldType::number:
      return f.*field.present ? json(f.*field.number) : json(nullptr);
    case FieldType::address:
      return (f.*field.address).empty() ? std::string() : (f.*field.address).to_string();
  }
  return nullptr;
}

const json& api_value(const json& row, const SchemaField& field) {
  const std::string name(field.json);
  switch (field.section) {
    case Section::contact:
      return row.at("contact").at(name);
    case Section::metadata:
      return row.at(name);
    case Section::sourcetype:
      return row.at("source").at(name);
    case Section::data:
      return row.at("flow").at(name);
  }
  return row;
}

TEST(ReportSchema, FlowdataDataRowsAreInTheOrderTheBuilderWritesAndNamesAreUnique) {
  std::set<std::pair<Section, std::string_view>> names;
  std::set<std::string_view> columns;
  for (const SchemaField& field : report::report_schema()) {
    EXPECT_TRUE(names.insert({field.section, field.json}).second) << field.json;
    if (!field.column.empty()) {
      EXPECT_TRUE(columns.insert(field.column).second) << field.column;
    }
    EXPECT_EQ(field.kept(), !field.column.empty()) << field.json << ": a kept field has a column, and only it";
    EXPECT_EQ(field.section == Section::data, field.build != nullptr) << field.json << ": flowdata.data comes from the flow";
    EXPECT_EQ(report::find_field(field.section, field.json), field.kept() ? &field : nullptr);
  }
}

TEST(ReportSchema, EveryRowRoundTripsFromTheBuilderThroughTheScannerTheReferenceTheStoreAndTheApi) {
  const auto k = testing::key(31);
  report::ReportBuilder builder(report::ReportConfig{report::Contact{"noc@schema.example", "Schema Test Net"}});
  std::string message;
  // A SUSPICIOUS report picked by the coherent draw, so that metadata.class, metadata.reasons and
  // metadata.coherent have something to carry.
  const policy::Reason reasons[] = {{policy::ReasonClass::spoofed_source, "urpf", ""},
                                    {policy::ReasonClass::listed_source, "drop", "drop-list"}};
  builder.build(every_field(), kNow, message, reasons, true);
  report::Signer signer(k);
  report::SignedReport signed_report;
  signer.sign(message, signed_report);
  const json built = json::parse(message);
  // Interfaces that are not ifIndexes are written under other names (input_format, input_value):
  // a second flow has them, so that every row is written by one of the two. The second is also
  // reported as the coherent draw's pick (metadata.coherent).
  core::FlowRecord other = every_field();
  other.input_format = core::InterfaceFormat::discarded;
  other.output_format = core::InterfaceFormat::multiple;
  // And it carries a rotation statement (metadata.rotation), as a sender with [report] rotation does.
  report::ReportConfig other_config{report::Contact{"noc@schema.example", "Schema Test Net"}};
  const auto member = report::rotation_member(report::as_bytes(report::build_rotation(testing::key(30), k, 1'700'000'000)));
  ASSERT_TRUE(member.has_value());
  other_config.rotation = *member;
  other_config.rotation_until_ns = INT64_MAX;
  std::string other_message;
  report::ReportBuilder(other_config).build(other, kNow, other_message, {}, true);
  const json other_built = json::parse(other_message);

  // The scanner and the reference read the same fields, from either form.
  for (const std::string& line : {signed_report.line, std::string(signed_report.compact())}) {
    const auto fast = ingest_fast(line, kNow, SkewPolicy{});
    ASSERT_TRUE(fast.has_value()) << "the fast path is sure of the sender's own layout";
    const Verdict reference = ingest_reference(line, kNow, SkewPolicy{});
    EXPECT_EQ(verdict_difference(*fast, reference), "");
    ASSERT_TRUE(std::holds_alternative<Accepted>(*fast));
  }
  const Verdict verdict = ingest(signed_report.line, kNow, SkewPolicy{});
  const ReportFields& fields = std::get<Accepted>(verdict).fields;

  // Stored, then answered by the API.
  testing::TempDb db;
  store::StoreConfig sc;
  sc.path = db.path();
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  const Item item{Arrival{Input::udp, "127.0.0.1", kNow}, verdict, SpoofStatus::not_mine};
  ASSERT_TRUE((*s)->write(std::span(&item, 1)));
  auto q = store::SqliteQueries::open(db.path());
  ASSERT_TRUE(q) << q.error();
  const json rows = (*q)->reports(store::ReportFilter{})["reports"];
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];

  for (const SchemaField& field : report::report_schema()) {
    SCOPED_TRACE(std::string(json_path(field.section)) + "." + std::string(field.json));
    const json& section = section_of(built, field.section);
    const bool written = section.contains(field.json) || section_of(other_built, field.section).contains(field.json);
    ASSERT_TRUE(written) << "the builder writes every field the flow has";
    if (!field.kept()) continue;
    ASSERT_TRUE(section.contains(field.json)) << "a kept field is in the first flow's report";
    json signed_value = section.at(std::string(field.json));
    if (field.reason_classes) {  // kept as the reasons' classes, joined
      ASSERT_EQ(signed_value.size(), 2u);
      signed_value = signed_value[0]["class"].get<std::string>() + "," + signed_value[1]["class"].get<std::string>();
      EXPECT_EQ(signed_value, "spoofed-source,listed-source");
    }
    EXPECT_EQ(kept_value(fields, field), signed_value) << "read as signed";
    EXPECT_EQ(api_value(row, field), signed_value) << "stored and answered as signed";
  }
}

TEST(ReportSchema, ReportsAreFilteredByClass) {
  const auto k = testing::key(32);
  report::ReportBuilder builder(report::ReportConfig{});
  report::Signer signer(k);
  testing::TempDb db;
  store::StoreConfig sc;
  sc.path = db.path();
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  const policy::Reason reasons[] = {{policy::ReasonClass::syn_flood, "syn-only", ""}};
  for (int i = 0; i < 3; ++i) {
    core::FlowRecord f = every_field();
    f.sport = static_cast<std::uint16_t>(1000 + i);
    std::string message;
    builder.build(f, kNow, message, i == 1 ? std::span<const policy::Reason>(reasons) : std::span<const policy::Reason>());
    report::SignedReport signed_report;
    signer.sign(message, signed_report);
    const Item item{Arrival{Input::udp, "127.0.0.1", kNow}, ingest(signed_report.line, kNow, SkewPolicy{}),
                    SpoofStatus::not_mine};
    ASSERT_TRUE((*s)->write(std::span(&item, 1)));
  }
  auto q = store::SqliteQueries::open(db.path());
  ASSERT_TRUE(q) << q.error();
  store::ReportFilter f;
  f.report_class = "SUSPICIOUS";
  const json sus = (*q)->reports(f)["reports"];
  ASSERT_EQ(sus.size(), 1u);
  EXPECT_EQ(sus[0]["reasons"], "syn-flood");
  EXPECT_EQ(sus[0]["flow"]["sport"], 1001);
  f.report_class = "INFORMATIONAL";
  EXPECT_EQ((*q)->reports(f)["reports"].size(), 2u);
  EXPECT_EQ((*q)->reports(store::ReportFilter{})["reports"].size(), 3u);
}

}  // namespace
}  // namespace overflowd::receive

// Hostile datagrams against every decoder, through the Dispatcher as live input reaches it:
// - truncation at every byte offset of real datagrams: the hand-built datagrams of the fuzz seed
//   corpora (NetFlow v5 from synth, v9 and IPFIX after RFC 3954 / 7011, sFlow after sflow.org's
//   XDR), softflowd's own v9 and IPFIX exports (tests/decode/data, scripts/make_softflowd_exports.py),
//   and the first datagrams of ../shared/data/netflow_4M.pcap and sflow.pcap. Every prefix is
//   refused or decoded, and what it yields is never more than the whole datagram yields: the
//   records of a prefix are the whole's first records, field for field;
// - counts and lengths that lie, swept over every value of the 16-bit fields (v5 count, v9 count,
//   IPFIX message length, set lengths) and over wide ranges of sFlow's 32-bit ones (sample count,
//   record count, sample / record / header lengths, nested inside each other);
// - zero-length and oversized fields (every IPFIX field length from 0 to 65535), and variable-length
//   abuse (RFC 7011 section 7: the 255 escape with its 2-byte length cut short or past the set,
//   non-minimal lengths, records over the cap, many empty values).
// Each prefix or variant is copied into a buffer of exactly its size, so a read past the end is a
// heap overflow that AddressSanitizer reports (make test-asan runs this suite under it).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "decode/dispatch.hpp"
#include "decode/export_builder.hpp"
#include "decode/sflow_v5.hpp"
#include "source/pcap_source.hpp"
#include "support/byte_builder.hpp"

namespace overflowd {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using core::Errc;
using core::FlowRecord;
using core::Protocol;
using test::Builder;
using test::ipfix_header;

const fs::path kRoot = OVERFLOWD_SOURCE_DIR;  // tests/CMakeLists.txt

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Datagrams that belong together (the first ones define templates the later ones use).
struct Sequence {
  std::string name;
  std::vector<Bytes> datagrams;
};

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".keep") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The hand-built datagrams of the seed corpora. v9 / IPFIX seeds are [2-byte split][payload],
// two datagrams cut at the split point (see fuzz/template_fuzz.hpp).
std::vector<Sequence> hand_built() {
  std::vector<Sequence> out;
  for (const char* name : {"netflow_v5", "sflow_v5"})
    for (const auto& p : files_in(kRoot / "fuzz" / "corpus" / name)) out.push_back({p.filename().string(), {read_file(p)}});
  for (const char* name : {"netflow_v9", "ipfix"}) {
    for (const auto& p : files_in(kRoot / "fuzz" / "corpus" / name)) {
      const Bytes seed = read_file(p);
      if (seed.size() < 2) continue;
      const std::size_t split = (std::size_t{seed[0]} << 8 | seed[1]) % (seed.size() - 2 + 1);
      Sequence s{std::string(name) + "/" + p.filename().string(), {}};
      if (split > 0) s.datagrams.emplace_back(seed.begin() + 2, seed.begin() + 2 + static_cast<std::ptrdiff_t>(split));
      s.datagrams.emplace_back(seed.begin() + 2 + static_cast<std::ptrdiff_t>(split), seed.end());
      out.push_back(std::move(s));
    }
  }
  return out;
}

// softflowd's exports: [2-byte length][datagram]...
Sequence softflowd(const char* file) {
  const Bytes all = read_file(kRoot / "tests" / "decode" / "data" / file);
  Sequence s{file, {}};
  for (std::size_t at = 0; at + 2 <= all.size();) {
    const std::size_t n = std::size_t{all[at]} << 8 | all[at + 1];
    at += 2;
    if (at + n > all.size()) break;
    s.datagrams.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(at), all.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return s;
}

// The first `count` UDP payloads of a capture, or nothing when it is absent.
std::vector<Bytes> first_datagrams(const std::string& path, std::size_t count) {
  std::vector<Bytes> out;
  auto source = source::PcapSource::open(path);
  if (!source) return out;
  core::Datagram d;
  while (out.size() < count && (*source)->next(d)) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(d.bytes.data());
    out.emplace_back(p, p + d.bytes.size());
  }
  return out;
}

auto key_fields(const FlowRecord& f) {
  return std::tuple(f.src, f.dst, f.nexthop, f.exporter, f.pcount, f.bcount, f.stime_ms, f.etime_ms, f.input, f.output,
                    f.src_as, f.dst_as, f.sampling_interval, f.fields, f.sport, f.dport, f.source_version, f.protocol,
                    f.tcp_flags, f.tos, f.src_mask, f.dst_mask, f.icmp_type, f.icmp_code, f.source_type);
}

// Decodes `bytes` (copied into a buffer of exactly their size) with `d`.
std::vector<FlowRecord> decode(decode::Dispatcher& d, const std::uint8_t* data, std::size_t size,
                               const char* exporter = "192.0.2.1") {
  const std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[size ? size : 1]);
  std::copy_n(data, size, exact.get());
  core::Datagram dg;
  dg.exporter = *core::IpAddress::parse(exporter);
  dg.received_ns = 1'700'000'000'000'000'000;
  dg.bytes = std::as_bytes(std::span(exact.get(), size));
  std::vector<FlowRecord> out;
  const auto r = d.decode(dg, out);
  EXPECT_EQ(r ? *r : 0u, out.size());  // a refusal appends nothing; a success says how many
  return out;
}
std::vector<FlowRecord> decode(decode::Dispatcher& d, const Bytes& b) { return decode(d, b.data(), b.size()); }

// Every prefix of every datagram of `s`, each after the datagrams before it (whole), with fresh
// state: refused or decoded, never more records than the whole, and the same first records.
// Adds the records of the whole sequence to `total`.
void check_every_prefix(const Sequence& s, std::size_t& total) {
  for (std::size_t i = 0; i < s.datagrams.size(); ++i) {
    decode::Dispatcher before;
    for (std::size_t j = 0; j < i; ++j) (void)decode(before, s.datagrams[j]);
    const Bytes& dg = s.datagrams[i];
    decode::Dispatcher for_whole = before;
    const std::vector<FlowRecord> whole = decode(for_whole, dg);
    total += whole.size();
    for (std::size_t length = 0; length < dg.size(); ++length) {
      decode::Dispatcher d = before;
      const std::vector<FlowRecord> part = decode(d, dg.data(), length);
      ASSERT_LE(part.size(), whole.size()) << s.name << " datagram " << i << " cut at " << length;
      for (std::size_t k = 0; k < part.size(); ++k)
        ASSERT_EQ(key_fields(part[k]), key_fields(whole[k])) << s.name << " datagram " << i << " cut at " << length
                                                             << " record " << k;
    }
  }
}

// ---- truncation at every byte offset ----

TEST(Truncation, EveryPrefixOfTheHandBuiltDatagramsIsRefusedOrYieldsTheWholesFirstRecords) {
  const auto sequences = hand_built();
  ASSERT_GE(sequences.size(), 20u);  // v5 x2, sFlow x9, v9 x5, IPFIX x7
  std::size_t records = 0;
  for (const Sequence& s : sequences) check_every_prefix(s, records);
  EXPECT_GE(records, 60u);  // the wholes decode: the prefixes were compared with something
}

TEST(Truncation, EveryPrefixOfSoftflowdsV9AndIpfixExports) {
  for (const char* file : {"softflowd_v9.bin", "softflowd_ipfix.bin"}) {
    const Sequence s = softflowd(file);
    ASSERT_GE(s.datagrams.size(), 2u) << file;
    std::size_t records = 0;
    check_every_prefix(s, records);
    EXPECT_GT(records, 0u) << file;  // softflowd's 60 flows (some in these datagrams)
  }
}

TEST(Truncation, EveryPrefixOfTheFirstDatagramsOfTheRealCaptures) {
  const auto netflow = first_datagrams(test::shared_data_file("netflow_4M.pcap"), 20);
  const auto sflow = first_datagrams(test::shared_data_file("sflow.pcap"), 50);
  if (netflow.empty() || sflow.empty())
    GTEST_SKIP() << "real captures absent: " << test::shared_data_file("") << " (../shared/data is not part of a fresh clone)";
  std::size_t records = 0;
  for (std::size_t i = 0; i < netflow.size(); ++i) check_every_prefix({"netflow_4M #" + std::to_string(i), {netflow[i]}}, records);
  EXPECT_GT(records, 20u * 20u);  // v5 datagrams of up to 30 flows
  records = 0;
  for (std::size_t i = 0; i < sflow.size(); ++i) check_every_prefix({"sflow #" + std::to_string(i), {sflow[i]}}, records);
  EXPECT_GT(records, 0u);
}

// ---- counts and lengths that lie ----

void put16(Bytes& b, std::size_t at, std::uint32_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  put16(b, at, v >> 16);
  put16(b, at + 2, v & 0xffffu);
}
std::uint32_t get32(const Bytes& b, std::size_t at) {
  return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 | std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

std::size_t records_of(const Bytes& b) {
  decode::Dispatcher d;
  return decode(d, b).size();
}

Bytes v5_datagram() {
  const auto files = files_in(kRoot / "fuzz" / "corpus" / "netflow_v5");
  return read_file(files.at(0));  // synth_0.bin: 30 records
}

TEST(CountsThatLie, NetflowV5EveryCountButTheTrueOneIsRefused) {
  Bytes b = v5_datagram();
  ASSERT_EQ(b.size(), 24u + 30u * 48u);
  for (std::uint32_t count = 0; count <= 0xffff; ++count) {
    put16(b, 2, count);
    decode::Dispatcher d;
    const auto out = decode(d, b);
    ASSERT_EQ(out.size(), count == 30 ? 30u : 0u) << count;
    const Errc why = count == 0 ? Errc::count_zero : count > 30 ? Errc::count_too_large : Errc::trailing_bytes;
    if (count != 30) {
      ASSERT_EQ(d.counters().rejected_count(Protocol::netflow_v5, why), 1u) << count;
    }
  }
  // A count that is true for a shorter datagram: cut after 10 records, every count but 10 fails.
  b.resize(24 + 10 * 48);
  for (std::uint32_t count = 0; count <= 0xffff; ++count) {
    put16(b, 2, count);
    ASSERT_EQ(records_of(b), count == 10 ? 10u : 0u) << count;
  }
}

// A v9 datagram with a template and three records, and an IPFIX message with the same.
Bytes v9_datagram() {
  Builder b = test::v9_header(7);
  b.begin_set(0).u16(256).u16(3).field(8, 4).field(12, 4).field(2, 4).end_set();
  b.begin_set(256);
  for (int i = 0; i < 3; ++i) b.ipv4("198.51.100.1").ipv4("203.0.113.1").u32(10u + static_cast<unsigned>(i));
  b.end_set();
  return b.bytes();
}
Bytes ipfix_datagram() {
  Builder b = ipfix_header(7);
  b.begin_set(2).u16(256).u16(3).field(8, 4).field(12, 4).field(2, 4).end_set();
  b.begin_set(256);
  for (int i = 0; i < 3; ++i) b.ipv4("192.0.2.10").ipv4("192.0.2.20").u32(10u + static_cast<unsigned>(i));
  b.end_set();
  b.end_message();
  return b.bytes();
}

TEST(CountsThatLie, NetflowV9HeaderCountIsAdvisoryWhateverItSays) {
  Bytes b = v9_datagram();
  ASSERT_EQ(records_of(b), 3u);
  for (std::uint32_t count = 0; count <= 0xffff; ++count) {
    put16(b, 2, count);
    ASSERT_EQ(records_of(b), 3u) << count;
  }
}

TEST(CountsThatLie, IpfixMessageLengthPastTheDatagramOrUnderTheHeaderIsRefusedAndShorterCutsTheSets) {
  Bytes b = ipfix_datagram();
  const std::size_t true_length = b.size();
  for (std::uint32_t length = 0; length <= 0xffff; ++length) {
    put16(b, 2, length);
    decode::Dispatcher d;
    const auto out = decode(d, b);
    if (length < 16 || length > true_length) {
      ASSERT_TRUE(out.empty()) << length;
      ASSERT_EQ(d.counters().rejected_count(Protocol::ipfix, Errc::bad_message_length), 1u) << length;
    } else {
      // The message ends at `length`: the data set is whole only in the whole message.
      ASSERT_EQ(out.size(), length == true_length ? 3u : 0u) << length;
      if (length < true_length) {
        ASSERT_EQ(d.counters().rejected_count(Protocol::ipfix, Errc::trailing_bytes), 1u) << length;
      }
    }
  }
}

TEST(CountsThatLie, EverySetLengthOfEverySetIsHandled) {
  for (const Bytes& original : {v9_datagram(), ipfix_datagram()}) {
    const bool v9 = original[1] == 9;
    const std::size_t header = v9 ? 20 : 16;
    for (std::size_t set_at : {header, header + 4 + 4 + 3 * 4}) {  // the template set, the data set
      Bytes b = original;
      for (std::uint32_t length = 0; length <= 0xffff; ++length) {
        put16(b, set_at + 2, length);
        decode::Dispatcher d;
        const auto out = decode(d, b);
        ASSERT_LE(out.size(), 3u) << (v9 ? "v9" : "ipfix") << " set at " << set_at << " length " << length;
        if (length < 4 || set_at + length > b.size()) {
          ASSERT_GE(d.counters().rejected_count(v9 ? Protocol::netflow_v9 : Protocol::ipfix, Errc::bad_set_length), 1u);
        }
      }
    }
  }
}

// sFlow: a datagram with a flow sample (an Ethernet/IPv4/TCP sampled header) and a counter sample:
// from sflow.pcap when present (its first flow-sample datagram), else the hand-built seed.
struct Sflow {
  Bytes bytes;
  std::size_t samples_at;  // the first sample's tag
};

std::size_t first_sample_at(const Bytes& b) {
  const auto h = decode::sflow_v5::parse_header(std::as_bytes(std::span(b)));
  return h ? h->size : 0;
}

Sflow sflow_datagram() {
  const auto is_flow_sample_first = [](const Bytes& d) {
    const std::size_t at = first_sample_at(d);
    return at > 0 && d.size() >= at + 8 && get32(d, at) == 1 && records_of(d) > 0;
  };
  Bytes b;
  for (const Bytes& d : first_datagrams(test::shared_data_file("sflow.pcap"), 50)) {
    if (is_flow_sample_first(d)) {
      b = d;
      break;
    }
  }
  if (b.empty()) b = read_file(kRoot / "fuzz" / "corpus" / "sflow_v5" / "v4_flow_tcp_switch.bin");
  EXPECT_TRUE(is_flow_sample_first(b));
  return {b, first_sample_at(b)};
}

TEST(CountsThatLie, SflowSampleCountFromZeroToBeyondTheDatagram) {
  Sflow s = sflow_datagram();
  const std::size_t count_at = s.samples_at - 4;
  const std::uint32_t true_count = get32(s.bytes, count_at);
  const std::size_t whole = records_of(s.bytes);
  ASSERT_GT(whole, 0u);
  std::vector<std::uint32_t> counts;
  for (std::uint32_t c = 0; c <= 4096; ++c) counts.push_back(c);
  for (std::uint32_t c : {0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu, 0x10000u, 0x1fffffffu}) counts.push_back(c);
  for (std::uint32_t c : counts) {
    put32(s.bytes, count_at, c);
    const std::size_t n = records_of(s.bytes);
    ASSERT_LE(n, whole) << c;
    if (c == true_count) {
      ASSERT_EQ(n, whole);
    }
  }
}

// Every length and count field of the first flow sample, swept: the sample's length, its record
// count, its first record's length and (for a sampled header) the header length. Each is bounded by
// its parent (datagram, sample, record); none may yield more than the whole.
TEST(CountsThatLie, SflowNestedLengthsAndCountsAreEachBoundedByTheirParent) {
  const Sflow s = sflow_datagram();
  const std::size_t sample = s.samples_at;  // tag, length, then the body
  ASSERT_EQ(get32(s.bytes, sample) & 0xfffu, 1u) << "the first sample is a flow sample";
  const std::size_t body = sample + 8;
  const std::size_t record_count_at = body + 28;
  const std::size_t record = body + 32;  // the first record: tag, length, body
  const bool sampled_header = get32(s.bytes, record) == 1;
  const std::size_t whole = records_of(s.bytes);
  ASSERT_GT(whole, 0u);
  std::vector<std::pair<const char*, std::size_t>> fields = {
      {"sample length", sample + 4}, {"record count", record_count_at}, {"record length", record + 4}};
  if (sampled_header) fields.push_back({"header length", record + 8 + 12});
  std::vector<std::uint32_t> values;
  for (std::uint32_t v = 0; v <= 2048; ++v) values.push_back(v);
  for (std::uint32_t v : {0x7fffffffu, 0x80000000u, 0xfffffff8u, 0xfffffffcu, 0xffffffffu}) values.push_back(v);
  for (const auto& [what, at] : fields) {
    Bytes b = s.bytes;
    for (std::uint32_t v : values) {
      put32(b, at, v);
      ASSERT_LE(records_of(b), whole) << what << " = " << v;
    }
  }
}

// ---- zero-length and oversized fields, variable-length abuse (IPFIX) ----

TEST(Fields, EveryIpfixFieldLengthFromZeroTo65535) {
  for (std::uint32_t length = 0; length <= 0xffff; ++length) {
    Builder b = ipfix_header(1);
    b.begin_set(2).u16(256).u16(1).field(8, static_cast<std::uint16_t>(length)).end_set();
    b.end_message();
    decode::Dispatcher d;
    (void)decode(d, b.bytes());
    const auto rejected = [&](Errc e) { return d.counters().rejected_count(Protocol::ipfix, e); };
    if (length == 0) {
      ASSERT_EQ(rejected(Errc::bad_template), 1u) << length;
    } else if (length > 16384 && length != 0xffff) {  // over max_record_length; 65535 is variable
      ASSERT_EQ(rejected(Errc::record_limit), 1u) << length;
    } else {
      ASSERT_EQ(d.templates().template_count(), 1u) << length;
    }
    ASSERT_EQ(d.templates().template_count() + rejected(Errc::bad_template) + rejected(Errc::record_limit), 1u);
  }
}

TEST(Fields, OversizedFixedFieldsDecodeTheirLengthAndNothingElse) {
  // sourceIPv4Address with 16384 bytes (the record cap): skipped as a field its element cannot
  // have, one record per 16384 bytes, nothing read past them.
  decode::Dispatcher d;
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(256).u16(2).field(8, 16384).field(12, 4).end_set();
  b.end_message();
  (void)decode(d, b.bytes());
  ASSERT_EQ(d.templates().template_count(), 0u);  // 16388 bytes: over the record cap
  EXPECT_EQ(d.counters().rejected_count(Protocol::ipfix, Errc::record_limit), 1u);
  Builder ok = ipfix_header(1);
  ok.begin_set(2).u16(257).u16(2).field(8, 16380).field(12, 4).end_set();
  ok.begin_set(257).zeros(16380).ipv4("192.0.2.9").zeros(16380).ipv4("192.0.2.10").end_set();
  ok.end_message();
  const auto out = decode(d, ok.bytes());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].dst, test::ip("192.0.2.10"));
  EXPECT_FALSE(out[1].has(core::kSrcAddr));  // a 16380-byte "address" is not read as one
}

// Template 260: interfaceName (82, variable length), sourceIPv4Address; 262: interfaceName alone.
Builder variable_templates() {
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(260).u16(2).field(82, 0xffff).field(8, 4).u16(262).u16(1).field(82, 0xffff).end_set();
  return b;
}

struct VariableCase {
  const char* what;
  std::uint16_t template_id;  // 260: variable field + IPv4 address (5 bytes at least); 262: variable field alone
  Bytes set_body;             // the data set's records
  std::size_t records;
  Errc error;  // counted when records are lost; count_ for none
};

TEST(Fields, VariableLengthAbuse) {
  const auto v4 = [](std::uint8_t last) { return Bytes{192, 0, 2, last}; };
  const auto cat = [](std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  const Bytes x254(254, 'x');
  const std::vector<VariableCase> cases = {
      {"one-byte length 254", 260, cat({{254}, x254, v4(1)}), 1, Errc::count_},
      {"escape 255 with length 0 (non-minimal)", 260, cat({{255, 0, 0}, v4(2)}), 1, Errc::count_},
      {"escape 255 with length 3 (non-minimal)", 260, cat({{255, 0, 3}, {'e', 't', 'h'}, v4(3)}), 1, Errc::count_},
      {"set ends after the escape", 262, Bytes{255}, 0, Errc::truncated_records},
      {"set ends inside the 2-byte length", 262, Bytes{255, 1}, 0, Errc::truncated_records},
      {"2-byte length 65535 past the set", 262, cat({{255, 0xff, 0xff}, Bytes(100, 'y')}), 0, Errc::truncated_records},
      {"2-byte length one past the set", 260, cat({{255, 0, 101}, Bytes(100, 'y'), v4(5)}), 0, Errc::truncated_records},
      {"one-byte length past the set", 260, cat({{200}, Bytes(150, 'z')}), 0, Errc::truncated_records},
      {"record over the 16384-byte cap", 260, cat({{255, 0x40, 0x00}, Bytes(16384, 'w'), v4(6)}), 0, Errc::record_limit},
      {"second record cut, first kept", 260, cat({{3}, {'a', 'b', 'c'}, v4(7), {9}, {'d', 'e', 'f', 'g'}}), 1,
       Errc::truncated_records},
      {"a short cut record is padding", 260, cat({{3}, {'a', 'b', 'c'}, v4(8), {9}, {'d'}}), 1, Errc::count_},
  };
  for (const VariableCase& c : cases) {
    Builder b = variable_templates();
    b.begin_set(c.template_id);
    for (std::uint8_t byte : c.set_body) b.u8(byte);
    b.end_set();
    b.end_message();
    decode::Dispatcher d;
    EXPECT_EQ(decode(d, b.bytes()).size(), c.records) << c.what;
    if (c.error != Errc::count_) EXPECT_EQ(d.counters().rejected_count(Protocol::ipfix, c.error), 1u) << c.what;
    else EXPECT_EQ(d.counters().total_rejected(), 0u) << c.what;
  }
}

TEST(Fields, ManyEmptyVariableLengthValuesAreRecordsOfTheirMinimumLength) {
  // 128 variable-length fields, all empty: a record of 128 length bytes; 500 of them in one set.
  Builder b = ipfix_header(1);
  b.begin_set(2).u16(261).u16(128);
  for (int i = 0; i < 128; ++i) b.field(82, 0xffff);
  b.end_set();
  b.begin_set(261).zeros(128 * 500).end_set();
  b.end_message();
  decode::Dispatcher d;
  EXPECT_EQ(decode(d, b.bytes()).size(), 500u);
  EXPECT_EQ(d.counters().total_rejected(), 0u);
}

}  // namespace
}  // namespace overflowd

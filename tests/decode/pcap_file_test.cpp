// decode/pcap_file: classic pcap files from bytes written by hand after pcap-savefile(5) /
// draft-ietf-opsawg-pcap (the file header, record headers, either byte order, micro- and
// nanosecond magic). tests/source/pcap_source_test compares whole files with libpcap's reading.
#include <gtest/gtest.h>

#include <vector>

#include "decode/pcap_file.hpp"

namespace overflowd::decode {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

// Little-endian, microseconds, version 2.4, snaplen 65535, Ethernet; one record of 4 bytes at
// 1.000002 s, 60 bytes on the wire; then 9 bytes of a second record's header.
const std::vector<std::byte> kFile = bytes({
    0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x00, 0x00, 0x01, 0, 0, 0,
    0x01, 0, 0, 0, 0x02, 0, 0, 0, 0x04, 0, 0, 0, 0x3c, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
    0x02, 0, 0, 0, 0, 0, 0, 0, 0x04});

TEST(PcapFile, LittleEndianMicroseconds) {
  auto h = parse_pcap_file_header(kFile);
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->swapped == (std::endian::native == std::endian::little));
  EXPECT_FALSE(h->nanosecond);
  EXPECT_EQ(h->link_type, 1U);
  EXPECT_EQ(h->snaplen, 65535U);
  std::size_t at = kPcapFileHeaderSize;
  auto r = next_pcap_record(*h, kFile, at);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ts_ns, 1'000'002'000);
  EXPECT_EQ(r->len, 60U);
  ASSERT_EQ(r->data.size(), 4U);
  EXPECT_EQ(r->data[0], std::byte{0xde});
  EXPECT_EQ(at, 44U);
  auto cut = next_pcap_record(*h, kFile, at);
  ASSERT_FALSE(cut.has_value());
  EXPECT_EQ(cut.error().code, core::Errc::truncated_records);
  EXPECT_EQ(at, 44U);
  EXPECT_EQ(describe_pcap_record_error(*h, kFile, at, cut.error()),
            "truncated dump file; tried to read 16 header bytes, only got 9");
}

TEST(PcapFile, BigEndianNanosecondsAndTheSnapLength) {
  // snaplen 2: the record's 4 captured bytes are cut to 2, as libpcap cuts them.
  const auto file = bytes({0xa1, 0xb2, 0x3c, 0x4d, 0x00, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0xe4,
                           0, 0, 0, 0x03, 0, 0, 0, 0x07, 0, 0, 0, 0x04, 0, 0, 0, 0x04, 1, 2, 3, 4});
  auto h = parse_pcap_file_header(file);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->nanosecond);
  EXPECT_EQ(h->link_type, 228U);  // LINKTYPE_IPV4
  std::size_t at = kPcapFileHeaderSize;
  auto r = next_pcap_record(*h, file, at);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ts_ns, 3'000'000'007);
  EXPECT_EQ(r->data.size(), 2U);
  EXPECT_EQ(r->len, 4U);
  EXPECT_EQ(at, file.size());
}

TEST(PcapFile, WhatIsLeftToLibpcap) {
  EXPECT_EQ(parse_pcap_file_header(std::span(kFile).first(23)).error().code, core::Errc::short_header);
  auto other = kFile;
  other[0] = std::byte{0x0a};  // pcapng's section header begins 0a 0d 0d 0a
  EXPECT_EQ(parse_pcap_file_header(other).error().code, core::Errc::bad_version);
  other = kFile;
  other[6] = std::byte{0x03};  // version 2.3
  EXPECT_EQ(parse_pcap_file_header(other).error().code, core::Errc::bad_version);
  other = kFile;
  other[20] = std::byte{101};  // LINKTYPE_RAW: libpcap maps it to DLT_RAW
  EXPECT_EQ(parse_pcap_file_header(other).error().code, core::Errc::bad_version);
  other = kFile;
  other[23] = std::byte{0x10};  // FCS bits in the link type
  EXPECT_EQ(parse_pcap_file_header(other).error().code, core::Errc::bad_version);
}

TEST(PcapFile, ACapturedLengthAboveLibpcapsMaximum) {
  auto file = kFile;
  file[32] = std::byte{0x01};
  file[34] = std::byte{0x10};  // caplen 0x100001
  auto h = parse_pcap_file_header(file);
  ASSERT_TRUE(h.has_value());
  std::size_t at = kPcapFileHeaderSize;
  auto r = next_pcap_record(*h, file, at);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Errc::record_length_overrun);
  EXPECT_EQ(describe_pcap_record_error(*h, file, at, r.error()),
            "invalid packet capture length 1048577, bigger than snaplen of 65535");
}

}  // namespace
}  // namespace overflowd::decode

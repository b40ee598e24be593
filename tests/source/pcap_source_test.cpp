// source/pcap_source: a classic pcap file is read without libpcap (decode/pcap_file over the mapped
// file, issue 17 start-up). libpcap is the reference: every file here is also read through libpcap
// itself (pcap_api, with the packet walk the source applies), and the two readings must agree on
// every datagram, its source and time, the counters, and the warning that ends the file.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "decode/packet_walk.hpp"
#include "source/pcap_api.hpp"
#include "source/pcap_source.hpp"

namespace overflowd::source {
namespace {

struct Reading {
  std::vector<std::string> datagrams;  // "exporter:port time bytes"
  std::uint64_t packets = 0;
  std::vector<std::uint64_t> rejected;
  std::string warning;
};

std::string describe(const core::Datagram& d) {
  std::string s = d.exporter.to_string() + ":" + std::to_string(d.exporter_port) + " " + std::to_string(d.received_ns) + " ";
  for (std::byte b : d.bytes) s += std::to_string(std::to_integer<int>(b)) + ",";
  return s;
}

// One datagram at a time (next), or in batches of 5 (next_batch, as the pipeline's workers read).
Reading read_all(PcapSource& src, bool batched) {
  Reading r;
  core::Datagram d;
  if (batched) {
    std::array<core::Datagram, 5> batch;
    std::size_t n = 0;
    while (src.next_batch(batch, n))
      for (std::size_t i = 0; i < n; ++i) r.datagrams.push_back(describe(batch[i]));
  } else {
    while (src.next(d)) r.datagrams.push_back(describe(d));
  }
  r.packets = src.counters().packets;
  r.rejected.assign(src.counters().rejected.begin(), src.counters().rejected.end());
  r.warning = src.warning();
  return r;
}

Reading through_source(const std::string& path, bool batched = false) {
  auto src = PcapSource::open(path);
  if (!src) {
    Reading r;
    r.warning = "open: " + src.error();
    return r;
  }
  return read_all(**src, batched);
}

// libpcap's reading, as PcapSource read every file before.
Reading through_libpcap(const std::string& path) {
  Reading r;
  r.rejected.assign(core::kErrcCount, 0);
  auto api = load_pcap_api(kLibpcapName);
  EXPECT_TRUE(api.has_value());
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* h = api->open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!h) {
    r.warning = std::string("open: ") + errbuf;
    return r;
  }
  const auto link = static_cast<std::uint32_t>(api->datalink(h));
  if (!decode::link_type_supported(link)) {
    r.warning = "open: unsupported link type " + std::to_string(link);
    api->close(h);
    return r;
  }
  for (;;) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    const int rc = api->next_ex(h, &hdr, &data);
    if (rc == PCAP_ERROR_BREAK) break;
    if (rc != 1) {
      r.warning = path + ": " + api->geterr(h) + "; the rest of the file is skipped";
      break;
    }
    ++r.packets;
    if (hdr->caplen < hdr->len) {
      ++r.rejected[static_cast<std::size_t>(core::Errc::truncated_capture)];
      continue;
    }
    auto udp = decode::walk_to_udp(link, core::Bytes(reinterpret_cast<const std::byte*>(data), hdr->caplen));
    if (!udp) {
      ++r.rejected[static_cast<std::size_t>(udp.error().code)];
      continue;
    }
    core::Datagram d;
    d.exporter = udp->src;
    d.exporter_port = udp->sport;
    d.received_ns = std::int64_t{hdr->ts.tv_sec} * 1'000'000'000 + std::int64_t{hdr->ts.tv_usec};
    d.bytes = udp->payload;
    r.datagrams.push_back(describe(d));
  }
  api->close(h);
  return r;
}

// A pcap file from its fields (pcap-savefile(5)), in little- or big-endian order.
class FileBytes {
public:
  FileBytes(bool big, std::uint32_t magic, std::uint32_t snaplen, std::uint32_t link) : big_(big) {
    u32(magic);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(snaplen);
    u32(link);
  }
  FileBytes& record(std::uint32_t sec, std::uint32_t frac, const std::vector<std::uint8_t>& frame, std::uint32_t wire = 0) {
    u32(sec);
    u32(frac);
    u32(static_cast<std::uint32_t>(frame.size()));
    u32(wire ? wire : static_cast<std::uint32_t>(frame.size()));
    bytes_.insert(bytes_.end(), frame.begin(), frame.end());
    return *this;
  }
  FileBytes& raw(std::uint32_t v) {
    u32(v);
    return *this;
  }
  std::string write(const std::string& name, std::size_t cut = 0) const {
    const auto path = (std::filesystem::path(::testing::TempDir()) / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes_.data()),
                                                static_cast<std::streamsize>(bytes_.size() - cut));
    return path;
  }

private:
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void put(std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<std::uint8_t>(v >> (8 * (big_ ? n - 1 - i : i))));
  }
  bool big_;
  std::vector<std::uint8_t> bytes_;
};

// Ethernet + IPv4 + UDP from 192.0.2.1:sport to 192.0.2.2:2055, with `payload` bytes of payload.
std::vector<std::uint8_t> udp_frame(std::uint16_t sport, std::size_t payload, bool fragment = false) {
  std::vector<std::uint8_t> f(14, 0);
  f[12] = 0x08;
  const std::size_t ip_len = 20 + 8 + payload;
  const std::uint8_t ip[20] = {0x45, 0, static_cast<std::uint8_t>(ip_len >> 8), static_cast<std::uint8_t>(ip_len), 0, 1,
                               static_cast<std::uint8_t>(fragment ? 0x20 : 0), 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2};
  f.insert(f.end(), ip, ip + 20);
  const std::size_t udp_len = 8 + payload;
  const std::uint8_t udp[8] = {static_cast<std::uint8_t>(sport >> 8), static_cast<std::uint8_t>(sport), 0x08, 0x07,
                               static_cast<std::uint8_t>(udp_len >> 8), static_cast<std::uint8_t>(udp_len), 0, 0};
  f.insert(f.end(), udp, udp + 8);
  for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<std::uint8_t>(i * 7));
  return f;
}

void expect_same(const std::string& path, std::size_t datagrams, bool batched = false) {
  SCOPED_TRACE(path + (batched ? " (batches)" : ""));
  if (!batched) expect_same(path, datagrams, true);
  const Reading mine = through_source(path, batched);
  const Reading ref = through_libpcap(path);
  if (ref.warning.starts_with("open: ")) {  // libpcap refuses the file: so does the source, naming it
    EXPECT_TRUE(mine.warning.starts_with("open: " + path + ": ")) << mine.warning << " / " << ref.warning;
    EXPECT_TRUE(mine.datagrams.empty());
    return;
  }
  EXPECT_EQ(mine.datagrams, ref.datagrams);
  EXPECT_EQ(mine.datagrams.size(), datagrams);
  EXPECT_EQ(mine.packets, ref.packets);
  EXPECT_EQ(mine.rejected, ref.rejected);
  EXPECT_EQ(mine.warning, ref.warning);
}

constexpr std::uint32_t kMicro = 0xa1b2c3d4, kNano = 0xa1b23c4d;

TEST(PcapSource, ClassicFilesReadAsLibpcapReadsThem) {
  for (const bool big : {false, true})
    for (const std::uint32_t magic : {kMicro, kNano}) {
      FileBytes f(big, magic, 65535, 1);
      f.record(1'700'000'000, 999'999, udp_frame(1000, 24))
          .record(1'700'000'001, 5, udp_frame(1001, 0))
          .record(1'700'000'002, 0, udp_frame(1002, 30, true))  // a fragment: refused
          .record(7, 1, udp_frame(1003, 40), 2000);             // cut on capture: refused
      expect_same(f.write(std::string("classic_") + (big ? "be" : "le") + (magic == kNano ? "_ns" : "_us") + ".pcap"), 2);
    }
}

TEST(PcapSource, SnapLengthCutsAsLibpcapCuts) {
  FileBytes f(false, kMicro, 50, 1);  // records longer than the file's snaplen are cut to it
  f.record(1, 2, udp_frame(1000, 100)).record(3, 4, udp_frame(1001, 1));
  expect_same(f.write("snaplen.pcap"), 1);
}

TEST(PcapSource, TruncatedFilesEndWithLibpcapsWarning) {
  FileBytes f(false, kMicro, 65535, 1);
  f.record(1, 2, udp_frame(1000, 100)).record(3, 4, udp_frame(1001, 100));
  expect_same(f.write("cut_body.pcap", 30), 1);            // inside the second record's bytes
  expect_same(f.write("cut_header.pcap", 158 - 9), 1);     // inside its header (records of 158 bytes)
  FileBytes g(false, kMicro, 50, 1);                       // cut while libpcap skips past the snaplen
  g.record(1, 2, udp_frame(1000, 0)).record(3, 4, udp_frame(1001, 100));
  expect_same(g.write("cut_past_snaplen.pcap", 20), 1);
  expect_same(g.write("cut_before_snaplen.pcap", 100), 1);
  FileBytes h(true, kMicro, 65535, 1);
  h.record(1, 2, udp_frame(1000, 10)).raw(5).raw(6).raw(300'000).raw(300'000);  // larger than libpcap allows
  expect_same(h.write("caplen_overrun.pcap"), 1);
  FileBytes empty(false, kMicro, 0, 1);  // no record at all; snaplen 0 reads as the maximum
  expect_same(empty.write("empty.pcap"), 0);
}

TEST(PcapSource, OtherLinkTypesAndFormatsGoToLibpcap) {
  FileBytes raw(false, kMicro, 65535, 101);  // LINKTYPE_RAW: libpcap says DLT_RAW, which is refused
  auto ip = udp_frame(1000, 8);
  ip.erase(ip.begin(), ip.begin() + 14);
  raw.record(1, 2, ip);
  expect_same(raw.write("raw.pcap"), 0);
  FileBytes ipv4(false, kMicro, 65535, 228);  // LINKTYPE_IPV4, read without libpcap
  ipv4.record(1, 2, ip);
  expect_same(ipv4.write("ipv4.pcap"), 1);
  const std::string junk = FileBytes(false, 0x0a0d0d0a, 0, 0).write("not_classic.pcap");  // pcapng's magic, no more
  expect_same(junk, 0);
  expect_same(FileBytes(false, kMicro, 0, 1).write("short.pcap", 10), 0);  // a file header cut short
  expect_same("/nonexistent/capture.pcap", 0);
}

// A file cut after it was opened (rewritten or rotated under the reader): no SIGBUS, which the
// mapped reader got at the first page past the new end. The source reads up to the cut and ends
// with libpcap's warning, the records before the cut counted, as libpcap reads the cut file.
TEST(PcapSource, AFileCutAfterItWasOpenedIsReadAsItWas) {
  constexpr std::size_t kRecord = 16 + 14 + 20 + 8 + 1000;  // record header and frame
  FileBytes f(false, kMicro, 65535, 1);
  for (std::uint16_t i = 0; i < 600; ++i) f.record(1'700'000'000 + i, i, udp_frame(static_cast<std::uint16_t>(1000 + i), 1000));
  const std::size_t cut = 24 + 400 * kRecord + 100;  // inside the 401st record, past the first read's 256 KiB
  for (const bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "batches" : "one at a time");
    const std::string path = f.write("cut_after_open.pcap");
    auto src = PcapSource::open(path);
    ASSERT_TRUE(src) << src.error();
    std::filesystem::resize_file(path, cut);
    const Reading mine = read_all(**src, batched);
    const Reading ref = through_libpcap(path);
    EXPECT_EQ(mine.datagrams, ref.datagrams);
    EXPECT_EQ(mine.datagrams.size(), 400U);  // the records before the cut
    EXPECT_EQ(mine.packets, 400U);
    EXPECT_EQ(mine.rejected, ref.rejected);
    EXPECT_EQ(mine.warning, ref.warning);
    EXPECT_NE(mine.warning.find("truncated dump file"), std::string::npos) << mine.warning;
  }
}

// Records spread over several of the reader's buffers, any size up to libpcap's largest, read
// whole in batches that never span a refill (their bytes stay valid until the next call).
TEST(PcapSource, ALargeFileReadsAsLibpcapReadsIt) {
  FileBytes f(false, kNano, 0, 1);
  for (std::uint32_t i = 0; i < 300; ++i)
    f.record(i, i, udp_frame(static_cast<std::uint16_t>(i), (i * 7919) % 5000 + (i % 50 == 0 ? 60000 : 0)));
  expect_same(f.write("large.pcap"), 300);
}

TEST(PcapSource, TheSharedCaptureReadsAsLibpcapReadsIt) {
  const std::string path = OVERFLOWD_SHARED_DATA "/netflow_4M.pcap";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  const Reading mine = through_source(path, true);
  const Reading ref = through_libpcap(path);
  EXPECT_EQ(mine.datagrams, ref.datagrams);
  EXPECT_GT(mine.datagrams.size(), 1000U);
  EXPECT_EQ(mine.packets, ref.packets);
  EXPECT_EQ(mine.rejected, ref.rejected);
  EXPECT_EQ(mine.warning, ref.warning);  // the file ends inside a record
  EXPECT_FALSE(mine.warning.empty());
}

}  // namespace
}  // namespace overflowd::source

#include "decode/pcap_file.hpp"

#include <bit>
#include <cstring>

#include "decode/packet_walk.hpp"

namespace overflowd::decode {

namespace {

constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr std::uint32_t kMagicNano = 0xa1b23c4d;

// A 32-bit field as the file wrote it (little-endian on disk when not swapped on this host).
std::uint32_t field32(core::Bytes b, std::size_t at, bool swapped) noexcept {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return swapped ? std::byteswap(v) : v;
}

std::uint16_t field16(core::Bytes b, std::size_t at, bool swapped) noexcept {
  std::uint16_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return swapped ? std::byteswap(v) : v;
}

// Link types whose LINKTYPE_ value libpcap also reports as the DLT_ value (so the packet walk sees
// the number it sees through libpcap). LINKTYPE_RAW (101) is not among them: libpcap turns it
// into DLT_RAW (12 on Linux).
bool same_as_dlt(std::uint32_t link_type) noexcept {
  return link_type != kLinkRaw && link_type_supported(link_type);
}

}  // namespace

core::Result<PcapFileHeader> parse_pcap_file_header(core::Bytes file) noexcept {
  if (file.size() < kPcapFileHeaderSize) return core::fail(core::Errc::short_header, file.size());
  std::uint32_t magic = field32(file, 0, false);
  PcapFileHeader h;
  if (magic == std::byteswap(kMagicMicro) || magic == std::byteswap(kMagicNano)) {
    h.swapped = true;
    magic = std::byteswap(magic);
  }
  if (magic != kMagicMicro && magic != kMagicNano) return core::fail(core::Errc::bad_version, 0);
  h.nanosecond = magic == kMagicNano;
  if (field16(file, 4, h.swapped) != 2 || field16(file, 6, h.swapped) != 4) return core::fail(core::Errc::bad_version, 4);
  // 8: thiszone, 12: sigfigs (both unused, as libpcap ignores them)
  h.snaplen = field32(file, 16, h.swapped);
  if (h.snaplen == 0 || h.snaplen > kPcapMaxSnaplen) h.snaplen = kPcapMaxSnaplen;
  h.link_type = field32(file, 20, h.swapped);  // upper bits (an FCS length) make it unknown: libpcap's
  if (!same_as_dlt(h.link_type)) return core::fail(core::Errc::bad_version, 20);
  return h;
}

core::Result<PcapRecord> next_pcap_record(const PcapFileHeader& header, core::Bytes file, std::size_t& offset) noexcept {
  if (offset > file.size() || file.size() - offset < kPcapRecordHeaderSize)
    return core::fail(core::Errc::truncated_records, offset);
  const std::uint32_t caplen = field32(file, offset + 8, header.swapped);
  if (caplen > kPcapMaxSnaplen) return core::fail(core::Errc::record_length_overrun, offset + 8);
  const std::size_t body = offset + kPcapRecordHeaderSize;
  if (file.size() - body < caplen) return core::fail(core::Errc::truncated_records, offset);
  PcapRecord r;
  const auto sec = static_cast<std::int32_t>(field32(file, offset, header.swapped));
  const auto frac = static_cast<std::int32_t>(field32(file, offset + 4, header.swapped));
  r.ts_ns = std::int64_t{sec} * 1'000'000'000 + std::int64_t{frac} * (header.nanosecond ? 1 : 1000);
  r.len = field32(file, offset + 12, header.swapped);
  r.data = file.subspan(body, caplen < header.snaplen ? caplen : header.snaplen);
  offset = body + caplen;
  return r;
}

std::string describe_pcap_record_error(const PcapFileHeader& header, core::Bytes file, std::size_t offset,
                                       const core::Error& error) {
  const std::size_t left = offset < file.size() ? file.size() - offset : 0;
  if (error.code == core::Errc::truncated_records && left < kPcapRecordHeaderSize)
    return "truncated dump file; tried to read " + std::to_string(kPcapRecordHeaderSize) + " header bytes, only got " +
           std::to_string(left);
  const std::uint32_t caplen = field32(file, offset + 8, header.swapped);
  if (error.code == core::Errc::record_length_overrun)
    return "invalid packet capture length " + std::to_string(caplen) + ", bigger than snaplen of " +
           std::to_string(header.snaplen);
  const std::size_t got = left - kPcapRecordHeaderSize;
  // libpcap reads the first snaplen bytes, then skips the rest: which of the two fell short.
  const std::uint32_t wanted = caplen > header.snaplen && got < header.snaplen ? header.snaplen : caplen;
  return "truncated dump file; tried to read " + std::to_string(wanted) + " captured bytes, only got " +
         std::to_string(got);
}

}  // namespace overflowd::decode

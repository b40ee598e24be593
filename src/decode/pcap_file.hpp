// Classic pcap files (libpcap's own format, version 2.4: https://www.tcpdump.org/manpages/pcap-savefile.5.html,
// draft-ietf-opsawg-pcap) read straight from their bytes, without libpcap (issue 17, start-up: a
// file run then loads no library for its input). Pure: the caller maps or reads the file. The
// reader takes only what libpcap reads the same way: the four usual magic numbers (micro- or
// nanosecond timestamps, either byte order), version 2.4, and the link types the packet walk
// understands whose LINKTYPE_ value is also libpcap's DLT_ value. Anything else (pcapng, the
// "modified" format, older versions, other link types) is refused with bad_version, and the pcap
// source hands the file to libpcap as before, so its errors and its readings are unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/byte_reader.hpp"
#include "core/result.hpp"

namespace overflowd::decode {

inline constexpr std::size_t kPcapFileHeaderSize = 24;
inline constexpr std::size_t kPcapRecordHeaderSize = 16;
// libpcap's largest snapshot length for these link types (MAXIMUM_SNAPLEN): a file's snaplen of 0
// or above it reads as this, and a record with a larger captured length ends the file.
inline constexpr std::uint32_t kPcapMaxSnaplen = 262144;

struct PcapFileHeader {
  bool swapped = false;      // written in the other byte order
  bool nanosecond = false;   // the timestamps' fractions are nanoseconds (else microseconds)
  std::uint32_t link_type = 0;
  std::uint32_t snaplen = 0;  // as libpcap takes it: 0 or above kPcapMaxSnaplen reads as kPcapMaxSnaplen
};

// The file header: short_header (fewer than 24 bytes), or bad_version (a format, version or link
// type this reader leaves to libpcap).
[[nodiscard]] core::Result<PcapFileHeader> parse_pcap_file_header(core::Bytes file) noexcept;

struct PcapRecord {
  std::int64_t ts_ns = 0;   // seconds and fraction, in nanoseconds (as libpcap's nanosecond reading)
  std::uint32_t len = 0;    // the frame's length on the wire
  core::Bytes data;         // what was captured: cut to the file's snaplen, as libpcap does
};

// The record at `offset` (at least kPcapFileHeaderSize; call only while offset < file.size()).
// On success `offset` moves past it. Errors (offset unchanged): truncated_records (the record's
// header or its captured bytes run past the end of the file), record_length_overrun (a captured
// length above kPcapMaxSnaplen, which libpcap refuses too).
[[nodiscard]] core::Result<PcapRecord> next_pcap_record(const PcapFileHeader& header, core::Bytes file,
                                                        std::size_t& offset) noexcept;

// libpcap's words for the error next_pcap_record gave at `offset` ("truncated dump file; tried to
// read 1458 captured bytes, only got 1072"; libpcap 1.10), so that a file reads with the same warning either way.
[[nodiscard]] std::string describe_pcap_record_error(const PcapFileHeader& header, core::Bytes file,
                                                     std::size_t offset, const core::Error& error);

}  // namespace overflowd::decode

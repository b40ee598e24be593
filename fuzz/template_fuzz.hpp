// The shared body of the NetFlow v9 and IPFIX fuzz targets. An input is
//   [2 bytes: split point, big-endian] [payload]
// and is run twice, each time through a Dispatcher with fresh state (as a collector that just
// started):
//   1. the payload as one datagram, then the same datagram again (its templates are now cached);
//   2. the payload cut in two datagrams at split % (size + 1): the first can define templates that
//      the second's data sets use, so the template-then-data paths get exercised.
// Each datagram's version field is set to `version` first, so the fuzzer spends its time inside the
// one decoder instead of finding the version. Seeds: fuzz/corpus/<name>/, made by
// scripts/make_template_seeds.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"

namespace overflowd::fuzz {

inline std::uint64_t decode_as(decode::Dispatcher& d, std::vector<std::uint8_t> bytes, std::uint16_t version) {
  if (bytes.size() >= 2) {
    bytes[0] = static_cast<std::uint8_t>(version >> 8);
    bytes[1] = static_cast<std::uint8_t>(version);
  }
  core::Datagram datagram;
  datagram.exporter = core::IpAddress::v4(0xc0000201u);
  datagram.bytes = std::as_bytes(std::span(bytes));
  std::vector<core::FlowRecord> out;
  (void)d.decode(datagram, out);
  // Touch every record, so a sanitizer sees any read of something never written.
  std::uint64_t sum = 0;
  for (const core::FlowRecord& f : out) sum += f.pcount + f.bcount + f.sampling_interval + f.fields;
  return sum;
}

inline void run_template_target(const std::uint8_t* data, std::size_t size, std::uint16_t version) {
  if (size < 2) return;
  const std::size_t split_hint = (std::size_t{data[0]} << 8) | data[1];
  const std::uint8_t* payload = data + 2;
  const std::size_t n = size - 2;
  {
    decode::Dispatcher d;
    const std::vector<std::uint8_t> whole(payload, payload + n);
    (void)decode_as(d, whole, version);
    (void)decode_as(d, whole, version);
  }
  {
    decode::TemplateCacheLimits small;  // small caps, so the fuzzer reaches them too
    small.max_domains = 4;
    small.max_templates_per_domain = 8;
    small.max_templates = 16;
    small.max_fields_per_template = 16;
    small.max_record_length = 256;
    small.max_samplers_per_domain = 4;
    decode::Dispatcher d(small);
    const std::size_t split = split_hint % (n + 1);
    (void)decode_as(d, std::vector<std::uint8_t>(payload, payload + split), version);
    (void)decode_as(d, std::vector<std::uint8_t>(payload + split, payload + n), version);
  }
}

}  // namespace overflowd::fuzz

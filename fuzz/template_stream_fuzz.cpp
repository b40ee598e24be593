// Fuzz target: the template cache under a stream of NetFlow v9 and IPFIX datagrams from several
// exporters, as a long-running collector sees it. An input is a sequence of
//   [1 byte: bit 0 = version (0: v9, 1: IPFIX), bits 1-2 = exporter (one of 4 addresses)]
//   [2 bytes: datagram length n, big-endian] [n bytes: the datagram]
// (a length past the end takes what is left). Each datagram's version field is set from the first
// byte, so the fuzzer spends its time on templates and data, not on finding the version. One
// Dispatcher with small caps takes the whole stream, so templates defined by one datagram are used,
// redefined, withdrawn and refused (caps) by later ones; after every datagram the cache must stay
// within its caps and its accounted memory within the bound the caps imply.
// Seeds: fuzz/corpus/template_stream/, made by scripts/make_template_seeds.py.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  decode::TemplateCacheLimits limits;
  limits.max_domains = 3;
  limits.max_templates_per_domain = 6;
  limits.max_templates = 10;
  limits.max_fields_per_template = 24;
  limits.max_record_length = 512;
  limits.max_samplers_per_domain = 4;
  decode::Dispatcher dispatcher(limits);
  const decode::TemplateCache& cache = dispatcher.templates();
  static constexpr std::uint32_t kExporters[] = {0xc0000201u, 0xc0000202u, 0x20010db8u, 0xc0000201u};

  std::vector<std::uint8_t> bytes;
  std::vector<core::FlowRecord> out;
  std::size_t at = 0;
  while (size - at >= 3) {
    const std::uint8_t control = data[at];
    const std::size_t length = (std::size_t{data[at + 1]} << 8) | data[at + 2];
    at += 3;
    const std::size_t n = length < size - at ? length : size - at;
    bytes.assign(data + at, data + at + n);
    at += n;
    const std::uint16_t version = (control & 1) ? 10 : 9;
    if (bytes.size() >= 2) {
      bytes[0] = static_cast<std::uint8_t>(version >> 8);
      bytes[1] = static_cast<std::uint8_t>(version);
    }
    core::Datagram d;
    // Exporter 3 is exporter 0 again but as an IPv4-mapped IPv6 address: a different key.
    const std::uint32_t a = kExporters[(control >> 1) & 3];
    if (((control >> 1) & 3) == 3) {
      std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xc0, 0, 2, 1};
      d.exporter = core::IpAddress::from_bytes(std::as_bytes(std::span(mapped)));
    } else {
      d.exporter = core::IpAddress::v4(a);
    }
    d.bytes = std::as_bytes(std::span(bytes));
    out.clear();
    const auto r = dispatcher.decode(d, out);
    if (r && *r != out.size()) __builtin_trap();
    for (const core::FlowRecord& f : out)  // touch every record: a read of anything unwritten shows
      if (f.sampling_interval == 0) __builtin_trap();
    if (cache.domain_count() > limits.max_domains || cache.template_count() > limits.max_templates) __builtin_trap();
    if (cache.memory_bytes() > limits.memory_bound()) __builtin_trap();
  }
  return 0;
}

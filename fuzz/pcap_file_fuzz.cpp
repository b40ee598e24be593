// Fuzz target: a classic pcap file read without libpcap (decode/pcap_file), every record walked
// down to UDP as the pcap source does, and libpcap's wording of the error that ends the file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "decode/packet_walk.hpp"
#include "decode/pcap_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::decode;
  const auto file = std::as_bytes(std::span(data, size));
  const auto header = parse_pcap_file_header(file);
  if (!header) return 0;
  std::size_t offset = kPcapFileHeaderSize;
  while (offset < file.size()) {
    const std::size_t at = offset;
    auto record = next_pcap_record(*header, file, offset);
    if (!record) {
      if (offset != at) std::abort();  // an error leaves the offset where the record began
      (void)describe_pcap_record_error(*header, file, at, record.error());
      break;
    }
    if (offset <= at || offset > file.size() || record->data.size() > kPcapMaxSnaplen) std::abort();
    (void)walk_to_udp(header->link_type, record->data);
  }
  return 0;
}

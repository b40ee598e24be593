// What every source hands to the decoders: one flow-export payload, who sent it, and when.
#pragma once

#include <cstdint>

#include "core/byte_reader.hpp"
#include "core/counters.hpp"
#include "core/ip_address.hpp"

namespace overflowd::core {

struct Datagram {
  IpAddress exporter;
  std::uint16_t exporter_port = 0;
  std::int64_t received_ns = 0;  // Unix nanoseconds (capture time for files)
  Bytes bytes;                   // the UDP payload; valid until the source's next read
  // What the bytes are when the source knows it (the Kafka source: goflow2's protobuf or JSON);
  // Protocol::packet: the dispatcher recognizes the flow export by its content.
  Protocol format = Protocol::packet;
};

}  // namespace overflowd::core

// goflow2's flow messages, as goflow2 publishes them to Kafka, mapped into the one flow record.
//
// - Protobuf (goflow2 -format=bin): a message holds one or more FlowMessage, each preceded by its
//   length as a varint (protobuf's "delimited" form). Field numbers: proto/flow.proto (the same as
//   netsampler/goflow2's pb/flow.proto). Read by a hand-written varint reader, not libprotobuf's
//   parser: no allocation per message, no dependency of the core library on libprotobuf, and
//   bench/goflow_bench.cpp measures it side by side with libprotobuf's ParseFromArray (the tests
//   use libprotobuf's generated code as the independent reference that writes the messages).
// - JSON (goflow2 -format=json): one object per message, keys as in the .proto (snake case);
//   addresses as text, `proto` and `etype` as numbers or names ("TCP"), `src_net`/`dst_net` as a
//   mask length or a prefix ("192.0.2.0/24"), `type` as a name ("IPFIX") or number.
//
// Pure over bytes. A refused message appends nothing and returns a coded error (the dispatcher
// counts it as goflow_pb.rejected.<reason> / goflow_json.rejected.<reason>).
// Mapping (docs/decoders.md, "goflow2"): sampling_rate -> sampling_interval (0 -> 1);
// sampler_address -> exporter (absent: the datagram's); time_flow_start_ns/end_ns -> stime/etime;
// type -> source type and version (SFLOW_5: sFlow 5, NETFLOW_V5: NetFlow 5, NETFLOW_V9: NetFlow 9,
// IPFIX: IPFIX 10, else NetFlow 0).
#pragma once

#include <cstdint>
#include <vector>

#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"

namespace overflowd::decode::goflow {

inline constexpr std::size_t kMaxFlowsPerMessage = 4096;  // more: record_limit
inline constexpr std::uint16_t kVersionTag = 0;           // Error::version of goflow refusals

// One FlowMessage (its bytes without the length prefix) into `out`. `exporter` is used when the
// message carries no sampler_address.
[[nodiscard]] core::Result<void> decode_flow_message(core::Bytes message, const core::IpAddress& exporter,
                                                     core::FlowRecord& out) noexcept;

// A Kafka message of goflow2's binary format: one or more varint-length-delimited FlowMessages.
// Appends one flow per FlowMessage; returns how many.
[[nodiscard]] core::Result<std::size_t> decode_pb(const core::Datagram& datagram, std::vector<core::FlowRecord>& out);

// A Kafka message of goflow2's JSON format: one object. Appends one flow.
[[nodiscard]] core::Result<std::size_t> decode_json(const core::Datagram& datagram, std::vector<core::FlowRecord>& out);

}  // namespace overflowd::decode::goflow

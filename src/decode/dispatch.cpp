#include "decode/dispatch.hpp"

#include "decode/goflow.hpp"
#include "decode/ipfix.hpp"
#include "decode/netflow_v5.hpp"
#include "decode/netflow_v9.hpp"
#include "decode/sflow_v5.hpp"

namespace overflowd::decode {

using core::Errc;
using core::Protocol;

Protocol sniff(core::Bytes payload) noexcept {
  core::ByteReader r(payload);
  const std::uint32_t first = r.u32();
  if (!r.ok()) return Protocol::packet;
  switch (first >> 16) {
    case 5:
      return Protocol::netflow_v5;
    case 9:
      return Protocol::netflow_v9;
    case 10:
      return Protocol::ipfix;
    default:
      break;
  }
  if (first == 5) return Protocol::sflow_v5;  // sFlow's version is a 32-bit field
  return Protocol::packet;
}

core::Result<std::size_t> Dispatcher::decode(const core::Datagram& datagram, std::vector<core::FlowRecord>& out) {
  const Protocol protocol = datagram.format == Protocol::packet ? sniff(datagram.bytes) : datagram.format;
  core::Result<std::size_t> result = core::fail(Errc::not_flow_export, 0);
  set_errors_.clear();
  switch (protocol) {
    case Protocol::netflow_v5:
      result = netflow_v5::decode(datagram, out);
      break;
    case Protocol::netflow_v9:
      result = netflow_v9::decode(datagram, templates_, out, set_errors_);
      break;
    case Protocol::ipfix:
      result = ipfix::decode(datagram, templates_, out, set_errors_);
      break;
    case Protocol::sflow_v5: {
      // Refused samples of an accepted datagram are counted here; its good samples are kept.
      sflow_v5::Stats stats;
      result = sflow_v5::decode(datagram, out, stats);
      sflow_v5::add_to(counters_, stats);
      break;
    }
    case Protocol::goflow_pb:
      result = goflow::decode_pb(datagram, out);
      break;
    case Protocol::goflow_json:
      result = goflow::decode_json(datagram, out);
      break;
    case Protocol::packet:
    case Protocol::count_:
      break;
  }
  const auto p = static_cast<std::size_t>(protocol);
  // Refusals of single sets inside an accepted v9 / IPFIX datagram (none for v5 and sFlow: the
  // per-reason loop is skipped, not run over zeros for every datagram).
  if (!set_errors_.empty())
    for (std::size_t e = 0; e < core::kErrcCount; ++e) counters_.rejected[p][e] += set_errors_.by_code()[e];
  counters_.skipped[p] += set_errors_.skipped();
  counters_.packets_estimated[p] += set_errors_.packets_estimated();
  counters_.no_counters[p] += set_errors_.no_counters();
  counters_.no_time[p] += set_errors_.no_time();
  // This dispatcher's cache is its own, so its totals are this dispatcher's.
  counters_.evicted_domains = templates_.evicted_domains();
  counters_.evicted_templates = templates_.evicted_templates();
  if (result) {
    ++counters_.datagrams[p];
    counters_.records[p] += *result;
  } else {
    counters_.reject(protocol, result.error().code);
  }
  return result;
}

}  // namespace overflowd::decode

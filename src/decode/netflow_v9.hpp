// NetFlow v9 (RFC 3954): a 20-byte header, then FlowSets: templates (id 0), options templates (id 1)
// and data (id >= 256, the id of their template). Templates are kept in a TemplateCache passed in,
// keyed by (exporter address, version 9, source id, template id); fields map through
// information_elements.hpp into core::FlowRecord (source type Netflow, version 9).
//
// What this decoder does with what exporters send:
// - The header's count (records of all kinds in the packet) is advisory: exporters get it wrong
//   (some count FlowSets, some count only data records), so it is not checked; the FlowSet lengths
//   alone say where everything is.
// - A FlowSet length under 4 or past the end of the datagram is bad_set_length and ends the datagram
//   (nothing after it can be located); records of the FlowSets before it are kept. 1 to 3 bytes
//   after the last FlowSet are taken as padding.
// - A malformed template (id < 256, field count 0 or past the FlowSet, options scope/option lengths
//   not multiples of 4) is bad_template and ends its FlowSet; the FlowSets after it are still
//   decoded. A template over a cap is counted (field_limit, record_limit, template_limit,
//   exporter_limit) and skipped; so is one whose fields all have length 0 (bad_template).
// - A field of length 0 is legal (Juniper's options "System" scope, ls_nf9_0length's data fields):
//   it carries nothing and is skipped.
// - Options template scope fields (System, Interface, ...: RFC 3954 6.1) are a separate type space,
//   so they are skipped; the option fields map like data fields (SAMPLING_INTERVAL 34,
//   FLOW_SAMPLER_RANDOM_INTERVAL 50 per FLOW_SAMPLER_ID 48: see TemplateCache::learn()).
// - Data for a template not (yet) received is unknown_template (version, source id, template id in
//   the Error) and dropped, not buffered; see template_cache.hpp.
// - A field length of 65535 is read as an IPFIX variable-length field (RFC 7011 7); v9 has none,
//   and no v9 exporter can send a fixed field that long.
// - FIRST/LAST_SWITCHED (22/21) are sysUpTime milliseconds, turned into Unix milliseconds with the
//   header's sysUpTime and unix_secs, wrap-around included.
#pragma once

#include <cstdint>
#include <vector>

#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"
#include "decode/flow_sets.hpp"
#include "decode/template_cache.hpp"

namespace overflowd::decode::netflow_v9 {

inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::uint16_t kTemplateSetId = 0;
inline constexpr std::uint16_t kOptionsTemplateSetId = 1;
inline constexpr std::uint16_t kMinDataSetId = 256;

struct Header {
  std::uint16_t version = 0;
  std::uint16_t count = 0;       // advisory, see above
  std::uint32_t sys_uptime = 0;  // ms since the exporter booted
  std::uint32_t unix_secs = 0;
  std::uint32_t sequence = 0;
  std::uint32_t source_id = 0;
};

[[nodiscard]] core::Result<Header> parse_header(core::Bytes datagram) noexcept;

// Appends the flow records of every good data FlowSet to `out` and returns how many; updates
// `cache` with templates and options data. Fails only when the header is unusable (short_header,
// bad_version); errors of single FlowSets go to `errors` and the rest of the datagram is decoded.
[[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram, TemplateCache& cache,
                                               std::vector<core::FlowRecord>& out, SetErrors& errors);

}  // namespace overflowd::decode::netflow_v9

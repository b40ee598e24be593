// IPFIX (RFC 7011): a 16-byte message header, then Sets: templates (id 2), options templates (id 3)
// and data (id >= 256, the id of their template). Templates are kept in a TemplateCache passed in,
// keyed by (exporter address, version 10, observation domain id, template id); information elements
// (RFC 7012 / IANA) map through information_elements.hpp into core::FlowRecord (source type IPFIX,
// version 10).
//
// What this decoder does with what exporters send:
// - The message length must be at least 16 and at most the datagram (else bad_message_length, the
//   whole datagram refused); bytes after the message are trailing_bytes, counted while the message
//   itself is decoded. The Sets must fill the message exactly.
// - A Set length under 4 or past the message is bad_set_length and ends the message (nothing after it
//   can be located); records of the Sets before it are kept. Set ids 0, 1 and 4..255 are reserved:
//   such Sets are skipped and counted as skipped.
// - Template withdrawal (8.1): a record with field count 0 withdraws that template id; one whose
//   template id is the Set id (2 or 3) withdraws all data (2) or all options (3) templates of the
//   domain. A malformed template (id < 256 that is not such a withdrawal, a field specifier past the
//   Set, an options template whose scope field count is 0 or above its field count) is
//   bad_template and ends its Set; the Sets after it are still decoded. A template over a cap is
//   counted (field_limit, record_limit, template_limit, exporter_limit) and skipped; so is one whose
//   fields all have length 0 (bad_template). A single field of length 0 is legal and skipped.
// - Enterprise-specific fields (E bit, 4-byte enterprise number) and unknown elements are skipped
//   with their length, except the reverse counters of biflows (RFC 5103, PEN 29305; Ixia's 3054),
//   which give the reverse direction as a flow of its own (flow_sets.hpp); variable-length fields
//   (length 65535: 1-byte length, or 255 and a 2-byte length) are skipped the same way.
// - Options data teaches sampling (samplingInterval 34, samplerRandomInterval 50,
//   samplingPacketInterval/Space 305/306, per samplerId 48 or selectorId 302) and
//   systemInitTimeMilliseconds (160), see TemplateCache::learn(); scope fields are ordinary
//   information elements here, so selectorId as a scope works.
// - Data for a template not (yet) received is unknown_template (version, observation domain,
//   template id in the Error) and dropped, not buffered; see template_cache.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "core/datagram.hpp"
#include "core/flow_record.hpp"
#include "core/result.hpp"
#include "decode/flow_sets.hpp"
#include "decode/template_cache.hpp"

namespace overflowd::decode::ipfix {

inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint16_t kTemplateSetId = 2;
inline constexpr std::uint16_t kOptionsTemplateSetId = 3;
inline constexpr std::uint16_t kMinDataSetId = 256;

struct Header {
  std::uint16_t version = 0;
  std::uint16_t length = 0;  // of the whole message, header included
  std::uint32_t export_time = 0;  // Unix seconds
  std::uint32_t sequence = 0;
  std::uint32_t observation_domain = 0;
};

// Checks version and message length (short_header, bad_version, bad_message_length).
[[nodiscard]] core::Result<Header> parse_header(core::Bytes datagram) noexcept;

// Appends the flow records of every good data Set to `out` and returns how many; updates `cache`
// with templates, withdrawals and options data. Fails only when the header is unusable; errors of
// single Sets go to `errors` and the rest of the message is decoded.
[[nodiscard]] core::Result<std::size_t> decode(const core::Datagram& datagram, TemplateCache& cache,
                                               std::vector<core::FlowRecord>& out, SetErrors& errors);

}  // namespace overflowd::decode::ipfix

// Coded errors for the hot path: decoders return Result<T> (std::expected), never throw or log.
// An Error says what was refused (code), where (byte offset), and in which context (protocol
// version, observation domain / source id, template id), as goflow2's decoder errors do.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace overflowd::core {

// Every reason an input can be refused. Each is also the name of a counter (see counters.hpp), so
// keep the names stable: they are printed in summaries and will be exported as metrics.
#define OVERFLOWD_ERRC_LIST(X)                                                                   \
  /* packet walk: link layer down to the UDP payload */                                          \
  X(truncated_capture, "truncated_capture")                                                      \
  X(unsupported_link_type, "unsupported_link_type")                                              \
  X(short_link_header, "short_link_header")                                                      \
  X(not_ip, "not_ip")                                                                            \
  X(bad_ip_header, "bad_ip_header")                                                              \
  X(ip_fragment, "ip_fragment")                                                                  \
  X(not_udp, "not_udp")                                                                          \
  X(bad_udp_header, "bad_udp_header")                                                            \
  X(bad_udp_checksum, "bad_udp_checksum")                                                        \
  X(other_destination, "other_destination")                                                      \
  /* dispatch */                                                                                 \
  X(not_flow_export, "not_flow_export")                                                          \
  X(unsupported_version, "unsupported_version")                                                  \
  /* sFlow v5: lengths and counts that lie, and the decoder's caps */                            \
  X(bad_address_type, "bad_address_type")                                                        \
  X(sample_count_overrun, "sample_count_overrun")                                                \
  X(sample_length_overrun, "sample_length_overrun")                                              \
  X(sample_limit, "sample_limit")                                                                \
  X(record_count_overrun, "record_count_overrun")                                                \
  X(record_length_overrun, "record_length_overrun")                                              \
  X(short_record, "short_record")                                                                \
  X(header_length_overrun, "header_length_overrun")                                              \
  X(header_limit, "header_limit")                                                                \
  X(list_overrun, "list_overrun")                                                                \
  X(as_path_limit, "as_path_limit")                                                              \
  X(bad_mask_length, "bad_mask_length")                                                          \
  /* shared by the flow decoders */                                                              \
  X(short_header, "short_header")                                                                \
  X(bad_version, "bad_version")                                                                  \
  X(count_zero, "count_zero")                                                                    \
  X(count_too_large, "count_too_large")                                                          \
  X(bad_nanoseconds, "bad_nanoseconds")                                                          \
  X(truncated_records, "truncated_records")                                                      \
  X(trailing_bytes, "trailing_bytes")                                                            \
  X(bad_set_length, "bad_set_length")                                                            \
  X(bad_template, "bad_template")                                                                \
  X(unknown_template, "unknown_template")                                                        \
  X(template_limit, "template_limit")                                                            \
  X(exporter_limit, "exporter_limit")                                                            \
  X(exporter_domain_limit, "exporter_domain_limit")                                              \
  X(exporter_template_limit, "exporter_template_limit")                                          \
  X(record_limit, "record_limit")                                                                \
  X(bad_field_length, "bad_field_length")                                                        \
  X(bad_sample, "bad_sample")                                                                    \
  X(bad_packet_header, "bad_packet_header")                                                      \
  X(no_addresses, "no_addresses")                                                                \
  /* NetFlow v9 / IPFIX (templates) */                                                           \
  X(bad_message_length, "bad_message_length")                                                    \
  X(field_limit, "field_limit")                                                                  \
  X(sampler_limit, "sampler_limit")                                                              \
  X(template_expired, "template_expired")                                                        \
  /* goflow2 messages from Kafka (protobuf, JSON) and the Kafka source */                        \
  X(bad_varint, "bad_varint")                                                                    \
  X(bad_wire_type, "bad_wire_type")                                                              \
  X(field_overrun, "field_overrun")                                                              \
  X(bad_address_length, "bad_address_length")                                                    \
  X(bad_field_value, "bad_field_value")                                                          \
  X(bad_json, "bad_json")                                                                        \
  X(kafka_error, "kafka_error")

enum class Errc : std::uint8_t {
#define OVERFLOWD_ERRC_ENUM(name, text) name,
  OVERFLOWD_ERRC_LIST(OVERFLOWD_ERRC_ENUM)
#undef OVERFLOWD_ERRC_ENUM
  count_
};

inline constexpr std::size_t kErrcCount = static_cast<std::size_t>(Errc::count_);

[[nodiscard]] constexpr std::string_view to_string(Errc e) noexcept {
  switch (e) {
#define OVERFLOWD_ERRC_CASE(name, text) \
  case Errc::name:                      \
    return text;
    OVERFLOWD_ERRC_LIST(OVERFLOWD_ERRC_CASE)
#undef OVERFLOWD_ERRC_CASE
    case Errc::count_:
      break;
  }
  return "unknown";
}

struct Error {
  Errc code{};
  std::uint32_t offset = 0;       // byte offset in the datagram where the problem was found
  std::uint16_t version = 0;      // protocol version (5, 9, 10, sFlow 5), 0 when unknown
  std::uint16_t template_id = 0;  // v9 / IPFIX template id, 0 when not relevant
  std::uint32_t domain = 0;       // v9 source id / IPFIX observation domain / sFlow sub-agent

  // "v9 domain 7 template 256: unknown_template at offset 20"
  [[nodiscard]] std::string describe() const;
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(Errc code, std::size_t offset, std::uint16_t version = 0,
                                                 std::uint32_t domain = 0,
                                                 std::uint16_t template_id = 0) noexcept {
  return std::unexpected(Error{code, static_cast<std::uint32_t>(offset), version, template_id, domain});
}

}  // namespace overflowd::core

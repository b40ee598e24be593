// Builds the report on one flow in the prototype's layout, as canonical JSON (RFC 8785): keys in
// sorted order, no white space. That string is the message that gets signed.
//
//   {"contact":{"email":..,"identity":..},
//    "flowdata":{"data":{"bcount":..,"daddr":..,...},"sourcetype":{"type":"Netflow","version":5}},
//    "metadata":{"class":"INFORMATIONAL","info":"FLOWSEEN","time":1700000000.123456}}
// or, for a flow the suspicion policy boosted,
//    "metadata":{"class":"SUSPICIOUS","info":"FLOWSEEN",
//                "reasons":[{"class":"spoofed-source","list":"drop","rule":"drop-sources"}],"time":..}}
// and "coherent":true after "class" when path-coherent sampling picked the flow, and
//    "rotation":{"old":..,"signatures":[..,..],"time":..} before "time" while the sender carries
// its rotation statement (ReportConfig).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/flow_record.hpp"
#include "policy/policy.hpp"

namespace overflowd::report {

struct Contact {
  std::string email;
  std::string identity;
  [[nodiscard]] bool empty() const noexcept { return email.empty() && identity.empty(); }
};

struct ReportConfig {
  Contact contact;
  // metadata.rotation: the member (canonical JSON, document.hpp rotation_member) carried in every
  // report made before rotation_until_ns (Unix ns); empty: none.
  std::string rotation{};
  std::int64_t rotation_until_ns = 0;
};

class ReportBuilder {
public:
  explicit ReportBuilder(ReportConfig config) : config_(std::move(config)) {}

  // Replaces `out` with the unsigned report on `flow`, made at `now_ns` (Unix nanoseconds; the
  // report carries it as fractional seconds with microsecond precision). `coherent`: the sampler's
  // coherent draw picked the flow (metadata.coherent: true; absent otherwise).
  void build(const core::FlowRecord& flow, std::int64_t now_ns, std::string& out) const { build(flow, now_ns, out, {}, false); }
  // With the suspicion policy's reasons: none gives the INFORMATIONAL report above, byte for byte;
  // some make metadata.class "SUSPICIOUS" and add metadata.reasons, one {class, list, rule} each
  // (list left out when the rule matched no list).
  void build(const core::FlowRecord& flow, std::int64_t now_ns, std::string& out,
             std::span<const policy::Reason> reasons, bool coherent = false) const;

private:
  ReportConfig config_;
};

// The longest message `config`'s contact can make for any flow: IPv6 addresses of the longest
// text, every field present at its widest value, the longest metadata.time, no reasons (the
// suspicion policy's are not bounded here), metadata.rotation only when `with_rotation`, and
// `recipient_bytes` of metadata.recipient address text when given (sealed reports; 0: none).
// The sender's start-up check compares it with the datagram cap (docs/manual.md, "Encryption").
[[nodiscard]] std::size_t worst_case_message_bytes(const ReportConfig& config, std::size_t recipient_bytes,
                                                   bool with_rotation);
// The bytes metadata.recipient adds for an address of `address_bytes` characters (seal.hpp add_recipient).
[[nodiscard]] constexpr std::size_t recipient_member_bytes(std::size_t address_bytes) noexcept {
  return address_bytes ? std::string_view(R"(,"recipient":"")").size() + address_bytes : 0;
}
// The longest text of an address (IPv6, eight groups of four hex digits).
inline constexpr std::size_t kMaxAddressText = 39;

}  // namespace overflowd::report

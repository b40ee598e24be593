// Writes flow-export datagrams byte by byte for the v9 / IPFIX tests: big-endian integers, addresses,
// and the two length fields (set and message) patched once their content is written. Everything
// else (ids, counts, field specifiers, record values) is spelled out in each test, following the
// layouts of RFC 3954 and RFC 7011 by hand; nothing here knows a template.
#pragma once

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/datagram.hpp"
#include "core/ip_address.hpp"

namespace overflowd::test {

class Builder {
public:
  Builder& u8(std::uint64_t v) {
    b_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Builder& u16(std::uint64_t v) { return be(v, 2); }
  Builder& u24(std::uint64_t v) { return be(v, 3); }
  Builder& u32(std::uint64_t v) { return be(v, 4); }
  Builder& u64(std::uint64_t v) { return be(v, 8); }
  Builder& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Builder& zeros(std::size_t n) {
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  Builder& ipv4(const char* text) {
    std::uint8_t a[4];
    ::inet_pton(AF_INET, text, a);
    b_.insert(b_.end(), a, a + 4);
    return *this;
  }
  Builder& ipv6(const char* text) {
    std::uint8_t a[16];
    ::inet_pton(AF_INET6, text, a);
    b_.insert(b_.end(), a, a + 16);
    return *this;
  }
  Builder& text(const std::string& s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  // A field specifier (v9 type or IPFIX element id, length).
  Builder& field(std::uint16_t id, std::uint16_t length) { return u16(id).u16(length); }
  // An IPFIX enterprise-specific field specifier: E bit, id, length, enterprise number.
  Builder& enterprise_field(std::uint16_t id, std::uint16_t length, std::uint32_t pen) {
    return u16(0x8000u | id).u16(length).u32(pen);
  }

  // Starts a set / FlowSet: id and a length patched by end_set().
  Builder& begin_set(std::uint16_t id) {
    set_start_ = b_.size();
    return u16(id).u16(0);
  }
  // Pads with zeros to a multiple of `align` (0: none) and writes the set length.
  Builder& end_set(std::size_t align = 0) {
    if (align)
      while ((b_.size() - set_start_) % align) b_.push_back(0);
    return patch16(set_start_ + 2, b_.size() - set_start_);
  }
  // IPFIX: writes the message length (bytes 2-3) as the size so far.
  Builder& end_message() { return patch16(2, b_.size()); }

  Builder& patch16(std::size_t at, std::size_t v) {
    b_[at] = static_cast<std::uint8_t>(v >> 8);
    b_[at + 1] = static_cast<std::uint8_t>(v);
    return *this;
  }

  [[nodiscard]] std::size_t size() const { return b_.size(); }
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const { return b_; }

  // A datagram over these bytes from `exporter` (valid while the builder lives).
  [[nodiscard]] core::Datagram datagram(const char* exporter = "192.0.2.1") const {
    core::Datagram d;
    d.exporter = *core::IpAddress::parse(exporter);
    d.exporter_port = 2055;
    d.bytes = std::as_bytes(std::span(b_));
    return d;
  }

private:
  std::vector<std::uint8_t> b_;
  std::size_t set_start_ = 0;
};

// NetFlow v9 header (RFC 3954 5.1): version 9, count, sysUpTime, UNIX secs, sequence, source id.
inline Builder v9_header(std::uint32_t source_id, std::uint32_t sys_uptime = 100'000,
                         std::uint32_t unix_secs = 1'700'000'000, std::uint16_t count = 1) {
  Builder b;
  b.u16(9).u16(count).u32(sys_uptime).u32(unix_secs).u32(1).u32(source_id);
  return b;
}

// IPFIX message header (RFC 7011 3.1): version 10, length (patched by end_message()), export time,
// sequence number, observation domain id.
inline Builder ipfix_header(std::uint32_t domain, std::uint32_t export_time = 1'700'000'000) {
  Builder b;
  b.u16(10).u16(0).u32(export_time).u32(0).u32(domain);
  return b;
}

inline core::IpAddress ip(const char* text) { return *core::IpAddress::parse(text); }

}  // namespace overflowd::test

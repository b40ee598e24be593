// Counters are plain structs: each stage owns one, increments it without locks, and the app merges
// and prints them (later exports them as metrics). Every refusal is counted under its reason.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace overflowd::core {

// goflow_pb / goflow_json: goflow2's flow messages (protobuf, JSON), as the Kafka source declares them.
enum class Protocol : std::uint8_t { packet, netflow_v5, netflow_v9, ipfix, sflow_v5, goflow_pb, goflow_json, count_ };
inline constexpr std::size_t kProtocolCount = static_cast<std::size_t>(Protocol::count_);

[[nodiscard]] constexpr const char* to_string(Protocol p) noexcept {
  switch (p) {
    case Protocol::packet:
      return "packet";
    case Protocol::netflow_v5:
      return "netflow_v5";
    case Protocol::netflow_v9:
      return "netflow_v9";
    case Protocol::ipfix:
      return "ipfix";
    case Protocol::sflow_v5:
      return "sflow_v5";
    case Protocol::goflow_pb:
      return "goflow_pb";
    case Protocol::goflow_json:
      return "goflow_json";
    case Protocol::count_:
      break;
  }
  return "unknown";
}

struct NamedCount {
  std::string name;
  std::uint64_t value = 0;
  friend bool operator==(const NamedCount&, const NamedCount&) = default;
};

struct DecodeCounters {
  std::array<std::uint64_t, kProtocolCount> datagrams{};  // accepted, per protocol
  std::array<std::uint64_t, kProtocolCount> records{};    // flow records produced
  std::array<std::uint64_t, kProtocolCount> skipped{};    // samples/sets seen and skipped on purpose
  // Flow records kept with a packet count that the exporter did not give (docs/decoders.md):
  std::array<std::uint64_t, kProtocolCount> packets_estimated{};  // from the byte count
  std::array<std::uint64_t, kProtocolCount> no_counters{};        // pure events: counted as 1 packet
  // Flow records whose time fields gave no time (IPFIX uptime stamps without the exporter's boot
  // time): reported without stime/etime.
  std::array<std::uint64_t, kProtocolCount> no_time{};
  std::array<std::array<std::uint64_t, kErrcCount>, kProtocolCount> rejected{};
  // v9 / IPFIX domains (and their templates) evicted to make room for other exporters
  // (decode::TemplateCache): "templates.evicted_domains", "templates.evicted_templates".
  std::uint64_t evicted_domains = 0;
  std::uint64_t evicted_templates = 0;

  void reject(Protocol p, Errc e) noexcept {
    ++rejected[static_cast<std::size_t>(p)][static_cast<std::size_t>(e)];
  }
  [[nodiscard]] std::uint64_t rejected_count(Protocol p, Errc e) const noexcept {
    return rejected[static_cast<std::size_t>(p)][static_cast<std::size_t>(e)];
  }
  [[nodiscard]] std::uint64_t total_rejected() const noexcept;
  void merge(const DecodeCounters& other) noexcept;
  // Every non-zero counter, named "netflow_v5.records", "netflow_v5.rejected.count_zero", ...
  void append_to(std::vector<NamedCount>& out) const;
};

}  // namespace overflowd::core

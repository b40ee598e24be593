// What the template-based decoder benchmarks (NetFlow v9, IPFIX) share: a big-endian message
// builder and the timed loop (the template decoded once, then one data message over and over,
// through the dispatcher as the pipeline calls it).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <vector>

#include "decode/dispatch.hpp"

namespace overflowd::bench {

struct Bytes {
  std::vector<std::uint8_t> b;
  void u8(std::uint32_t v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void u16(std::uint32_t v) { u8(v >> 8), u8(v); }
  void u32(std::uint32_t v) { u16(v >> 16), u16(v & 0xffff); }
  void u64(std::uint64_t v) { u32(static_cast<std::uint32_t>(v >> 32)), u32(static_cast<std::uint32_t>(v)); }
  // Writes n as a 16-bit length at `at`.
  void patch16(std::size_t at, std::size_t n) {
    b[at] = static_cast<std::uint8_t>(n >> 8);
    b[at + 1] = static_cast<std::uint8_t>(n);
  }
  // The set (or flowset) that starts at `at` ends here: its length field (at + 2) says so.
  void end_set(std::size_t at) { patch16(at + 2, b.size() - at); }
  [[nodiscard]] core::Datagram datagram() const {
    core::Datagram d;
    d.exporter = core::IpAddress::v4(0xc0000201u);
    d.bytes = std::as_bytes(std::span(b));
    return d;
  }
};

inline void run_decoder(benchmark::State& state, const Bytes& tmpl, const Bytes& data, std::size_t per_message) {
  decode::Dispatcher dispatcher;
  std::vector<core::FlowRecord> out;
  out.reserve(64);
  if (!dispatcher.decode(tmpl.datagram(), out)) state.SkipWithError("template refused");
  const core::Datagram d = data.datagram();
  for (auto _ : state) {
    out.clear();
    const auto n = dispatcher.decode(d, out);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out.data());
  }
  if (out.size() != per_message) state.SkipWithError("wrong record count");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(per_message));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.b.size()));
}

}  // namespace overflowd::bench

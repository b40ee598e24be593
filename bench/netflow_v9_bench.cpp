// NetFlow v9 decoding speed with the template cached: flows per second on one core, through the
// dispatcher as the pipeline calls it. Datagrams are built once: a typical router template (18
// fields, 45-byte records, as Cisco's default IPv4 record) and 30 records per datagram (1370 bytes,
// within a 1500-byte MTU); an IPv6 one (9 fields, 63-byte records, 22 per datagram).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"
#include "decode/netflow_v9.hpp"

namespace {

using namespace overflowd;

struct Bytes {
  std::vector<std::uint8_t> b;
  void u8(std::uint32_t v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void u16(std::uint32_t v) { u8(v >> 8), u8(v); }
  void u32(std::uint32_t v) { u16(v >> 16), u16(v & 0xffff); }
  void header(std::uint16_t count) {
    u16(9), u16(count), u32(3'600'000), u32(1'700'000'000), u32(1), u32(1);
  }
  void set_length(std::size_t at) {
    const std::size_t n = b.size() - at;
    b[at + 2] = static_cast<std::uint8_t>(n >> 8);
    b[at + 3] = static_cast<std::uint8_t>(n);
  }
  core::Datagram datagram() const {
    core::Datagram d;
    d.exporter = core::IpAddress::v4(0xc0000201u);
    d.bytes = std::as_bytes(std::span(b));
    return d;
  }
};

constexpr std::uint16_t kV4Fields[][2] = {{8, 4},  {12, 4}, {15, 4}, {4, 1},  {5, 1},  {6, 1},
                                          {7, 2},  {11, 2}, {10, 2}, {14, 2}, {16, 2}, {17, 2},
                                          {9, 1},  {13, 1}, {2, 4},  {1, 4},  {22, 4}, {21, 4}};
constexpr std::uint16_t kV6Fields[][2] = {{27, 16}, {28, 16}, {4, 1}, {7, 2}, {11, 2}, {2, 4}, {1, 4},
                                          {22, 4},  {21, 4}};

template <std::size_t N>
Bytes template_datagram(std::uint16_t id, const std::uint16_t (&fields)[N][2]) {
  Bytes t;
  t.header(1);
  const std::size_t at = t.b.size();
  t.u16(0), t.u16(0), t.u16(id), t.u16(N);
  for (const auto& f : fields) t.u16(f[0]), t.u16(f[1]);
  t.set_length(at);
  return t;
}

Bytes v4_data(int records) {
  Bytes d;
  d.header(static_cast<std::uint16_t>(records));
  const std::size_t at = d.b.size();
  d.u16(256), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0xc6336400u + k), d.u32(0xcb007100u + k), d.u32(0xc6336401u);  // 198.51.100.x, 203.0.113.x
    d.u8(6), d.u8(0), d.u8(0x1b), d.u16(40000 + k), d.u16(443), d.u16(1), d.u16(2), d.u16(64500), d.u16(64501);
    d.u8(24), d.u8(24), d.u32(10 + k), d.u32(1500 * (10 + k)), d.u32(3'500'000), d.u32(3'599'000);
  }
  while ((d.b.size() - at) % 4) d.u8(0);
  d.set_length(at);
  return d;
}

Bytes v6_data(int records) {
  Bytes d;
  d.header(static_cast<std::uint16_t>(records));
  const std::size_t at = d.b.size();
  d.u16(257), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0x20010db8u), d.u32(0), d.u32(0), d.u32(k + 1);
    d.u32(0x20010db8u), d.u32(1), d.u32(0), d.u32(k + 2);
    d.u8(17), d.u16(50000 + k), d.u16(53), d.u32(1), d.u32(80), d.u32(3'500'000), d.u32(3'500'000);
  }
  while ((d.b.size() - at) % 4) d.u8(0);
  d.set_length(at);
  return d;
}

void run(benchmark::State& state, const Bytes& tmpl, const Bytes& data, std::size_t per_datagram) {
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
  if (out.size() != per_datagram) state.SkipWithError("wrong record count");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(per_datagram));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.b.size()));
}

void BM_NetflowV9_Ipv4_30Records(benchmark::State& state) {
  static const Bytes t = template_datagram(256, kV4Fields);
  static const Bytes d = v4_data(30);
  run(state, t, d, 30);
}
BENCHMARK(BM_NetflowV9_Ipv4_30Records);

void BM_NetflowV9_Ipv6_22Records(benchmark::State& state) {
  static const Bytes t = template_datagram(257, kV6Fields);
  static const Bytes d = v6_data(22);
  run(state, t, d, 22);
}
BENCHMARK(BM_NetflowV9_Ipv6_22Records);

}  // namespace

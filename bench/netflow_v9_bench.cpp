// NetFlow v9 decoding speed with the template cached: flows per second on one core, through the
// dispatcher as the pipeline calls it. Datagrams are built once: a typical router template (18
// fields, 45-byte records, as Cisco's default IPv4 record) and 30 records per datagram (1370 bytes,
// within a 1500-byte MTU); an IPv6 one (9 fields, 63-byte records, 22 per datagram).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "decode/netflow_v9.hpp"
#include "decode_bench_support.hpp"

namespace {

using namespace overflowd;
using bench::Bytes;

void header(Bytes& m, std::uint16_t count) {
  m.u16(9), m.u16(count), m.u32(3'600'000), m.u32(1'700'000'000), m.u32(1), m.u32(1);
}

constexpr std::uint16_t kV4Fields[][2] = {{8, 4},  {12, 4}, {15, 4}, {4, 1},  {5, 1},  {6, 1},
                                          {7, 2},  {11, 2}, {10, 2}, {14, 2}, {16, 2}, {17, 2},
                                          {9, 1},  {13, 1}, {2, 4},  {1, 4},  {22, 4}, {21, 4}};
constexpr std::uint16_t kV6Fields[][2] = {{27, 16}, {28, 16}, {4, 1}, {7, 2}, {11, 2}, {2, 4}, {1, 4},
                                          {22, 4},  {21, 4}};

template <std::size_t N>
Bytes template_datagram(std::uint16_t id, const std::uint16_t (&fields)[N][2]) {
  Bytes t;
  header(t, 1);
  const std::size_t at = t.b.size();
  t.u16(0), t.u16(0), t.u16(id), t.u16(N);
  for (const auto& f : fields) t.u16(f[0]), t.u16(f[1]);
  t.end_set(at);
  return t;
}

Bytes v4_data(int records) {
  Bytes d;
  header(d, static_cast<std::uint16_t>(records));
  const std::size_t at = d.b.size();
  d.u16(256), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0xc6336400u + k), d.u32(0xcb007100u + k), d.u32(0xc6336401u);  // 198.51.100.x, 203.0.113.x
    d.u8(6), d.u8(0), d.u8(0x1b), d.u16(40000 + k), d.u16(443), d.u16(1), d.u16(2), d.u16(64500), d.u16(64501);
    d.u8(24), d.u8(24), d.u32(10 + k), d.u32(1500 * (10 + k)), d.u32(3'500'000), d.u32(3'599'000);
  }
  while ((d.b.size() - at) % 4) d.u8(0);
  d.end_set(at);
  return d;
}

Bytes v6_data(int records) {
  Bytes d;
  header(d, static_cast<std::uint16_t>(records));
  const std::size_t at = d.b.size();
  d.u16(257), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0x20010db8u), d.u32(0), d.u32(0), d.u32(k + 1);
    d.u32(0x20010db8u), d.u32(1), d.u32(0), d.u32(k + 2);
    d.u8(17), d.u16(50000 + k), d.u16(53), d.u32(1), d.u32(80), d.u32(3'500'000), d.u32(3'500'000);
  }
  while ((d.b.size() - at) % 4) d.u8(0);
  d.end_set(at);
  return d;
}

void BM_NetflowV9_Ipv4_30Records(benchmark::State& state) {
  static const Bytes t = template_datagram(256, kV4Fields);
  static const Bytes d = v4_data(30);
  bench::run_decoder(state, t, d, 30);
}
BENCHMARK(BM_NetflowV9_Ipv4_30Records);

void BM_NetflowV9_Ipv6_22Records(benchmark::State& state) {
  static const Bytes t = template_datagram(257, kV6Fields);
  static const Bytes d = v6_data(22);
  bench::run_decoder(state, t, d, 22);
}
BENCHMARK(BM_NetflowV9_Ipv6_22Records);

}  // namespace

// IPFIX decoding speed with the template cached: flows per second on one core, through the
// dispatcher as the pipeline calls it. Messages are built once: a typical IPv4 template (18 fields,
// absolute millisecond times 152/153, 57-byte records, 25 per message: 1445 bytes), the same with
// a variable-length field (interfaceName) in every record, and an IPv6 one.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "decode_bench_support.hpp"

namespace {

using namespace overflowd;
using bench::Bytes;

void header(Bytes& m) { m.u16(10), m.u16(0), m.u32(1'700'000'000), m.u32(1), m.u32(1); }
void end_message(Bytes& m) { m.patch16(2, m.b.size()); }

constexpr std::uint16_t kV4Fields[][2] = {{8, 4},  {12, 4}, {15, 4}, {4, 1},  {5, 1},  {6, 1},
                                          {7, 2},  {11, 2}, {10, 4}, {14, 4}, {16, 4}, {17, 4},
                                          {9, 1},  {13, 1}, {2, 8},  {1, 8},  {152, 8}, {153, 8}};
constexpr std::uint16_t kV4VarFields[][2] = {{8, 4}, {12, 4}, {4, 1}, {7, 2}, {11, 2}, {82, 0xffff},
                                             {2, 8}, {1, 8}, {152, 8}, {153, 8}};
constexpr std::uint16_t kV6Fields[][2] = {{27, 16}, {28, 16}, {4, 1}, {7, 2}, {11, 2}, {2, 8}, {1, 8},
                                          {152, 8}, {153, 8}};

template <std::size_t N>
Bytes template_message(std::uint16_t id, const std::uint16_t (&fields)[N][2]) {
  Bytes t;
  header(t);
  const std::size_t at = t.b.size();
  t.u16(2), t.u16(0), t.u16(id), t.u16(N);
  for (const auto& f : fields) t.u16(f[0]), t.u16(f[1]);
  t.end_set(at);
  end_message(t);
  return t;
}

Bytes v4_data(int records) {
  Bytes d;
  header(d);
  const std::size_t at = d.b.size();
  d.u16(256), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0xc6336400u + k), d.u32(0xcb007100u + k), d.u32(0xc6336401u);
    d.u8(6), d.u8(0), d.u8(0x1b), d.u16(40000 + k), d.u16(443), d.u32(1), d.u32(2), d.u32(64500), d.u32(64501);
    d.u8(24), d.u8(24), d.u64(10 + k), d.u64(1500 * (10 + k)), d.u64(1'699'999'990'000), d.u64(1'699'999'999'000);
  }
  d.end_set(at);
  end_message(d);
  return d;
}

Bytes v4_var_data(int records) {
  Bytes d;
  header(d);
  const std::size_t at = d.b.size();
  d.u16(257), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0xc6336400u + k), d.u32(0xcb007100u + k), d.u8(17), d.u16(40000 + k), d.u16(53);
    d.u8(5);
    for (char c : {'e', 't', 'h', '0', '0'}) d.u8(static_cast<std::uint8_t>(c));
    d.u64(1), d.u64(80), d.u64(1'699'999'990'000), d.u64(1'699'999'999'000);
  }
  d.end_set(at);
  end_message(d);
  return d;
}

Bytes v6_data(int records) {
  Bytes d;
  header(d);
  const std::size_t at = d.b.size();
  d.u16(258), d.u16(0);
  for (int i = 0; i < records; ++i) {
    const auto k = static_cast<std::uint32_t>(i);
    d.u32(0x20010db8u), d.u32(0), d.u32(0), d.u32(k + 1);
    d.u32(0x20010db8u), d.u32(1), d.u32(0), d.u32(k + 2);
    d.u8(17), d.u16(50000 + k), d.u16(53), d.u64(1), d.u64(80), d.u64(1'699'999'990'000), d.u64(1'699'999'999'000);
  }
  d.end_set(at);
  end_message(d);
  return d;
}

void BM_Ipfix_Ipv4_25Records(benchmark::State& state) {
  static const Bytes t = template_message(256, kV4Fields);
  static const Bytes d = v4_data(25);
  bench::run_decoder(state, t, d, 25);
}
BENCHMARK(BM_Ipfix_Ipv4_25Records);

void BM_Ipfix_Ipv4_VariableLength_28Records(benchmark::State& state) {
  static const Bytes t = template_message(257, kV4VarFields);
  static const Bytes d = v4_var_data(28);
  bench::run_decoder(state, t, d, 28);
}
BENCHMARK(BM_Ipfix_Ipv4_VariableLength_28Records);

void BM_Ipfix_Ipv6_18Records(benchmark::State& state) {
  static const Bytes t = template_message(258, kV6Fields);
  static const Bytes d = v6_data(18);
  bench::run_decoder(state, t, d, 18);
}
BENCHMARK(BM_Ipfix_Ipv6_18Records);

}  // namespace

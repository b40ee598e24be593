#include "io/synth.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace overflowd::io {

namespace {

struct Rng {  // splitmix64: reproducible, and not for anything secret
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

struct Flow {
  std::uint32_t src, dst;
  std::uint16_t sport, dport;
  std::uint8_t proto, flags;
  std::uint32_t packets, bytes;
};

void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
void put32le(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

constexpr std::uint32_t ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

}  // namespace

std::expected<SynthSummary, std::string> write_synth_pcap(const SynthConfig& cfg) {
  Rng rng{cfg.seed};
  const bool lo = cfg.loopback;
  const std::uint32_t exporter = lo ? ip(127, 0, 0, 1) : ip(192, 0, 2, 1);
  const std::uint32_t collector = lo ? ip(127, 0, 0, 1) : ip(192, 0, 2, 2);
  const std::uint32_t victim = lo ? ip(127, 0, 0, 80) : ip(203, 0, 113, 80);

  Rng host_rng{cfg.seed ^ 0x686f737473ULL};  // its own stream: the main one is unchanged
  auto pick_hosts = [&](Flow& f) {
    if (!cfg.src_hosts.empty()) f.src = cfg.src_hosts[host_rng.below(static_cast<std::uint32_t>(cfg.src_hosts.size()))];
    if (!cfg.dst_hosts.empty()) f.dst = cfg.dst_hosts[host_rng.below(static_cast<std::uint32_t>(cfg.dst_hosts.size()))];
  };
  std::vector<Flow> flows;
  flows.reserve(std::size_t{cfg.background_flows} + cfg.flood_flows);
  static constexpr std::uint16_t kServices[] = {80, 443, 53, 22, 25, 123, 8080, 993};
  for (std::uint32_t i = 0; i < cfg.background_flows; ++i) {
    Flow f{};
    // Clients in one range talk to servers in the other; packet counts heavy-tailed (1 to ~2000).
    f.src = lo ? ip(127, 1, static_cast<std::uint8_t>(rng.below(256)), static_cast<std::uint8_t>(1 + rng.below(254)))
               : ip(198, 51, 100, static_cast<std::uint8_t>(1 + rng.below(254)));
    f.dst = lo ? ip(127, 2, static_cast<std::uint8_t>(rng.below(256)), static_cast<std::uint8_t>(1 + rng.below(254)))
               : ip(203, 0, 113, static_cast<std::uint8_t>(1 + rng.below(254)));
    f.sport = static_cast<std::uint16_t>(32768 + rng.below(28000));
    f.dport = kServices[rng.below(8)];
    f.proto = (f.dport == 53 || f.dport == 123) ? 17 : 6;
    f.flags = f.proto == 6 ? 0x1b : 0;  // FIN PSH ACK SYN
    const std::uint32_t exp10 = rng.below(4);
    std::uint32_t scale = 1;
    for (std::uint32_t k = 0; k < exp10; ++k) scale *= 10;
    f.packets = 1 + rng.below(scale * 2);
    f.bytes = f.packets * (64 + rng.below(1400));
    pick_hosts(f);
    flows.push_back(f);
  }
  for (std::uint32_t i = 0; i < cfg.flood_flows; ++i) {
    Flow f{};
    // A SYN flood from spoofed sources, each seen as one flow.
    f.src = lo ? ip(127, 3, static_cast<std::uint8_t>(rng.below(256)), static_cast<std::uint8_t>(1 + rng.below(254)))
               : ip(198, static_cast<std::uint8_t>(18 + rng.below(2)), static_cast<std::uint8_t>(rng.below(256)),
                    static_cast<std::uint8_t>(1 + rng.below(254)));
    f.dst = victim;
    f.sport = static_cast<std::uint16_t>(1024 + rng.below(64000));
    f.dport = 80;
    f.proto = 6;
    f.flags = 0x02;
    f.packets = cfg.flood_packets / 2 + rng.below(cfg.flood_packets + 1);
    f.bytes = f.packets * 60;
    pick_hosts(f);
    flows.push_back(f);
  }
  for (std::size_t i = flows.size(); i > 1; --i) std::swap(flows[i - 1], flows[rng.below(static_cast<std::uint32_t>(i))]);

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(cfg.out.c_str(), "wbe"), &std::fclose);
  if (!file) return std::unexpected(cfg.out + ": " + std::strerror(errno));

  std::vector<std::uint8_t> buf;
  put32le(buf, 0xa1b2c3d4);  // classic pcap, microseconds
  buf.insert(buf.end(), {2, 0, 4, 0});
  put32le(buf, 0);
  put32le(buf, 0);
  put32le(buf, 65535);
  put32le(buf, 1);  // Ethernet

  SynthSummary sum;
  std::uint32_t uptime = 3'600'000, unix_secs = cfg.start_unix, sequence = 0;
  std::uint16_t ip_id = 1;
  for (std::size_t at = 0; at < flows.size();) {
    const auto count = static_cast<std::uint16_t>(std::min<std::size_t>(30, flows.size() - at));
    std::vector<std::uint8_t> nf;
    put16(nf, 5);
    put16(nf, count);
    put32(nf, uptime);
    put32(nf, unix_secs);
    put32(nf, 0);
    put32(nf, sequence);
    nf.push_back(0);  // engine type
    nf.push_back(0);  // engine id
    put16(nf, cfg.sampling_interval ? static_cast<std::uint16_t>(0x4000 | (cfg.sampling_interval & 0x3fff)) : 0);
    for (std::uint16_t i = 0; i < count; ++i) {
      const Flow& f = flows[at + i];
      put32(nf, f.src);
      put32(nf, f.dst);
      put32(nf, lo ? ip(127, 0, 0, 254) : ip(192, 0, 2, 254));  // next hop
      put16(nf, 1);  // input
      put16(nf, 2);  // output
      put32(nf, f.packets);
      put32(nf, f.bytes);
      const std::uint32_t dur = rng.below(60'000);
      put32(nf, uptime - dur - 1000);  // First
      put32(nf, uptime - 1000);        // Last
      put16(nf, f.sport);
      put16(nf, f.dport);
      nf.push_back(0);
      nf.push_back(f.flags);
      nf.push_back(f.proto);
      nf.push_back(0);    // tos
      put16(nf, 64500);   // src_as (documentation AS)
      put16(nf, 64501);   // dst_as
      nf.push_back(24);
      nf.push_back(24);
      put16(nf, 0);
      sum.packets += f.packets;
      const double p = 1e-5 * f.packets * (cfg.sampling_interval ? cfg.sampling_interval : 1);
      sum.expected_reports_at_default_rate += p < 1 ? p : 1;
    }
    sequence += count;
    at += count;
    sum.flows += count;

    std::vector<std::uint8_t> frame;
    frame.insert(frame.end(), {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00});
    const auto ip_len = static_cast<std::uint16_t>(20 + 8 + nf.size());
    const std::size_t ip_at = frame.size();
    frame.insert(frame.end(), {0x45, 0});
    put16(frame, ip_len);
    put16(frame, ip_id++);
    put16(frame, 0x4000);  // don't fragment
    frame.insert(frame.end(), {64, 17, 0, 0});
    put32(frame, exporter);
    put32(frame, collector);
    const std::uint16_t csum = ip_checksum(frame.data() + ip_at, 20);
    frame[ip_at + 10] = static_cast<std::uint8_t>(csum >> 8);
    frame[ip_at + 11] = static_cast<std::uint8_t>(csum);
    put16(frame, 2055);
    put16(frame, 2055);
    put16(frame, static_cast<std::uint16_t>(8 + nf.size()));
    put16(frame, 0);  // no UDP checksum
    frame.insert(frame.end(), nf.begin(), nf.end());

    put32le(buf, unix_secs);
    put32le(buf, static_cast<std::uint32_t>(sum.datagrams % 1000) * 1000);
    put32le(buf, static_cast<std::uint32_t>(frame.size()));
    put32le(buf, static_cast<std::uint32_t>(frame.size()));
    buf.insert(buf.end(), frame.begin(), frame.end());
    ++sum.datagrams;
    uptime += 1000;
    ++unix_secs;
  }
  if (std::fwrite(buf.data(), 1, buf.size(), file.get()) != buf.size() || std::fflush(file.get()) != 0)
    return std::unexpected(cfg.out + ": write failed");
  return sum;
}

}  // namespace overflowd::io

// Template floods at the default caps: many exporters x many template ids, sampler-id floods, and
// define / withdraw churn. What must hold: every cap refuses exactly what passes it, and counts
// it; an exporter under the caps keeps its working templates (only the heaviest exporters' least
// recently used domains are evicted, issue 13 item 3); and the
// cache's accounted memory (TemplateCache::memory_bytes) stays under the bound its caps imply
// (TemplateCacheLimits::memory_bound, documented in template_cache.hpp and SECURITY.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "decode/dispatch.hpp"
#include "decode/export_builder.hpp"

namespace overflowd {
namespace {

using core::Errc;
using core::FlowRecord;
using core::Protocol;
using test::Builder;
using test::ip;
using test::ipfix_header;
using test::v9_header;

constexpr std::size_t kMiB = 1024 * 1024;

// A v9 datagram defining template `id` with 128 fields that compile to 128 ops (alternating
// IPV4_SRC_ADDR and IPV4_DST_ADDR, so no two adjacent skips merge): the most a template may hold.
Builder big_template(std::uint32_t source_id, std::uint16_t id) {
  Builder b = v9_header(source_id);
  b.begin_set(0).u16(id).u16(128);
  for (int i = 0; i < 128; ++i) b.field(i % 2 ? 12 : 8, 4);
  b.end_set();
  return b;
}

// One record of big_template: the last source and destination addresses win.
Builder big_data(std::uint32_t source_id, std::uint16_t id, const char* src, const char* dst) {
  Builder b = v9_header(source_id);
  b.begin_set(id);
  for (int i = 0; i < 64; ++i) b.ipv4(src).ipv4(dst);
  b.end_set();
  return b;
}

core::Datagram from(const Builder& b, std::uint32_t exporter_host_order) {
  core::Datagram d = b.datagram();
  d.exporter = core::IpAddress::v4(exporter_host_order);
  return d;
}

std::uint64_t v9_rejected(const decode::Dispatcher& d, Errc e) {
  return d.counters().rejected_count(Protocol::netflow_v9, e);
}

TEST(TemplateFlood, ManyExportersTimesManyTemplateIdsStopAtTheDefaultCapsAndWorkingTemplatesKeepDecoding) {
  decode::Dispatcher d;  // the default caps: 4096 domains, 65536 templates, 1024 per domain
  const decode::TemplateCacheLimits& caps = d.templates().limits();
  ASSERT_EQ(caps.max_domains, 4096u);
  ASSERT_EQ(caps.max_templates, 65536u);
  std::vector<FlowRecord> out;

  // The working exporter: one template, and its data decodes.
  const std::uint32_t working = 0xc0000201u;  // 192.0.2.1
  ASSERT_TRUE(d.decode(from(big_template(7, 256), working), out));
  ASSERT_EQ(d.decode(from(big_data(7, 256, "198.51.100.1", "203.0.113.1"), working), out).value(), 1u);

  // The flood: 100,000 datagrams, datagram i from exporter 10.0.0.0 + i % 5000 with template id
  // 256 + i / 5000: 20 rounds over 5000 exporters. With the working exporter's domain and template:
  // round 0 fills the 4095 domains left and refuses the other 905 exporters (exporter_limit: each
  // flooder holds one domain, so none is evicted for them); rounds 0-15 add 4095 templates each
  // (1 + 16 x 4095 = 65521); round 16 adds 15 more (65536, the global cap) and refuses its other
  // 4080 (template_limit: the heaviest hold 17, not 2 more than 16, so nothing is evicted); rounds
  // 17-19 refuse the 4095 again. Every round refuses the 905 domainless exporters (the domain cap
  // is checked first).
  const std::uint64_t before = out.size();
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    const auto id = static_cast<std::uint16_t>(256 + i / 5000);
    ASSERT_TRUE(d.decode(from(big_template(1, id), 0x0a000000u + i % 5000), out));
  }
  EXPECT_EQ(out.size(), before);  // templates only
  EXPECT_EQ(d.counters().datagrams[static_cast<std::size_t>(Protocol::netflow_v9)], 100'002u);
  EXPECT_EQ(d.templates().domain_count(), 4096u);
  EXPECT_EQ(d.templates().template_count(), 65536u);
  EXPECT_EQ(v9_rejected(d, Errc::exporter_limit), 20u * 905u);
  EXPECT_EQ(v9_rejected(d, Errc::template_limit), 4080u + 3u * 4095u);
  EXPECT_EQ(d.templates().evicted_domains(), 0u);
  EXPECT_EQ(v9_rejected(d, Errc::exporter_limit) + v9_rejected(d, Errc::template_limit) + 65'535u, 100'000u);

  // Nothing was evicted (no exporter held 2 more than another): the working exporter's template decodes, and so do the flood's first ones;
  // a refused exporter has no template, so its data is unknown_template.
  out.clear();
  EXPECT_EQ(d.decode(from(big_data(7, 256, "198.51.100.2", "203.0.113.2"), working), out).value(), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src, ip("198.51.100.2"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.2"));
  EXPECT_EQ(d.decode(from(big_data(1, 271, "198.51.100.3", "203.0.113.3"), 0x0a000000u + 14), out).value(), 1u);
  EXPECT_EQ(d.decode(from(big_data(1, 256, "198.51.100.4", "203.0.113.4"), 0x0a000000u + 4999), out).value(), 0u);
  EXPECT_EQ(v9_rejected(d, Errc::unknown_template), 1u);
  // At the caps, an exporter may still redefine (or refresh) what it has.
  Builder redefine = v9_header(7);
  redefine.begin_set(0).u16(256).u16(2).field(12, 4).field(8, 4).end_set();
  redefine.begin_set(256).ipv4("203.0.113.5").ipv4("198.51.100.5").end_set();
  out.clear();
  ASSERT_EQ(d.decode(from(redefine, working), out).value(), 1u);
  EXPECT_EQ(out[0].src, ip("198.51.100.5"));
  EXPECT_EQ(out[0].dst, ip("203.0.113.5"));

  // Memory: the flood filled the cache (65536 templates of 128 ops of 4 bytes: 32 MiB of ops
  // alone), and what the cache holds is under the documented bound.
  const std::size_t held = d.templates().memory_bytes();
  EXPECT_GE(held, 65'535u * 128u * sizeof(decode::ie::FieldOp));
  EXPECT_LE(held, caps.memory_bound());
  EXPECT_LE(caps.memory_bound(), 66 * kMiB);
  RecordProperty("template_cache_bytes", std::to_string(held));
}

TEST(TemplateFlood, OneExporterPastItsPerDomainCapIsRefusedAndKeepsItsFirstTemplates) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  // 2000 template ids in 10 datagrams of 200 small templates each.
  for (unsigned g = 0; g < 10; ++g) {
    Builder b = v9_header(3);
    b.begin_set(0);
    for (unsigned k = 0; k < 200; ++k) b.u16(256 + g * 200 + k).u16(2).field(8, 4).field(12, 4);
    b.end_set();
    ASSERT_TRUE(d.decode(from(b, 0xc0000202u), out));
  }
  EXPECT_EQ(d.templates().template_count(), 1024u);
  EXPECT_EQ(v9_rejected(d, Errc::template_limit), 2000u - 1024u);
  Builder data = v9_header(3);
  data.begin_set(256).ipv4("192.0.2.10").ipv4("192.0.2.11").end_set();
  data.begin_set(256 + 1023).ipv4("192.0.2.12").ipv4("192.0.2.13").end_set();
  data.begin_set(256 + 1024).ipv4("192.0.2.14").ipv4("192.0.2.15").end_set();  // refused: unknown
  EXPECT_EQ(d.decode(from(data, 0xc0000202u), out).value(), 2u);
  EXPECT_EQ(v9_rejected(d, Errc::unknown_template), 1u);
  EXPECT_LE(d.templates().memory_bytes(), d.templates().limits().memory_bound());
}

TEST(TemplateFlood, SamplerIdFloodStopsAtItsCapAndKnownSamplersKeepTheirIntervals) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  // Options template 260: scope System (4 bytes); FLOW_SAMPLER_ID (2 bytes), SAMPLING_INTERVAL (4).
  Builder t = v9_header(5);
  t.begin_set(1).u16(260).u16(4).u16(8).field(1, 4).field(48, 2).field(34, 4).end_set(4);
  // Data template 261 naming its sampler.
  t.begin_set(0).u16(261).u16(3).field(8, 4).field(12, 4).field(48, 2).end_set();
  ASSERT_TRUE(d.decode(from(t, 0xc0000203u), out));
  // 1000 sampler ids, sampler k with interval 1000 + k, in 10 datagrams.
  for (unsigned g = 0; g < 10; ++g) {
    Builder b = v9_header(5);
    b.begin_set(260);
    for (unsigned k = 0; k < 100; ++k) b.u32(0).u16(g * 100 + k).u32(1000 + g * 100 + k);
    b.end_set(4);
    ASSERT_TRUE(d.decode(from(b, 0xc0000203u), out));
  }
  EXPECT_EQ(v9_rejected(d, Errc::sampler_limit), 1000u - 256u);
  Builder data = v9_header(5);
  data.begin_set(261).ipv4("192.0.2.20").ipv4("192.0.2.21").u16(255).end_set(4);
  ASSERT_EQ(d.decode(from(data, 0xc0000203u), out).value(), 1u);
  EXPECT_EQ(out.back().sampling_interval, 1255u);  // sampler 255: the last one under the cap
  EXPECT_LE(d.templates().memory_bytes(), d.templates().limits().memory_bound());
}

TEST(TemplateFlood, WithdrawnTemplatesGiveTheirMemoryBack) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  // 200 IPFIX domains each define their 1024 templates, then withdraw them all.
  for (std::uint32_t domain = 1; domain <= 200; ++domain) {
    for (unsigned g = 0; g < 4; ++g) {
      Builder b = ipfix_header(domain);
      b.begin_set(2);
      for (unsigned k = 0; k < 256; ++k) b.u16(256 + g * 256 + k).u16(1).field(8, 4);
      b.end_set();
      b.end_message();
      ASSERT_TRUE(d.decode(from(b, 0xc0000204u), out));
    }
    ASSERT_EQ(d.templates().template_count(), 1024u);
    Builder w = ipfix_header(domain);
    w.begin_set(2).u16(2).u16(0).end_set();  // withdraw every template of the domain
    w.end_message();
    ASSERT_TRUE(d.decode(from(w, 0xc0000204u), out));
    ASSERT_EQ(d.templates().template_count(), 0u);
  }
  EXPECT_EQ(d.templates().domain_count(), 200u);
  // Without the shrink, each domain would keep a bucket array for 1024 templates (8 KiB or more):
  // 1.6 MiB for 200. With it, what is left is a few hundred bytes per domain.
  EXPECT_LT(d.templates().memory_bytes(), 200u * 1024u);
}

// Issue 13 item 3: one address varying the domain id took every domain, and new exporters were
// refused for good. Now it stops at its own cap, and a new exporter still gets its templates in.
TEST(TemplateFlood, OneExporterFloodingDomainIdsStopsAtItsCapAndANewExporterGetsIn) {
  decode::Dispatcher d;
  const decode::TemplateCacheLimits& caps = d.templates().limits();
  ASSERT_EQ(caps.max_domains_per_exporter, 256u);
  std::vector<FlowRecord> out;
  for (std::uint32_t i = 0; i < 5000; ++i) ASSERT_TRUE(d.decode(from(big_template(i, 256), 0x0a000001u), out));
  EXPECT_EQ(d.templates().domain_count(), 256u);
  EXPECT_EQ(v9_rejected(d, Errc::exporter_domain_limit), 5000u - 256u);
  EXPECT_EQ(v9_rejected(d, Errc::exporter_limit), 0u);
  const std::uint32_t fresh = 0xc0000209u;
  ASSERT_TRUE(d.decode(from(big_template(1, 300), fresh), out));
  EXPECT_EQ(d.decode(from(big_data(1, 300, "198.51.100.9", "203.0.113.9"), fresh), out).value(), 1u);
  EXPECT_EQ(d.templates().evicted_domains(), 0u);
}

// A few addresses together fill the domain total: 20 exporters x 300 domain ids each. The first
// 16 fill the 4096 domains (each stopped at its own cap of 256); the next 4 evict the least
// recently used domains of the heaviest until they hold about as much (within 1). A new exporter
// evicts one more and decodes; the working exporter, holding little all along, was never evicted.
TEST(TemplateFlood, AFewFloodingAddressesFillTheTotalAndANewExporterStillGetsIn) {
  decode::Dispatcher d;
  std::vector<FlowRecord> out;
  const std::uint32_t working = 0xc0000201u;
  ASSERT_TRUE(d.decode(from(big_template(7, 256), working), out));
  for (std::uint32_t e = 0; e < 20; ++e)
    for (std::uint32_t i = 0; i < 300; ++i) ASSERT_TRUE(d.decode(from(big_template(i, 256), 0x0a000000u + e), out));
  EXPECT_EQ(d.templates().domain_count(), 4096u);
  std::size_t least = 4096, most = 0;
  for (std::uint32_t e = 0; e < 20; ++e) {
    const std::size_t held = d.templates().exporter_use(core::IpAddress::v4(0x0a000000u + e)).domains;
    least = std::min(least, held);
    most = std::max(most, held);
  }
  EXPECT_LE(most, 256u);
  EXPECT_LE(most - least, 1u) << "the flooders end up sharing the total";
  EXPECT_EQ(d.templates().exporter_use(core::IpAddress::v4(working)).domains, 1u);
  const std::uint64_t evicted = d.templates().evicted_domains();
  EXPECT_GE(evicted, 4u * 204u);  // the last 4 reached at least 4095 / 20 each
  EXPECT_EQ(d.templates().evicted_templates(), evicted);  // one template each
  EXPECT_EQ(d.counters().evicted_domains, evicted);
  // Every attempt is stored, or refused and counted.
  EXPECT_EQ(v9_rejected(d, Errc::exporter_domain_limit) + v9_rejected(d, Errc::exporter_limit) + evicted + 4095u,
            20u * 300u);

  const std::uint32_t fresh = 0xc0000209u;
  ASSERT_TRUE(d.decode(from(big_template(1, 300), fresh), out));
  EXPECT_EQ(d.templates().evicted_domains(), evicted + 1);
  out.clear();
  EXPECT_EQ(d.decode(from(big_data(1, 300, "198.51.100.9", "203.0.113.9"), fresh), out).value(), 1u);
  EXPECT_EQ(d.decode(from(big_data(7, 256, "198.51.100.2", "203.0.113.2"), working), out).value(), 1u);
  std::vector<core::NamedCount> named;
  d.counters().append_to(named);
  EXPECT_NE(std::find(named.begin(), named.end(), core::NamedCount{"templates.evicted_domains", evicted + 1}),
            named.end());
  EXPECT_LE(d.templates().memory_bytes(), d.templates().limits().memory_bound());
}

// The template total, with small caps: the heaviest exporter's least recently used domain goes,
// but never for an exporter holding about as much (no two take turns evicting each other).
TEST(TemplateFlood, TheTemplateTotalEvictsTheHeaviestExportersLeastRecentlyUsedDomain) {
  decode::TemplateCacheLimits caps;
  caps.max_templates = 10;
  caps.max_templates_per_exporter = 8;
  decode::Dispatcher d(caps);
  std::vector<FlowRecord> out;
  const std::uint32_t a = 0x0a000001u, b = 0x0a000002u, c = 0x0a000003u;
  // A: domain 1 with 4 templates, domain 2 with 4, then 4 more refused at its own cap.
  for (std::uint16_t id = 256; id < 260; ++id) ASSERT_TRUE(d.decode(from(big_template(1, id), a), out));
  for (std::uint16_t id = 256; id < 264; ++id) ASSERT_TRUE(d.decode(from(big_template(2, id), a), out));
  EXPECT_EQ(v9_rejected(d, Errc::exporter_template_limit), 4u);
  // A uses domain 1, so domain 2 is its least recently used.
  ASSERT_EQ(d.decode(from(big_data(1, 256, "198.51.100.1", "203.0.113.1"), a), out).value(), 1u);
  // B: 2 fit (10 in all); the 3rd evicts A's domain 2 (4 templates).
  for (std::uint16_t id = 256; id < 259; ++id) ASSERT_TRUE(d.decode(from(big_template(1, id), b), out));
  EXPECT_EQ(d.templates().evicted_domains(), 1u);
  EXPECT_EQ(d.templates().evicted_templates(), 4u);
  EXPECT_EQ(d.templates().template_count(), 7u);
  EXPECT_EQ(d.decode(from(big_data(1, 256, "198.51.100.1", "203.0.113.1"), a), out).value(), 1u);
  EXPECT_EQ(d.decode(from(big_data(2, 256, "198.51.100.1", "203.0.113.1"), a), out).value(), 0u);
  // Fill to 10 with C (3), then C's 4th: A holds 4, C 3: not 2 more, refused.
  for (std::uint16_t id = 256; id < 260; ++id) ASSERT_TRUE(d.decode(from(big_template(1, id), c), out));
  EXPECT_EQ(d.templates().template_count(), 10u);
  EXPECT_EQ(v9_rejected(d, Errc::template_limit), 1u);
  EXPECT_EQ(d.templates().evicted_domains(), 1u);
}

}  // namespace
}  // namespace overflowd

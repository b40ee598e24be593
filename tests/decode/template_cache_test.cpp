// The template cache on its own: keys, refresh and redefinition, withdrawal, the caps, and the
// sampling state learned from options data; plus the small value conversions it relies on.
#include "decode/template_cache.hpp"

#include <gtest/gtest.h>

#include "decode/flow_sets.hpp"
#include "decode/information_elements.hpp"

namespace overflowd::decode {
namespace {

using core::Errc;
using ie::FieldOp;
using ie::Op;

DomainKey key(std::uint32_t domain = 1, const char* exporter = "192.0.2.1", std::uint16_t version = 10) {
  return DomainKey{*core::IpAddress::parse(exporter), domain, version};
}

std::optional<Errc> store(TemplateCache& c, const DomainKey& k, std::uint16_t id, std::initializer_list<FieldOp> ops,
                          bool options = false) {
  auto& scratch = c.begin_template();
  std::uint32_t length = 0;
  for (const FieldOp& op : ops) {
    append_op(scratch, op);
    length += op.length;
  }
  return c.store(k, TemplateCache::Draft{.id = id, .options = options, .variable = false, .min_length = length});
}

TEST(TemplateCacheLimits, SharedAmongWorkersDividesTheProcessWideCapsOnly) {
  TemplateCacheLimits l;
  l.max_domains = 4096;
  l.max_templates = 65536;
  const TemplateCacheLimits one = l.shared_among(3);
  EXPECT_EQ(one.max_domains, 1365u);
  EXPECT_EQ(one.max_templates, 21845u);
  EXPECT_EQ(one.max_templates_per_domain, l.max_templates_per_domain);
  EXPECT_EQ(one.max_fields_per_template, l.max_fields_per_template);
  EXPECT_EQ(one.max_record_length, l.max_record_length);
  EXPECT_EQ(one.max_samplers_per_domain, l.max_samplers_per_domain);
  EXPECT_LE(3 * one.memory_bound(), l.memory_bound() + 3 * TemplateCacheLimits{}.shared_among(1u << 20).memory_bound());
  EXPECT_EQ(l.shared_among(1).max_domains, 4096u);
  EXPECT_EQ(l.shared_among(0).max_domains, 4096u);
  EXPECT_EQ(l.shared_among(10'000).max_domains, 1u) << "at least one each";
  EXPECT_EQ(l.shared_among(10'000).max_templates, 6u);
}

TEST(TemplateCache, StoresAndFindsByExporterVersionDomainAndId) {
  TemplateCache c;
  EXPECT_FALSE(store(c, key(), 256, {{4, Op::src_v4}, {4, Op::dst_v4}}));
  const Template* t = c.find_template(key(), 256);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->min_length, 8u);
  EXPECT_EQ(t->fields, core::Field::kSrcAddr | core::Field::kDstAddr);
  EXPECT_EQ(c.find_template(key(2), 256), nullptr);
  EXPECT_EQ(c.find_template(key(1, "192.0.2.2"), 256), nullptr);
  EXPECT_EQ(c.find_template(key(1, "192.0.2.1", 9), 256), nullptr);
  EXPECT_EQ(c.find_template(key(), 257), nullptr);
  EXPECT_EQ(c.find(key(3)), nullptr);  // looking up creates nothing
  EXPECT_EQ(c.domain_count(), 1u);
}

TEST(TemplateCache, RefreshKeepsTheStoredOpsAndRedefinitionReplacesThem) {
  TemplateCache c;
  ASSERT_FALSE(store(c, key(), 256, {{4, Op::src_v4}, {2, Op::src_port}}));
  const FieldOp* before = c.find_template(key(), 256)->ops.data();
  ASSERT_FALSE(store(c, key(), 256, {{4, Op::src_v4}, {2, Op::src_port}}));
  EXPECT_EQ(c.find_template(key(), 256)->ops.data(), before);  // nothing reallocated
  ASSERT_FALSE(store(c, key(), 256, {{16, Op::src_v6}}));
  const Template* t = c.find_template(key(), 256);
  ASSERT_EQ(t->ops.size(), 1u);
  EXPECT_EQ(t->ops[0].op, Op::src_v6);
  EXPECT_EQ(t->min_length, 16u);
  EXPECT_EQ(c.template_count(), 1u);
}

TEST(TemplateCache, AdjacentSkipsAreMerged) {
  std::vector<FieldOp> ops;
  append_op(ops, {4, Op::src_v4});
  append_op(ops, {3, Op::skip});
  append_op(ops, {5, Op::skip});
  append_op(ops, {ie::kVariableLength, Op::skip_variable});
  append_op(ops, {2, Op::skip});
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[1], (FieldOp{8, Op::skip}));
  EXPECT_EQ(ops[3], (FieldOp{2, Op::skip}));
}

TEST(TemplateCache, WithdrawOneAndAllOfAKind) {
  TemplateCache c;
  ASSERT_FALSE(store(c, key(), 256, {{4, Op::src_v4}}));
  ASSERT_FALSE(store(c, key(), 257, {{4, Op::src_v4}}));
  ASSERT_FALSE(store(c, key(), 258, {{4, Op::sampling_interval}}, true));
  ASSERT_FALSE(store(c, key(2), 256, {{4, Op::src_v4}}));
  c.withdraw(key(), 256);
  c.withdraw(key(), 999);  // unknown: ignored
  EXPECT_EQ(c.find_template(key(), 256), nullptr);
  EXPECT_EQ(c.template_count(), 3u);
  c.withdraw_all(key(), false);
  EXPECT_EQ(c.find_template(key(), 257), nullptr);
  EXPECT_NE(c.find_template(key(), 258), nullptr);
  EXPECT_NE(c.find_template(key(2), 256), nullptr);  // other domains keep theirs
  c.withdraw_all(key(), true);
  EXPECT_EQ(c.template_count(), 1u);
}

TEST(TemplateCache, CapsRefuseBeforeStoringAndEvictNothingForTheOnlyExporter) {
  TemplateCacheLimits limits;
  limits.max_domains = 2;
  limits.max_templates_per_domain = 2;
  limits.max_templates = 3;
  limits.max_record_length = 10;
  TemplateCache c(limits);
  EXPECT_FALSE(store(c, key(1), 256, {{4, Op::src_v4}}));
  EXPECT_FALSE(store(c, key(1), 257, {{4, Op::src_v4}}));
  EXPECT_EQ(store(c, key(1), 258, {{4, Op::src_v4}}), Errc::template_limit);
  EXPECT_FALSE(store(c, key(1), 257, {{4, Op::dst_v4}}));  // redefinition is always allowed
  EXPECT_FALSE(store(c, key(2), 256, {{4, Op::src_v4}}));
  EXPECT_EQ(store(c, key(2), 257, {{4, Op::src_v4}}), Errc::template_limit);  // global cap of 3
  // A new domain: the domain cap is checked first (one exporter, so nothing is evicted for it).
  EXPECT_EQ(store(c, key(3), 256, {{4, Op::src_v4}}), Errc::exporter_limit);
  EXPECT_EQ(c.evicted_domains(), 0u);
  c.withdraw(key(1), 256);
  EXPECT_EQ(store(c, key(3), 256, {{4, Op::src_v4}}), Errc::exporter_limit);  // 2 domains already
  EXPECT_EQ(c.domain_count(), 2u);
  EXPECT_EQ(store(c, key(1), 259, {{8, Op::skip}, {4, Op::src_v4}}), Errc::record_limit);
  EXPECT_EQ(c.template_count(), 2u);
  EXPECT_NE(c.find_template(key(1), 257), nullptr);
}

TEST(TemplateCache, ScratchHoldsTheFieldCapWithoutGrowing) {
  TemplateCacheLimits limits;
  limits.max_fields_per_template = 128;
  TemplateCache c(limits);
  auto& scratch = c.begin_template();
  const FieldOp* data = scratch.data();
  for (int i = 0; i < 128; ++i) scratch.push_back({4, i % 2 ? Op::src_v4 : Op::dst_v4});
  EXPECT_EQ(scratch.data(), data);
}

ie::RecordExtras sampling(std::optional<std::uint64_t> selector, std::optional<std::uint64_t> sampler,
                          std::uint64_t interval) {
  ie::RecordExtras x;
  x.sampling_interval = interval;
  x.seen |= ie::RecordExtras::kSamplingInterval;
  if (selector) {
    x.selector_id = *selector;
    x.seen |= ie::RecordExtras::kSelectorId;
  }
  if (sampler) {
    x.sampler_id = *sampler;
    x.seen |= ie::RecordExtras::kSamplerId;
  }
  return x;
}

ie::RecordExtras naming(std::optional<std::uint64_t> selector, std::optional<std::uint64_t> sampler) {
  auto x = sampling(selector, sampler, 0);
  x.seen &= ~ie::RecordExtras::kSamplingInterval;
  return x;
}

TEST(TemplateCache, SamplingStatePerSamplerAndSelectorAndDomain) {
  TemplateCacheLimits limits;
  limits.max_samplers_per_domain = 3;
  TemplateCache c(limits);
  ASSERT_FALSE(store(c, key(), 256, {{4, Op::src_v4}}));
  Domain& d = *c.find(key());

  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, std::nullopt)), 1u);
  EXPECT_EQ(TemplateCache::sampling_interval(nullptr, naming(std::nullopt, 5)), 1u);
  ASSERT_FALSE(c.learn(d, sampling(std::nullopt, 5, 100)));
  ASSERT_FALSE(c.learn(d, sampling(5, std::nullopt, 300)));  // selector 5 is not sampler 5
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, 5)), 100u);
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(5, std::nullopt)), 300u);
  // An id with nothing learned, or no id: the latest interval learned in the domain.
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, 6)), 300u);
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, std::nullopt)), 300u);
  // Options data naming no sampler sets the domain's interval, which wins over "latest".
  ASSERT_FALSE(c.learn(d, sampling(std::nullopt, std::nullopt, 50)));
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, 6)), 50u);
  // A record's own interval wins over everything.
  EXPECT_EQ(TemplateCache::sampling_interval(&d, sampling(std::nullopt, 5, 7)), 7u);
  // Updates in place; a new id over the cap is refused.
  ASSERT_FALSE(c.learn(d, sampling(std::nullopt, 5, 200)));
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, 5)), 200u);
  ASSERT_FALSE(c.learn(d, sampling(std::nullopt, 1, 10)));
  EXPECT_EQ(c.learn(d, sampling(std::nullopt, 2, 10)), Errc::sampler_limit);
  EXPECT_EQ(d.sampling.samplers.size(), 3u);
  // A zero interval teaches nothing.
  ASSERT_FALSE(c.learn(d, sampling(std::nullopt, 1, 0)));
  EXPECT_EQ(TemplateCache::sampling_interval(&d, naming(std::nullopt, 1)), 10u);
}

TEST(InformationElements, SamplingPacketIntervalAndSpaceFormula) {
  auto of = [](std::uint64_t n, std::optional<std::uint64_t> m) {
    ie::RecordExtras x;
    x.packet_interval = n;
    x.seen |= ie::RecordExtras::kPacketInterval;
    if (m) {
      x.packet_space = *m;
      x.seen |= ie::RecordExtras::kPacketSpace;
    }
    return ie::sampling_interval_of(x);
  };
  EXPECT_EQ(of(1, 99), 100u);
  EXPECT_EQ(of(1, 0), 1u);
  EXPECT_EQ(of(2, 3), 3u);   // 5/2 = 2.5 rounds up
  EXPECT_EQ(of(3, 4), 2u);   // 7/3 = 2.33
  EXPECT_EQ(of(100, 1), 1u);
  EXPECT_EQ(of(64, std::nullopt), 64u);  // 305 alone: taken as the interval
  EXPECT_EQ(of(0, 5), 0u);                // 0 is no interval
  EXPECT_EQ(of(1, ~0ull), 0xffffffffu);   // saturates
}

TEST(InformationElements, NtpTimestampsBecomeUnixMilliseconds) {
  EXPECT_EQ(ie::ntp_to_unix_ms(2'208'988'800ull << 32), 0);
  EXPECT_EQ(ie::ntp_to_unix_ms((2'208'988'801ull << 32) | 0x80000000u), 1500);
  EXPECT_EQ(ie::ntp_to_unix_ms((3'908'988'800ull << 32) | 0xffffffffu), 1'700'000'000'999);
}

TEST(InformationElements, LengthsAnElementCannotHaveCompileToSkips) {
  EXPECT_EQ(ie::classify(8, false, 4), Op::src_v4);
  EXPECT_EQ(ie::classify(8, false, 16), Op::skip);
  EXPECT_EQ(ie::classify(8, true, 4), Op::skip);
  EXPECT_EQ(ie::classify(8, false, ie::kVariableLength), Op::skip_variable);
  EXPECT_EQ(ie::classify(1, false, 9), Op::skip);
  EXPECT_EQ(ie::classify(1, false, 3), Op::octets_delta);
  EXPECT_EQ(ie::classify(152, false, 4), Op::skip);
  EXPECT_EQ(ie::classify(150, false, 4), Op::start_seconds);
  EXPECT_EQ(ie::classify(27, false, 4), Op::skip);
  EXPECT_EQ(ie::classify(9999, false, 2), Op::skip);
}

}  // namespace
}  // namespace overflowd::decode

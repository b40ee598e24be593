// The simulator's topology: the CAIDA parser's refusals, valley-free routes on the hand-made
// fixture (tests/sim/fixture.caida) against paths worked out by hand, and the generator's shape.
#include "sim/routing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/simulation.hpp"
#include "sim/topology.hpp"

namespace {

using namespace overflowd::sim;

// tests/sim/fixture.caida: __FILE__ is relative to the build folder (the binary's), or absolute.
std::filesystem::path fixture_path() {
  return std::filesystem::path(OVERFLOWD_BINARY).parent_path() / std::filesystem::path(__FILE__).parent_path() /
         "fixture.caida";
}

std::expected<Topology, CaidaRefusal> parse(const std::string& text, CaidaCounts* counts = nullptr) {
  return parse_caida(std::as_bytes(std::span(text)), {}, counts);
}

Topology fixture() {
  std::ifstream in(fixture_path());
  std::stringstream ss;
  ss << in.rdbuf();
  auto t = parse(ss.str());
  EXPECT_TRUE(t.has_value());
  return std::move(*t);
}

// The path from ASN `from` to ASN `to`, as ASNs.
std::vector<std::uint32_t> asn_path(const Topology& t, std::uint32_t from, std::uint32_t to) {
  const RoutingTree tree = route_to(t, *t.index_of(to));
  std::vector<std::uint32_t> out;
  for (const std::uint32_t i : tree.path(*t.index_of(from))) out.push_back(t.asn(i));
  return out;
}

using P = std::vector<std::uint32_t>;

TEST(CaidaParser, ReadsTheFixture) {
  CaidaCounts counts;
  std::ifstream in(fixture_path());
  std::stringstream ss;
  ss << in.rdbuf();
  const auto t = parse(ss.str(), &counts);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 11u);
  EXPECT_EQ(t->link_count(), 13u);
  EXPECT_EQ(counts.links, 13u);
  EXPECT_EQ(counts.comments, 4u);
  const auto i101 = *t->index_of(101);
  ASSERT_EQ(t->providers(i101).size(), 2u);
  EXPECT_EQ(t->asn(t->providers(i101)[0]), 10u);
  EXPECT_EQ(t->asn(t->providers(i101)[1]), 30u);
  EXPECT_EQ(t->peers(*t->index_of(10)).size(), 1u);
  EXPECT_FALSE(t->index_of(5));
}

TEST(CaidaParser, SerialTwoCrlfAndDuplicates) {
  CaidaCounts counts;
  const auto t = parse("# c\r\n1|2|-1|bgp\r\n\r\n2|3|0|mlp\n3|2|0\n1|2|-1", &counts);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->link_count(), 2u);
  EXPECT_EQ(counts.duplicates, 2u);  // 3|2|0 is 2|3|0; 1|2|-1 again
  EXPECT_EQ(counts.links, 2u);
}

TEST(CaidaParser, RefusalsAreCodedWithTheirLine) {
  const struct {
    std::string text;
    CaidaError code;
    std::size_t line;
  } cases[] = {
      {"1|2|-1\n1|2\n", CaidaError::bad_field_count, 2},
      {"1|2|-1|x|y\n", CaidaError::bad_field_count, 1},
      {"1|x|-1\n", CaidaError::bad_asn, 1},
      {"0|2|-1\n", CaidaError::bad_asn, 1},
      {"01|2|-1\n", CaidaError::bad_asn, 1},
      {"4294967296|2|-1\n", CaidaError::bad_asn, 1},
      {"-1|2|-1\n", CaidaError::bad_asn, 1},
      {"1|2|1\n", CaidaError::bad_relationship, 1},
      {"1|2| -1\n", CaidaError::bad_relationship, 1},
      {"#\n7|7|0\n", CaidaError::self_link, 2},
      {"1|2|-1\n2|1|-1\n", CaidaError::conflicting_relationship, 0},
      {"1|2|-1\n1|2|0\n", CaidaError::conflicting_relationship, 0},
      {"# nothing\n", CaidaError::empty, 0},
      {"", CaidaError::empty, 0},
      {std::string(2000, '1'), CaidaError::line_too_long, 1},
  };
  for (const auto& c : cases) {
    const auto t = parse(c.text);
    ASSERT_FALSE(t) << c.text;
    EXPECT_EQ(t.error().code, c.code) << c.text << ": " << to_string(t.error().code);
    EXPECT_EQ(t.error().line, c.line) << c.text;
  }
  CaidaLimits tight;
  tight.max_links = 1;
  const std::string two = "1|2|-1\n2|3|-1\n";
  const auto t = parse_caida(std::as_bytes(std::span(two)), tight);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, CaidaError::too_many_links);
  EXPECT_EQ(to_string(CaidaError::too_many_links), "too_many_links");
}

// The routes below were worked out by hand from the Gao-Rexford rules (docs/SIMULATION.md).
TEST(ValleyFree, FixtureRoutesToAs400) {
  const Topology t = fixture();
  EXPECT_EQ(asn_path(t, 100, 400), (P{100, 10, 20, 40, 400}));  // up, across the 10-20 peering, down
  EXPECT_EQ(asn_path(t, 101, 400), (P{101, 10, 20, 40, 400}));  // via 10 (4 hops), not 30 (5)
  EXPECT_EQ(asn_path(t, 300, 400), (P{300, 30, 2, 20, 40, 400}));  // not 30-101-10: a valley
  EXPECT_EQ(asn_path(t, 30, 400), (P{30, 2, 20, 40, 400}));
  EXPECT_EQ(asn_path(t, 1, 400), (P{1, 2, 20, 40, 400}));  // a peer route
  EXPECT_EQ(asn_path(t, 200, 400), (P{200, 20, 40, 400}));
  EXPECT_EQ(asn_path(t, 400, 400), (P{400}));
  const RoutingTree tree = route_to(t, *t.index_of(400));
  EXPECT_EQ(tree.kind[*t.index_of(2)], RouteKind::customer);
  EXPECT_EQ(tree.kind[*t.index_of(10)], RouteKind::peer);
  EXPECT_EQ(tree.kind[*t.index_of(1)], RouteKind::peer);
  EXPECT_EQ(tree.kind[*t.index_of(30)], RouteKind::provider);
}

TEST(ValleyFree, FixtureRoutesToAs100AndAs300) {
  const Topology t = fixture();
  EXPECT_EQ(asn_path(t, 400, 100), (P{400, 40, 20, 10, 100}));
  EXPECT_EQ(asn_path(t, 300, 100), (P{300, 30, 1, 10, 100}));  // 30's providers: 1 (shorter) over 2
  EXPECT_EQ(asn_path(t, 2, 100), (P{2, 1, 10, 100}));
  EXPECT_EQ(asn_path(t, 200, 100), (P{200, 20, 10, 100}));
  EXPECT_EQ(asn_path(t, 101, 100), (P{101, 10, 100}));
  // To 300: 20 learned its route from its provider 2, so it does not give it to its peer 10.
  EXPECT_EQ(asn_path(t, 100, 300), (P{100, 10, 1, 30, 300}));
  EXPECT_EQ(asn_path(t, 400, 300), (P{400, 40, 20, 2, 30, 300}));
  EXPECT_EQ(asn_path(t, 101, 300), (P{101, 30, 300}));
  EXPECT_EQ(asn_path(t, 1, 300), (P{1, 30, 300}));
}

TEST(ValleyFree, NoRouteAcrossTwoPeerings) {
  // 1 -- 2 -- 3 peer in a line: 1 cannot reach 3 (2 gives peer routes to customers only).
  const auto t = parse("1|2|0\n2|3|0\n");
  ASSERT_TRUE(t);
  EXPECT_TRUE(asn_path(*t, 1, 3).empty());
  EXPECT_EQ(asn_path(*t, 2, 3), (P{2, 3}));
}

// Whether a path (indices) is valley-free: zero or more customer->provider hops, at most one peer
// hop, then provider->customer hops only. An independent check of what route_to builds.
bool valley_free(const Topology& t, const std::vector<std::uint32_t>& path) {
  int phase = 0;  // 0 climbing, 1 after the peer hop or while descending
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    const auto up = t.providers(path[i]), peer = t.peers(path[i]), down = t.customers(path[i]);
    const std::uint32_t next = path[i + 1];
    if (std::binary_search(up.begin(), up.end(), next)) {
      if (phase != 0) return false;
    } else if (std::binary_search(peer.begin(), peer.end(), next)) {
      if (phase != 0) return false;
      phase = 1;
    } else if (std::binary_search(down.begin(), down.end(), next)) {
      phase = 1;
    } else {
      return false;  // not even a link
    }
  }
  return true;
}

TEST(Generator, TieredPowerLawAndEveryoneReachable) {
  GeneratorConfig g;
  g.ases = 3000;
  g.seed = 3;
  const auto links = generate_links(g);
  const auto t = Topology::from_links(links);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->size(), 3000u);
  std::size_t max_degree = 0, total = 0, stubs = 0;
  for (std::uint32_t i = 0; i < t->size(); ++i) {
    for (const std::uint32_t p : t->providers(i)) ASSERT_LT(t->asn(p), t->asn(i));  // a hierarchy: no cycles
    max_degree = std::max(max_degree, t->degree(i));
    total += t->degree(i);
    stubs += t->customers(i).empty();
  }
  const double mean = static_cast<double>(total) / 3000;
  EXPECT_GT(static_cast<double>(max_degree), 30 * mean);  // heavy-tailed: hubs
  EXPECT_GT(stubs, 3000u * 7 / 10);                       // most ASes are stubs
  // Same seed, same topology.
  EXPECT_EQ(generate_links(g).size(), links.size());
  for (const std::uint32_t dest : {0u, 1500u, 2999u}) {
    const RoutingTree tree = route_to(*t, dest);
    for (std::uint32_t s = 0; s < t->size(); s += 7) {
      const auto path = tree.path(s);
      ASSERT_FALSE(path.empty()) << s << " to " << dest;
      ASSERT_EQ(path.back(), dest);
      ASSERT_TRUE(valley_free(*t, path)) << s << " to " << dest;
      ASSERT_EQ(path.size(), tree.length[s] + 1u);
    }
  }
}

TEST(Deployment, SharesAndOrders) {
  const Topology t = fixture();
  const auto none = choose_deployment(t, DeploymentKind::random, 0, {}, 1);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
  const auto all = choose_deployment(t, DeploymentKind::random, 1, {}, 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), true), 11);
  // Transit first: most customers (1, 2, 10, 20, 30 have two each), then degree (10, 20, 30: four).
  const auto transit = choose_deployment(t, DeploymentKind::transit_first, 0.25, {}, 1);  // 3 of 11
  EXPECT_EQ(std::count(transit.begin(), transit.end(), true), 3);
  for (const std::uint32_t asn : {10u, 20u, 30u}) EXPECT_TRUE(transit[*t.index_of(asn)]) << asn;
  // By degree: 10, 20, 30 (4), then 1 and 2 (3).
  const auto degree = choose_deployment(t, DeploymentKind::degree, 5.0 / 11, {}, 1);
  for (const std::uint32_t asn : {10u, 20u, 30u, 1u, 2u}) EXPECT_TRUE(degree[*t.index_of(asn)]) << asn;
  const auto listed = choose_deployment(t, DeploymentKind::list, 0, {20, 400, 999}, 1);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), true), 2);
  EXPECT_TRUE(listed[*t.index_of(400)]);
}

}  // namespace

#include "sim/topology.hpp"

#include <algorithm>
#include <random>
#include <tuple>
#include <unordered_set>

namespace overflowd::sim {

std::string_view to_string(CaidaError e) noexcept {
  switch (e) {
#define OVERFLOWD_X(name) \
  case CaidaError::name:  \
    return #name;
    OVERFLOWD_CAIDA_ERRORS(OVERFLOWD_X)
#undef OVERFLOWD_X
  }
  return "unknown";
}

std::optional<std::uint32_t> Topology::index_of(std::uint32_t asn) const noexcept {
  const auto it = std::lower_bound(asn_.begin(), asn_.end(), asn);
  if (it == asn_.end() || *it != asn) return std::nullopt;
  return static_cast<std::uint32_t>(it - asn_.begin());
}

std::expected<Topology, CaidaRefusal> Topology::from_links(std::vector<Link> links, const CaidaLimits& limits,
                                                           CaidaCounts* counts) {
  if (links.empty()) return std::unexpected(CaidaRefusal{CaidaError::empty, 0});
  if (links.size() > limits.max_links) return std::unexpected(CaidaRefusal{CaidaError::too_many_links, 0});
  // Peers in a canonical order, so that a|b|0 and b|a|0 are one link.
  for (Link& l : links)
    if (l.rel == Relationship::peer && l.a > l.b) std::swap(l.a, l.b);
  // Sorted by unordered pair: duplicates and conflicts are neighbours.
  auto key = [](const Link& l) { return std::pair{std::min(l.a, l.b), std::max(l.a, l.b)}; };
  std::sort(links.begin(), links.end(), [&](const Link& x, const Link& y) {
    return std::tuple{key(x), x.a, static_cast<int>(x.rel)} < std::tuple{key(y), y.a, static_cast<int>(y.rel)};
  });
  std::size_t kept = 0, duplicates = 0;
  for (std::size_t i = 0; i < links.size(); ++i) {
    if (kept > 0 && key(links[kept - 1]) == key(links[i])) {
      const Link& prev = links[kept - 1];
      if (prev.a != links[i].a || prev.rel != links[i].rel)
        return std::unexpected(CaidaRefusal{CaidaError::conflicting_relationship, 0});
      ++duplicates;
      continue;
    }
    links[kept++] = links[i];
  }
  links.resize(kept);

  Topology t;
  t.asn_.reserve(2 * kept);
  for (const Link& l : links) {
    t.asn_.push_back(l.a);
    t.asn_.push_back(l.b);
  }
  std::sort(t.asn_.begin(), t.asn_.end());
  t.asn_.erase(std::unique(t.asn_.begin(), t.asn_.end()), t.asn_.end());
  if (t.asn_.size() > limits.max_ases) return std::unexpected(CaidaRefusal{CaidaError::too_many_ases, 0});
  t.asn_.shrink_to_fit();
  const auto n = t.asn_.size();

  // Counting sort into the three compressed lists.
  std::vector<std::uint32_t> np(n + 1), nc(n + 1), ne(n + 1);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> idx(links.size());
  for (std::size_t i = 0; i < links.size(); ++i) {
    const std::uint32_t a = *t.index_of(links[i].a), b = *t.index_of(links[i].b);
    idx[i] = {a, b};
    if (links[i].rel == Relationship::provider_customer) {
      ++np[b + 1];  // b's provider is a
      ++nc[a + 1];
    } else {
      ++ne[a + 1];
      ++ne[b + 1];
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    np[i + 1] += np[i];
    nc[i + 1] += nc[i];
    ne[i + 1] += ne[i];
  }
  t.providers_.offset = np;
  t.customers_.offset = nc;
  t.peers_.offset = ne;
  t.providers_.to.resize(np[n]);
  t.customers_.to.resize(nc[n]);
  t.peers_.to.resize(ne[n]);
  for (std::size_t i = 0; i < links.size(); ++i) {
    const auto [a, b] = idx[i];
    if (links[i].rel == Relationship::provider_customer) {
      t.providers_.to[np[b]++] = a;
      t.customers_.to[nc[a]++] = b;
    } else {
      t.peers_.to[ne[a]++] = b;
      t.peers_.to[ne[b]++] = a;
    }
  }
  for (Adjacency* adj : {&t.providers_, &t.customers_, &t.peers_})
    for (std::size_t i = 0; i < n; ++i)
      std::sort(adj->to.begin() + adj->offset[i], adj->to.begin() + adj->offset[i + 1]);
  t.links_ = links.size();
  if (counts) {
    counts->links = links.size();
    counts->duplicates += duplicates;
  }
  return t;
}

namespace {

// A decimal ASN, 1 to 4294967295, no sign, no leading zeros beyond "0" itself (which is refused).
std::optional<std::uint32_t> parse_asn(std::string_view s) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v == 0 || v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

}  // namespace

std::expected<Topology, CaidaRefusal> parse_caida(std::span<const std::byte> text, const CaidaLimits& limits,
                                                  CaidaCounts* counts) {
  CaidaCounts local;
  CaidaCounts& c = counts ? *counts : local;
  c = {};
  std::vector<Link> links;
  const std::string_view all(reinterpret_cast<const char*>(text.data()), text.size());
  std::size_t at = 0, line_no = 0;
  while (at < all.size()) {
    const std::size_t end = std::min(all.find('\n', at), all.size());
    std::string_view line = all.substr(at, end - at);
    at = end + 1;
    ++line_no;
    ++c.lines;
    if (line.size() > limits.max_line) return std::unexpected(CaidaRefusal{CaidaError::line_too_long, line_no});
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') {
      ++c.comments;
      continue;
    }
    std::string_view field[4];
    std::size_t fields = 0;
    for (std::size_t from = 0;;) {
      const std::size_t bar = line.find('|', from);
      if (fields == 4) return std::unexpected(CaidaRefusal{CaidaError::bad_field_count, line_no});
      field[fields++] = line.substr(from, bar == std::string_view::npos ? std::string_view::npos : bar - from);
      if (bar == std::string_view::npos) break;
      from = bar + 1;
    }
    if (fields < 3) return std::unexpected(CaidaRefusal{CaidaError::bad_field_count, line_no});
    const auto a = parse_asn(field[0]), b = parse_asn(field[1]);
    if (!a || !b) return std::unexpected(CaidaRefusal{CaidaError::bad_asn, line_no});
    Relationship rel;
    if (field[2] == "-1") rel = Relationship::provider_customer;
    else if (field[2] == "0") rel = Relationship::peer;
    else return std::unexpected(CaidaRefusal{CaidaError::bad_relationship, line_no});
    if (*a == *b) return std::unexpected(CaidaRefusal{CaidaError::self_link, line_no});
    if (links.size() == limits.max_links) return std::unexpected(CaidaRefusal{CaidaError::too_many_links, line_no});
    links.push_back({*a, *b, rel});
  }
  return Topology::from_links(std::move(links), limits, &c);
}

std::vector<Link> generate_links(const GeneratorConfig& config) {
  std::mt19937_64 rng(config.seed);
  const std::uint32_t n = std::max<std::uint32_t>(config.ases, 2);
  const std::uint32_t tier1 = std::clamp<std::uint32_t>(config.tier1, 1, n);
  const auto transit =
      std::clamp<std::uint32_t>(static_cast<std::uint32_t>(config.transit_share * n), tier1, n);
  std::vector<Link> links;
  std::unordered_set<std::uint64_t> have;
  auto pair_key = [](std::uint32_t x, std::uint32_t y) {
    return (std::uint64_t{std::min(x, y)} << 32) | std::max(x, y);
  };
  auto add = [&](std::uint32_t a, std::uint32_t b, Relationship rel) {
    if (a == b || !have.insert(pair_key(a, b)).second) return false;
    links.push_back({a + 1, b + 1, rel});
    return true;
  };
  for (std::uint32_t i = 0; i < tier1; ++i)
    for (std::uint32_t j = i + 1; j < tier1; ++j) add(i, j, Relationship::peer);
  // Preferential attachment among transit ASes: each appears once, plus once per link it gains.
  std::vector<std::uint32_t> weighted;
  for (std::uint32_t i = 0; i < tier1; ++i) weighted.push_back(i);
  std::uniform_real_distribution<double> unit(0, 1);
  for (std::uint32_t i = tier1; i < n; ++i) {
    std::uint32_t want = 1;
    while (want < config.max_providers && unit(rng) < 0.4) ++want;
    for (std::uint32_t tries = 0, got = 0; got < want && tries < 16 * want; ++tries) {
      const std::uint32_t p = weighted[std::uniform_int_distribution<std::size_t>(0, weighted.size() - 1)(rng)];
      if (p >= i) continue;
      if (add(p, i, Relationship::provider_customer)) {
        ++got;
        weighted.push_back(p);
      }
    }
    if (i < transit) weighted.push_back(i);
  }
  // Peering among non-tier-1 transit ASes of similar rank (index within a factor of two).
  if (transit > tier1 + 1) {
    const auto peers = static_cast<std::uint64_t>(config.peer_links_per_transit * (transit - tier1) / 2);
    for (std::uint64_t k = 0; k < peers; ++k) {
      const auto x = std::uniform_int_distribution<std::uint32_t>(tier1, transit - 1)(rng);
      const auto lo = std::max(tier1, x / 2), hi = std::min(transit - 1, 2 * x);
      const auto y = std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
      add(x, y, Relationship::peer);
    }
  }
  return links;
}

std::string to_caida_text(std::span<const Link> links) {
  std::string out = "# overflowd simulate: <provider>|<customer>|-1, <peer>|<peer>|0\n";
  for (const Link& l : links) {
    out += std::to_string(l.a);
    out += '|';
    out += std::to_string(l.b);
    out += l.rel == Relationship::peer ? "|0\n" : "|-1\n";
  }
  return out;
}

}  // namespace overflowd::sim

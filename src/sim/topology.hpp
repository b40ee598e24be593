// An AS-level topology for the simulator (`overflowd simulate`): ASes and their business
// relationships, read from CAIDA's AS-relationship format or made by the generator.
//
// CAIDA's format (serial-1, and serial-2 with a fourth "source" field), one link per line:
//   <provider-as>|<customer-as>|-1
//   <peer-as>|<peer-as>|0
// Lines starting with '#' are comments; empty lines are skipped. The parser is pure over bytes
// and refuses with a coded error and the line number (fuzz/caida_fuzz.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace overflowd::sim {

enum class Relationship : std::int8_t { provider_customer = -1, peer = 0 };

struct Link {
  std::uint32_t a = 0;  // provider (or peer)
  std::uint32_t b = 0;  // customer (or peer)
  Relationship rel = Relationship::peer;
};

// Why a topology was refused. One list gives the enum and the names (caida.<name> in messages).
#define OVERFLOWD_CAIDA_ERRORS(X) \
  X(line_too_long)                \
  X(bad_field_count)              \
  X(bad_asn)                      \
  X(bad_relationship)             \
  X(self_link)                    \
  X(conflicting_relationship)     \
  X(too_many_links)               \
  X(too_many_ases)                \
  X(empty)

enum class CaidaError : std::uint8_t {
#define OVERFLOWD_X(name) name,
  OVERFLOWD_CAIDA_ERRORS(OVERFLOWD_X)
#undef OVERFLOWD_X
};
[[nodiscard]] std::string_view to_string(CaidaError e) noexcept;

struct CaidaRefusal {
  CaidaError code;
  std::size_t line = 0;  // 1-based; 0 when no one line is to blame
};

struct CaidaLimits {
  std::size_t max_line = 1024;
  std::size_t max_links = 20'000'000;
  std::size_t max_ases = 4'000'000;
};

struct CaidaCounts {
  std::size_t lines = 0;
  std::size_t comments = 0;   // '#' lines and empty lines
  std::size_t links = 0;      // distinct links kept
  std::size_t duplicates = 0; // the same link again (same relationship): kept once
};

// Dense AS indices 0..n-1, in ascending ASN order; adjacency by relationship.
class Topology {
public:
  // From links; a pair given twice with different relationships is refused.
  static std::expected<Topology, CaidaRefusal> from_links(std::vector<Link> links, const CaidaLimits& limits = {},
                                                          CaidaCounts* counts = nullptr);

  [[nodiscard]] std::size_t size() const noexcept { return asn_.size(); }
  [[nodiscard]] std::uint32_t asn(std::uint32_t index) const noexcept { return asn_[index]; }
  [[nodiscard]] std::optional<std::uint32_t> index_of(std::uint32_t asn) const noexcept;
  [[nodiscard]] std::span<const std::uint32_t> providers(std::uint32_t i) const noexcept { return span(providers_, i); }
  [[nodiscard]] std::span<const std::uint32_t> customers(std::uint32_t i) const noexcept { return span(customers_, i); }
  [[nodiscard]] std::span<const std::uint32_t> peers(std::uint32_t i) const noexcept { return span(peers_, i); }
  [[nodiscard]] std::size_t degree(std::uint32_t i) const noexcept {
    return providers(i).size() + customers(i).size() + peers(i).size();
  }
  [[nodiscard]] std::size_t link_count() const noexcept { return links_; }

private:
  // Compressed adjacency: offsets (size n + 1) into one array of indices, each list sorted.
  struct Adjacency {
    std::vector<std::uint32_t> offset{0};
    std::vector<std::uint32_t> to;
  };
  static std::span<const std::uint32_t> span(const Adjacency& a, std::uint32_t i) noexcept {
    return {a.to.data() + a.offset[i], a.to.data() + a.offset[i + 1]};
  }
  std::vector<std::uint32_t> asn_;
  Adjacency providers_, customers_, peers_;
  std::size_t links_ = 0;
};

// Parses CAIDA AS-relationship text into a topology.
[[nodiscard]] std::expected<Topology, CaidaRefusal> parse_caida(std::span<const std::byte> text,
                                                                const CaidaLimits& limits = {},
                                                                CaidaCounts* counts = nullptr);

// A synthetic internet: `tier1` ASes peering in a clique, then ASes joining one by one, each buying
// transit from 1 to max_providers earlier transit ASes chosen in proportion to their degree
// (preferential attachment: a power-law degree distribution) so the provider hierarchy is tiered
// and acyclic; the first transit_share of ASes may sell transit, the rest are stubs; transit ASes
// also peer with others of similar rank (peer_links_per_transit on average). ASNs are 1..ases.
struct GeneratorConfig {
  std::uint32_t ases = 1000;
  std::uint32_t tier1 = 8;
  double transit_share = 0.15;
  std::uint32_t max_providers = 3;
  double peer_links_per_transit = 2.0;
  std::uint64_t seed = 1;
};
[[nodiscard]] std::vector<Link> generate_links(const GeneratorConfig& config);

// CAIDA text of `links` (what `overflowd simulate --write-topology` writes).
[[nodiscard]] std::string to_caida_text(std::span<const Link> links);

}  // namespace overflowd::sim

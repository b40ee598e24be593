// Which flows get reported: each with probability min(1, rate x pcount x sampling_interval), drawn
// from a CSPRNG so that nobody outside can predict or steer which flows are picked.
//
// Path-coherent sampling (coherent_share X, default 0): a share X of that probability p is decided
// not by the CSPRNG but by a keyed hash (SipHash-2-4, libsodium's crypto_shorthash) of the flow's
// invariants (addresses, ports, protocol, and the flow's start time in buckets of coherent_bucket_ms)
// under a public key, so that every network on a path that uses the same key reports the same flows
// (trajectory sampling). A flow is kept when hash < X p (the coherent draw), else with the private
// probability q = (1 - X) p / (1 - X p); so P(kept) = X p + (1 - X p) q = p exactly, and someone who
// knows the key can steer clear of the coherent draw only, never of the private one.
//
// Draws come from a ChaCha20 keystream (libsodium's crypto_stream_chacha20), keyed from the
// kernel's CSPRNG and rekeyed every kRekeyBytes of keystream: asking the kernel per flow would make
// the sampler, not the decoder, set the speed. A fixed seed (tests only) keys it deterministically.
//
// A draw is a uniform 64-bit U compared with the threshold p x 2^64, taken lazily (issue 17): its
// top 16 bits first, and its low 48 bits only when the top ones equal the threshold's (Draw). The
// comparison is the same as with all 64 bits at once (exact), and the top bits decide all but one
// draw in 65,536 on average, so a flow costs 2 bytes of keystream instead of 8.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/report_port.hpp"
#include "core/flow_record.hpp"
#include "core/ip_address.hpp"

namespace overflowd::sample {

// The public key of path-coherent sampling unless one is configured: the same for every network by
// default, so that coherent draws line up without coordination. Public by design (see above).
inline constexpr std::array<unsigned char, 16> kDefaultCoherentKey = {'o', 'v', 'e', 'r', 'f', 'l', 'o', 'w',
                                                                       'd', '-', 'p', 'a', 't', 'h', '-', '1'};

struct SamplerConfig {
  double rate = 1e-5;                 // in [0, 1]; validated by the app's config
  double coherent_share = 0;          // in [0, 1]: the share of the probability decided by the keyed hash
  std::array<unsigned char, 16> coherent_key = kDefaultCoherentKey;
  std::int64_t coherent_bucket_ms = 60'000;  // > 0: flows starting in the same bucket hash alike
  std::optional<std::uint64_t> seed;  // tests only: makes the draws reproducible
  std::uint16_t report_port = core::kReportPort;  // UDP flows to or from it are never reported
  // Reports never trigger reports: flows with either endpoint among the sender's own addresses
  // (configured `own_address`, delivery source addresses, and its interfaces' addresses when it
  // delivers) are never reported. Sorted by set_own_addresses().
  std::vector<core::IpAddress> own_addresses;
  // TCP ports of HTTP(S) delivery (0: that transport is off): its flows from (and back to) an own
  // address are counted apart, as delivery_tcp.
  std::uint16_t http_port = 0;
  std::uint16_t https_port = 0;

  // Sorts and de-duplicates `addresses` into own_addresses.
  void set_own_addresses(std::vector<core::IpAddress> addresses);
};

struct SamplerCounters {
  std::uint64_t considered = 0;
  std::uint64_t kept = 0;
  std::uint64_t kept_coherent = 0;  // of kept: picked by the coherent (keyed hash) draw
  std::uint64_t skipped_report_port = 0;  // flows of the reports themselves
  std::uint64_t skipped_no_address = 0;   // records with no source or destination address
  // Flows with an endpoint among the sender's own addresses, by what they most likely are:
  std::uint64_t skipped_delivery_tcp = 0;  // TCP to or from an HTTP(S) delivery port: a report sent
  std::uint64_t skipped_report_icmp = 0;   // an ICMP error (what UDP reports draw from closed ports)
  std::uint64_t skipped_own_address = 0;   // any other
};

// 64-bit uniform draws from ChaCha20.
class Keystream {
public:
  explicit Keystream(std::optional<std::uint64_t> seed);
  [[nodiscard]] std::uint64_t next() noexcept {
    if (index_ == buffer_.size()) refill();
    return buffer_[index_++];
  }
  // 16 uniform bits: a 64-bit word of the stream is handed out a quarter at a time.
  [[nodiscard]] std::uint16_t next16() noexcept {
    if (quarters_ == 0) {
      word_ = next();
      quarters_ = 4;
    }
    --quarters_;
    const auto r = static_cast<std::uint16_t>(word_);
    word_ >>= 16;
    return r;
  }

  static constexpr std::size_t kRekeyBytes = std::size_t{1} << 20;

private:
  void refill() noexcept;
  void rekey() noexcept;

  std::array<std::uint64_t, 64> buffer_{};  // 512 bytes: 8 ChaCha20 blocks per refill
  std::size_t index_ = 64;
  std::uint64_t word_ = 0;  // next16()'s word and how many of its 16-bit quarters are left
  unsigned quarters_ = 0;
  std::array<unsigned char, 32> key_{};
  std::uint64_t nonce_ = 0;
  std::size_t since_rekey_ = 0;
  bool seeded_ = false;
};

// One uniform 64-bit draw U, read lazily: its top 16 bits at once, its low 48 bits from the stream
// only when a comparison needs them (then kept for the next comparison, so every comparison is
// against the same U).
class Draw {
public:
  explicit Draw(Keystream& stream) noexcept : stream_(stream), high_(stream.next16()) {}
  // U < threshold.
  [[nodiscard]] bool below(std::uint64_t threshold) noexcept {
    const auto th = static_cast<std::uint16_t>(threshold >> 48);
    if (high_ != th) return high_ < th;
    if (!have_low_) {
      low_ = stream_.next() >> 16;
      have_low_ = true;
    }
    return low_ < (threshold & kLowMask);
  }

private:
  static constexpr std::uint64_t kLowMask = (std::uint64_t{1} << 48) - 1;
  Keystream& stream_;
  std::uint16_t high_;
  bool have_low_ = false;
  std::uint64_t low_ = 0;
};

// What the sampler decided about one flow.
enum class Decision : std::uint8_t { dropped, kept_private, kept_coherent };

class Sampler {
public:
  explicit Sampler(const SamplerConfig& config);

  // The probability that `flow` is reported, before any draw. Inline, as skip_reason's common
  // case: both run for every flow.
  [[nodiscard]] double probability(const core::FlowRecord& flow) const noexcept {
    const double weight = static_cast<double>(flow.pcount) * static_cast<double>(flow.sampling_interval);
    const double p = config_.rate * weight;
    return p < 1.0 ? p : 1.0;
  }

  // Decides, with one draw when 0 < p < 1 (and, with a coherent share, one keyed hash first).
  // Counts what it refuses and why.
  [[nodiscard]] Decision decide(const core::FlowRecord& flow) noexcept {
    return decide(flow, [](double p) noexcept { return p; }, [](double p) noexcept { return p; });
  }
  [[nodiscard]] bool keep(const core::FlowRecord& flow) noexcept { return decide(flow) != Decision::dropped; }
  // With the probability raised by `boost` (the suspicion policy: base -> boosted), which runs only
  // for flows that may be reported at all.
  template <typename Boost>
  [[nodiscard]] bool keep(const core::FlowRecord& flow, Boost&& boost) noexcept {
    return decide(flow, [](double) noexcept { return 1.0; }, std::forward<Boost>(boost)) != Decision::dropped;
  }
  template <typename Ceiling, typename Boost>
  [[nodiscard]] bool keep(const core::FlowRecord& flow, Ceiling&& ceiling, Boost&& boost) noexcept {
    return decide(flow, std::forward<Ceiling>(ceiling), std::forward<Boost>(boost)) != Decision::dropped;
  }
  // The whole decision, drawing first: `ceiling(base)` bounds what `boost(base)` may return, and
  // boost runs only when the draw falls below the ceiling (else the flow is not kept whatever boost
  // says) or when the coherent draw kept the flow (so that its reasons are known). Exact: the flow
  // is kept with probability boost(base), of which the coherent share X decides X x base (the part
  // every network on the path draws alike; policies differ between networks, so the boost is
  // private): the private draw keeps with q where X p + (1 - X p) q = boost(base).
  template <typename Ceiling, typename Boost>
  [[nodiscard]] Decision decide(const core::FlowRecord& flow, Ceiling&& ceiling, Boost&& boost) noexcept {
    ++counters_.considered;
    if (const auto reason = skip_reason(flow)) {
      ++(counters_.*reason);
      return Decision::dropped;
    }
    const double base = probability(flow);
    bool kept;
    if (config_.coherent_share > 0 && base > 0) {
      const double xp = config_.coherent_share * base;
      if (xp >= 1.0 || coherent_hash(config_, flow) < threshold(xp)) {
        (void)boost(base);
        ++counters_.kept;
        ++counters_.kept_coherent;
        return Decision::kept_coherent;
      }
      const auto rest = [xp](double p) noexcept { return (p - xp) / (1.0 - xp); };
      kept = private_draw(rest(ceiling(base)), [&] { return rest(boost(base)); });
    } else {
      // No coherent share: the private draw's probabilities are the ceiling's and boost's own
      // (this path apart, so that it rescales nothing a flow).
      kept = private_draw(ceiling(base), [&] { return boost(base); });
    }
    counters_.kept += kept;
    return kept ? Decision::kept_private : Decision::dropped;
  }

  // The coherent draw's 64-bit hash of the flow's invariants under `config.coherent_key` (public:
  // anyone with the key computes it; the simulator's informed attacker does).
  [[nodiscard]] static std::uint64_t coherent_hash(const SamplerConfig& config, const core::FlowRecord& flow) noexcept;

  [[nodiscard]] const SamplerCounters& counters() const noexcept { return counters_; }

  // Why `flow` must never be reported, as the counter it goes to; nullptr when it may be. Pure:
  // keep() calls it first.
  [[nodiscard]] std::uint64_t SamplerCounters::* skip_reason(const core::FlowRecord& flow) const noexcept {
    if (flow.protocol == 17 && (flow.sport == config_.report_port || flow.dport == config_.report_port))
      return &SamplerCounters::skipped_report_port;
    if (flow.src.empty() || flow.dst.empty()) return &SamplerCounters::skipped_no_address;
    if (config_.own_addresses.empty()) return nullptr;
    return own_skip_reason(flow);
  }

private:
  // decide()'s private draw: kept with probability boost() (called only when the draw needs it),
  // which is at most `top`.
  template <typename Boost>
  [[nodiscard]] bool private_draw(double top, Boost&& boost) noexcept {
    if (top >= 1.0) return draw(boost());
    if (!(top > 0.0)) return false;
    Draw u(stream_);
    return u.below(threshold(top)) && u.below(threshold(boost()));
  }
  // skip_reason's part for a flow to or from an own address (--own-address).
  [[nodiscard]] std::uint64_t SamplerCounters::* own_skip_reason(const core::FlowRecord& flow) const noexcept;
  [[nodiscard]] bool draw(double p) noexcept;
  // p x 2^64 for 0 < p < 1 (exact: a power of two), UINT64_MAX for p >= 1 (kept always: a draw
  // of UINT64_MAX happens with probability 2^-64, the threshold's granularity), 0 for p <= 0.
  [[nodiscard]] static std::uint64_t threshold(double p) noexcept {
    if (p >= 1.0) return UINT64_MAX;
    if (!(p > 0.0)) return 0;
    return static_cast<std::uint64_t>(p * 0x1p64);
  }

  SamplerConfig config_;
  Keystream stream_;
  SamplerCounters counters_;
};

}  // namespace overflowd::sample

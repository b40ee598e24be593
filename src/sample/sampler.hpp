// Which flows get reported: each with probability min(1, rate x pcount x sampling_interval), drawn
// from a CSPRNG so that nobody outside can predict or steer which flows are picked.
//
// Draws come from a ChaCha20 keystream (libsodium's crypto_stream_chacha20), keyed from the
// kernel's CSPRNG and rekeyed every kRekeyBytes of keystream: asking the kernel per flow would make
// the sampler, not the decoder, set the speed. A fixed seed (tests only) keys it deterministically.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/report_port.hpp"
#include "core/flow_record.hpp"
#include "core/ip_address.hpp"

namespace overflowd::sample {

struct SamplerConfig {
  double rate = 1e-5;                 // in [0, 1]; validated by the app's config
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

  static constexpr std::size_t kRekeyBytes = std::size_t{1} << 20;

private:
  void refill() noexcept;
  void rekey() noexcept;

  std::array<std::uint64_t, 64> buffer_{};  // 512 bytes: 8 ChaCha20 blocks per refill
  std::size_t index_ = 64;
  std::array<unsigned char, 32> key_{};
  std::uint64_t nonce_ = 0;
  std::size_t since_rekey_ = 0;
  bool seeded_ = false;
};

class Sampler {
public:
  explicit Sampler(const SamplerConfig& config);

  // The probability that `flow` is reported, before any draw.
  [[nodiscard]] double probability(const core::FlowRecord& flow) const noexcept;

  // Decides, with one draw when 0 < p < 1. Counts what it refuses and why.
  [[nodiscard]] bool keep(const core::FlowRecord& flow) noexcept {
    return keep(flow, [](double p) noexcept { return p; });
  }
  // The same with the probability raised by `boost` (the suspicion policy: base -> boosted), which
  // runs only for flows that may be reported at all.
  template <typename Boost>
  [[nodiscard]] bool keep(const core::FlowRecord& flow, Boost&& boost) noexcept {
    ++counters_.considered;
    if (const auto reason = skip_reason(flow)) {
      ++(counters_.*reason);
      return false;
    }
    const bool kept = draw(boost(probability(flow)));
    counters_.kept += kept;
    return kept;
  }
  // The same, drawing first: `ceiling(base)` bounds what `boost(base)` may return, and boost runs
  // only when the draw falls below the ceiling (else the flow is not kept whatever boost says).
  // Exact: the flow is kept when the draw is below boost(base), with probability boost(base).
  template <typename Ceiling, typename Boost>
  [[nodiscard]] bool keep(const core::FlowRecord& flow, Ceiling&& ceiling, Boost&& boost) noexcept {
    ++counters_.considered;
    if (const auto reason = skip_reason(flow)) {
      ++(counters_.*reason);
      return false;
    }
    const double base = probability(flow);
    const double top = ceiling(base);
    bool kept;
    if (top >= 1.0) {
      kept = draw(boost(base));
    } else if (!(top > 0.0)) {
      kept = false;
    } else {
      const std::uint64_t u = stream_.next();
      kept = u < threshold(top) && u < threshold(boost(base));
    }
    counters_.kept += kept;
    return kept;
  }

  [[nodiscard]] const SamplerCounters& counters() const noexcept { return counters_; }

  // Why `flow` must never be reported, as the counter it goes to; nullptr when it may be. Pure:
  // keep() calls it first.
  [[nodiscard]] std::uint64_t SamplerCounters::* skip_reason(const core::FlowRecord& flow) const noexcept;

private:
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

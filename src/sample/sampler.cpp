#include "sample/sampler.hpp"
#include "core/sodium.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace overflowd::sample {

namespace {
void ensure_sodium() {
  core::init_sodium();
}
}  // namespace

Keystream::Keystream(std::optional<std::uint64_t> seed) {
  ensure_sodium();
  if (seed) {
    seeded_ = true;
    // key = BLAKE2b-256("overflowd sampler seed" || seed, little-endian)
    unsigned char material[8];
    for (int i = 0; i < 8; ++i) material[i] = static_cast<unsigned char>(*seed >> (8 * i));
    static constexpr char kContext[] = "overflowd sampler seed";
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, key_.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kContext), sizeof kContext - 1);
    crypto_generichash_update(&st, material, sizeof material);
    crypto_generichash_final(&st, key_.data(), key_.size());
  } else {
    rekey();
  }
}

void Keystream::rekey() noexcept {
  randombytes_buf(key_.data(), key_.size());
  nonce_ = 0;
  since_rekey_ = 0;
}

void Keystream::refill() noexcept {
  if (!seeded_ && since_rekey_ >= kRekeyBytes) rekey();
  unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];
  for (std::size_t i = 0; i < sizeof nonce; ++i) nonce[i] = static_cast<unsigned char>(nonce_ >> (8 * i));
  ++nonce_;
  crypto_stream_chacha20(reinterpret_cast<unsigned char*>(buffer_.data()), sizeof buffer_, nonce, key_.data());
  since_rekey_ += sizeof buffer_;
  index_ = 0;
}

Sampler::Sampler(const SamplerConfig& config) : config_(config), stream_(config.seed) {}

void SamplerConfig::set_own_addresses(std::vector<core::IpAddress> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  own_addresses = std::move(addresses);
}

namespace {
// ICMP errors: what a report sent to a closed port (or a lost route) draws back. The flow record
// has the type and code only, not the quoted datagram, so whether it quotes the report port cannot
// be checked: every error to or from an own address is taken as one.
// Without an ICMP type field (NetFlow v5, softflowd), exporters put type << 8 | code in the
// destination port.
bool icmp_error(const core::FlowRecord& f) noexcept {
  const unsigned type = f.has(core::Field::kIcmp) ? f.icmp_type : f.dport >> 8;
  if (f.protocol == 1) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  if (f.protocol == 58) return type >= 1 && type <= 4;
  return false;
}
}  // namespace

std::uint64_t SamplerCounters::* Sampler::own_skip_reason(const core::FlowRecord& flow) const noexcept {
  const auto& own = config_.own_addresses;
  const bool src_own = std::binary_search(own.begin(), own.end(), flow.src);
  const bool dst_own = std::binary_search(own.begin(), own.end(), flow.dst);
  if (!src_own && !dst_own) return nullptr;
  if (flow.protocol == 6) {
    auto delivery = [this](std::uint16_t port) {
      return port != 0 && (port == config_.http_port || port == config_.https_port);
    };
    // From us to a delivery port, or its answers back to us.
    if ((src_own && delivery(flow.dport)) || (dst_own && delivery(flow.sport)))
      return &SamplerCounters::skipped_delivery_tcp;
  }
  if (icmp_error(flow)) return &SamplerCounters::skipped_report_icmp;
  return &SamplerCounters::skipped_own_address;
}

bool Sampler::draw(double p) noexcept {
  if (p >= 1.0) return true;
  if (!(p > 0.0)) return false;
  // P(draw < p x 2^64) = p, up to the 2^-64 granularity of the threshold. Multiplying by 2^64 is
  // exact (a power of two, and 0 < p < 1 keeps the product below 2^64): ldexp's result, without
  // its library call.
  const auto threshold = static_cast<std::uint64_t>(p * 0x1p64);
  return Draw(stream_).below(threshold);
}

std::uint64_t Sampler::coherent_hash(const SamplerConfig& config, const core::FlowRecord& flow) noexcept {
  // family, 16 address bytes, twice; protocol; ports and bucket big-endian: 47 bytes.
  std::array<unsigned char, 47> m{};
  std::size_t at = 0;
  for (const core::IpAddress* a : {&flow.src, &flow.dst}) {
    m[at++] = static_cast<unsigned char>(a->is_v4() ? 4 : a->empty() ? 0 : 6);
    std::memcpy(m.data() + at, a->bytes().data(), 16);
    at += 16;
  }
  m[at++] = flow.protocol;
  for (const std::uint16_t port : {flow.sport, flow.dport}) {
    m[at++] = static_cast<unsigned char>(port >> 8);
    m[at++] = static_cast<unsigned char>(port);
  }
  const std::int64_t ms = flow.has(core::Field::kTimes) ? flow.stime_ms : 0;
  const std::int64_t bucket = config.coherent_bucket_ms > 0 ? ms / config.coherent_bucket_ms : 0;
  for (int i = 7; i >= 0; --i) m[at++] = static_cast<unsigned char>(static_cast<std::uint64_t>(bucket) >> (8 * i));
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, m.data(), at, config.coherent_key.data());
  std::uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h |= std::uint64_t{out[i]} << (8 * i);
  return h;
}

}  // namespace overflowd::sample

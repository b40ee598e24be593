// Signatures the receiver has already checked, so that a replayed report costs a hash and a look-up
// instead of an Ed25519 check (three quarters of a report's cost): a replay flood, the same signed
// report sent over and over, would otherwise keep every verifying thread busy.
//
// An entry is the digest of key || message (BLAKE2b-256, the duplicate test's digest, computed for
// every report anyway) with the 64-byte signature that verified against them. A report is taken as
// verified only when its digest and its signature both match an entry, byte for byte: the same key,
// message and signature as a report that passed crypto_sign_verify_detached. A fixed number of
// slots in 4-way sets chosen by the digest (uniform), split into shards with a lock each; a new
// entry replaces the set's oldest. Nothing is allocated after construction.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace overflowd::receive {

class VerifiedCache {
public:
  using Digest = std::array<std::uint8_t, 32>;
  using Signature = std::array<std::uint8_t, 64>;

  // `slots` rounded up to a power of two (at least kShards x kWays); 32,768 slots take 3 MiB.
  explicit VerifiedCache(std::size_t slots = 32'768);

  // Whether this digest was stored with this signature (and counts a hit when it was).
  [[nodiscard]] bool contains(const Digest& digest, const Signature& signature) const noexcept;
  void insert(const Digest& digest, const Signature& signature) noexcept;

  [[nodiscard]] std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t slots() const noexcept { return kShards * sets_per_shard_ * kWays; }

private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kWays = 4;
  struct Entry {
    Digest digest{};
    Signature signature{};
    bool used = false;
  };
  struct Set {
    std::array<Entry, kWays> ways{};
    std::uint8_t next = 0;  // the way the next new entry takes (the oldest)
  };
  struct Shard {
    mutable std::mutex m;
    std::vector<Set> sets;
  };
  // The shard from the digest's first byte, the set from the next four: independent bits.
  [[nodiscard]] std::size_t shard_of(const Digest& d) const noexcept { return d[0] % kShards; }
  [[nodiscard]] std::size_t set_of(const Digest& d) const noexcept {
    const std::uint32_t v = std::uint32_t{d[1]} | std::uint32_t{d[2]} << 8 | std::uint32_t{d[3]} << 16 |
                            std::uint32_t{d[4]} << 24;
    return v & (sets_per_shard_ - 1);
  }

  std::size_t sets_per_shard_ = 1;
  std::unique_ptr<Shard[]> shards_;
  mutable std::atomic<std::uint64_t> hits_{0};
};

}  // namespace overflowd::receive

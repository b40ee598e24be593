// The encryption mode's envelope (docs/manual.md, "Encryption"): a report sealed to a receiver's
// X25519 key with libsodium's crypto_box_seal (an anonymous sender, an ephemeral key per report):
//
//   {"sealed":{"box":base64(crypto_box_seal(P, x25519_public)),"kid":"<16 hex>","v":1}}
//
// P is exactly the bytes of a signed report as it would have been sent unsealed (sign first, then
// seal): after opening, the report verifies as any other. The kid names the key: the first 8 bytes
// of SHA-256 of the X25519 public key, as 16 hex digits. Pure: no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace overflowd::report {

using X25519Public = std::array<std::uint8_t, 32>;
using Kid = std::array<std::uint8_t, 8>;

// An X25519 key pair (crypto_box). The key file holds the 32-byte secret as 64 hex digits, which
// PyNaCl's PrivateKey(bytes.fromhex(...)) reads too.
struct X25519KeyPair {
  std::array<std::uint8_t, 32> secret{};
  X25519Public public_key{};
};

[[nodiscard]] X25519KeyPair x25519_from_secret(const std::array<std::uint8_t, 32>& secret);
[[nodiscard]] X25519KeyPair generate_x25519();

[[nodiscard]] Kid key_id(const X25519Public& key);
[[nodiscard]] std::string kid_hex(const Kid& kid);
[[nodiscard]] inline std::string kid_hex(const X25519Public& key) { return kid_hex(key_id(key)); }

inline constexpr int kSealVersion = 1;

// Replaces `out` with the sealed envelope of `report` (canonical JSON: members sorted).
void seal(std::string_view report, const X25519Public& key, std::string& out);

// Whether a received input is meant as a sealed envelope (its first member is "sealed"): the
// receiver decides by this whether to open or to verify. Cheap; parse_sealed decides for real.
[[nodiscard]] bool looks_sealed(std::string_view raw) noexcept;

enum class SealErrc : std::uint8_t {
  not_json,       // not (strict) JSON, too large, too deep, or a member named twice
  not_sealed,     // not an object whose only member is "sealed"
  bad_envelope,   // "sealed" is not an object of exactly "v", "kid" and "box"
  bad_version,    // "v" is not 1
  bad_kid,        // "kid" is not 16 hex digits
  bad_box,        // "box" is not base64, too short, or does not open with the key named
  unknown_kid,    // no key of ours has this kid
  no_key,         // we have no encryption key at all
};
[[nodiscard]] const char* to_string(SealErrc e) noexcept;
// The stable counter name ("sealed.bad_box", ...).
[[nodiscard]] const char* counter_name(SealErrc e) noexcept;

struct SealedEnvelope {
  Kid kid{};
  std::vector<std::uint8_t> box;  // at least crypto_box_SEALBYTES
};

[[nodiscard]] std::expected<SealedEnvelope, SealErrc> parse_sealed(std::span<const std::byte> raw);

// The receiver's keys, any of which may be valid at once (overlap during rotation).
class Keyring {
public:
  void add(const X25519KeyPair& keys);
  [[nodiscard]] bool empty() const noexcept { return keys_.empty(); }
  [[nodiscard]] std::span<const X25519KeyPair> keys() const noexcept { return keys_; }
  [[nodiscard]] const X25519KeyPair* find(const Kid& kid) const noexcept;

private:
  std::vector<X25519KeyPair> keys_;
  std::vector<Kid> kids_;
};

struct Opened {
  std::string report;  // P: the signed report, as it was sealed
  Kid kid{};
};

// parse_sealed, then open the box with the key its kid names.
[[nodiscard]] std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys);

// Inserts "recipient":"<address>" into the metadata of a report the builder made
// (report_builder.hpp: metadata is the last member, with "class", "info" and "time"), keeping the
// canonical member order. `message` is the unsigned report; false when it is not laid out so.
[[nodiscard]] bool add_recipient(std::string& message, std::string_view address);

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace overflowd::report

// The encryption mode's envelope (docs/manual.md, "Encryption"): a report sealed to a receiver's
// X25519 key with libsodium's crypto_box_seal (an anonymous sender, an ephemeral key per report):
//
//   {"sealed":{"box":base64(crypto_box_seal(P, x25519_public)),"kid":"<16 hex>","v":1}}
//
// P is exactly the bytes of a signed report as it would have been sent unsealed (sign first, then
// seal): after opening, the report verifies as any other. The kid names the key: the first 8 bytes
// of SHA-256 of the X25519 public key, as 16 hex digits. Pure: no I/O.
//
// The binary sealed datagram (UDP; README.md "Encryption", "The binary sealed datagram"), which
// keeps a sealed report within one 1,200-byte datagram:
//
//   offset 0   4 bytes  magic "OFDS" (0x4F 0x46 0x44 0x53)
//   offset 4   1 byte   version, 1
//   offset 5   8 bytes  kid (raw, the same 8 bytes as the JSON form's 16 hex digits)
//   offset 13  the rest crypto_box_seal(I, x25519_public), 48 + |I| bytes
//
// where I = Ed25519 public key (32 bytes) || Ed25519 signature (64 bytes) || message: the signed
// message (the canonical report) raw, not base64 (what PyNaCl's `vk.encode() + sk.sign(message)`
// gives). The receiver turns I back into the compact form {"key":hex,"signature":base64(sig ||
// message)} and verifies that as any other report. Overhead 157 bytes: a message of up to 1,043
// bytes fits 1,200.
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

inline constexpr std::string_view kDatagramMagic = "OFDS";
inline constexpr std::uint8_t kDatagramVersion = 1;
inline constexpr std::size_t kDatagramHeader = 4 + 1 + 8;               // magic, version, kid
inline constexpr std::size_t kDatagramInnerHead = 32 + 64;             // Ed25519 key, signature
inline constexpr std::size_t kDatagramOverhead = kDatagramHeader + 48 + kDatagramInnerHead;  // 157
// The size of the binary sealed datagram of a signed message of `message` bytes.
[[nodiscard]] constexpr std::size_t sealed_datagram_bytes(std::size_t message) noexcept {
  return kDatagramOverhead + message;
}

// Replaces `out` with the binary sealed datagram of a report signed by `signer_key` with
// `signature` over `message`.
void seal_datagram(std::span<const std::uint8_t, 32> signer_key, std::span<const std::uint8_t, 64> signature,
                   std::string_view message, const X25519Public& key, std::string& out);
// The same from a report's compact wire form ({"key":..,"signature":..}, signer.hpp); false when
// `compact` is not laid out so.
[[nodiscard]] bool seal_compact_datagram(std::string_view compact, const X25519Public& key, std::string& out);

// Whether an input starts with the datagram's magic (the receiver opens it as one).
[[nodiscard]] bool looks_sealed_datagram(std::string_view raw) noexcept;

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
  expired_kid,    // the key of this kid is not valid at the time of receipt (not_before/not_after)
  bad_inner,      // a binary datagram's box opened to fewer than 96 bytes (key and signature)
  too_short,      // a binary datagram shorter than its header and an empty box
};
[[nodiscard]] const char* to_string(SealErrc e) noexcept;
// The stable counter name ("sealed.bad_box", ...).
[[nodiscard]] const char* counter_name(SealErrc e) noexcept;

struct SealedEnvelope {
  Kid kid{};
  std::vector<std::uint8_t> box;  // at least crypto_box_SEALBYTES
};

[[nodiscard]] std::expected<SealedEnvelope, SealErrc> parse_sealed(std::span<const std::byte> raw);

// The binary datagram's parts (the box not opened).
[[nodiscard]] std::expected<SealedEnvelope, SealErrc> parse_sealed_datagram(std::span<const std::byte> raw);

// A key's validity window, Unix s: valid at t when not_before <= t < not_after.
struct Validity {
  std::int64_t not_before = INT64_MIN;
  std::int64_t not_after = INT64_MAX;
  [[nodiscard]] constexpr bool contains(std::int64_t t) const noexcept { return not_before <= t && t < not_after; }
};

// The receiver's keys, any of which may be valid at once (overlap during rotation), each with its
// validity window (unbounded unless given).
class Keyring {
public:
  void add(const X25519KeyPair& keys, Validity validity = {});
  [[nodiscard]] bool empty() const noexcept { return keys_.empty(); }
  [[nodiscard]] std::span<const X25519KeyPair> keys() const noexcept { return keys_; }
  [[nodiscard]] std::span<const Validity> validity() const noexcept { return validity_; }
  // The key of this kid, whatever its window.
  [[nodiscard]] const X25519KeyPair* find(const Kid& kid) const noexcept;
  // The key of this kid valid at `now_s`: unknown_kid or expired_kid (known, outside its window) otherwise.
  [[nodiscard]] std::expected<const X25519KeyPair*, SealErrc> find_valid(const Kid& kid, std::int64_t now_s) const noexcept;

private:
  std::vector<X25519KeyPair> keys_;
  std::vector<Kid> kids_;
  std::vector<Validity> validity_;
};

struct Opened {
  std::string report;  // P: the signed report, as it was sealed
  Kid kid{};
};

// parse_sealed, then open the box with the key its kid names (whatever its window: tests).
[[nodiscard]] std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys);
// The same with a key valid at `now_s` (the receiver: the time of receipt).
[[nodiscard]] std::expected<Opened, SealErrc> open_sealed(std::span<const std::byte> raw, const Keyring& keys,
                                                          std::int64_t now_s);
// A binary datagram, opened with a key valid at `now_s`; `report` is the compact wire form
// rebuilt from I ({"key":"<hex>","signature":"<base64(sig || message)>"}).
[[nodiscard]] std::expected<Opened, SealErrc> open_sealed_datagram(std::span<const std::byte> raw, const Keyring& keys,
                                                                   std::int64_t now_s);

// Inserts "recipient":"<address>" into the metadata of a report the builder made
// (report_builder.hpp: metadata is the last member, with "class", "info" and "time"), keeping the
// canonical member order. `message` is the unsigned report; false when it is not laid out so.
[[nodiscard]] bool add_recipient(std::string& message, std::string_view address);
// Removes metadata.rotation from such a report (it sits right before "time"); false when it has none.
// Over UDP a report whose datagram would pass the cap because of it goes without it (docs/manual.md,
// "Rotation over UDP").
[[nodiscard]] bool remove_rotation(std::string& message);

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace overflowd::report

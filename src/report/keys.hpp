// Ed25519 key pairs (libsodium), from a 32-byte seed as PyNaCl's SigningKey(seed) makes them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace overflowd::report {

using PublicKey = std::array<std::uint8_t, 32>;
using Seed = std::array<std::uint8_t, 32>;

struct KeyPair {
  Seed seed{};
  PublicKey public_key{};
  std::array<std::uint8_t, 64> secret_key{};  // libsodium's form: seed || public key
};

[[nodiscard]] KeyPair keypair_from_seed(const Seed& seed);
[[nodiscard]] KeyPair generate_keypair();
[[nodiscard]] std::string public_key_hex(const KeyPair& keys);

}  // namespace overflowd::report

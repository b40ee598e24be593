#include "report/keys.hpp"

#include <sodium.h>

#include <stdexcept>

#include "core/encoding.hpp"

namespace overflowd::report {

KeyPair keypair_from_seed(const Seed& seed) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  KeyPair k;
  k.seed = seed;
  crypto_sign_seed_keypair(k.public_key.data(), k.secret_key.data(), seed.data());
  return k;
}

KeyPair generate_keypair() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  Seed seed;
  randombytes_buf(seed.data(), seed.size());
  KeyPair k = keypair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return k;
}

std::string public_key_hex(const KeyPair& keys) { return core::to_hex(keys.public_key); }

}  // namespace overflowd::report

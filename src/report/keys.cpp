#include "report/keys.hpp"

#include <sodium.h>

#include <stdexcept>

#include "core/encoding.hpp"
#include "core/sodium.hpp"

namespace overflowd::report {

KeyPair keypair_from_seed(const Seed& seed) {
  core::init_sodium();
  KeyPair k;
  k.seed = seed;
  crypto_sign_seed_keypair(k.public_key.data(), k.secret_key.data(), seed.data());
  return k;
}

KeyPair generate_keypair() {
  core::init_sodium();
  Seed seed;
  randombytes_buf(seed.data(), seed.size());
  KeyPair k = keypair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return k;
}

std::string public_key_hex(const KeyPair& keys) { return core::to_hex(keys.public_key); }

}  // namespace overflowd::report

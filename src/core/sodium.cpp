#include "core/sodium.hpp"

#include <sodium.h>

#include <stdexcept>

namespace overflowd::core {

void init_sodium() {
  // sodium_init is itself idempotent and thread-safe; the static keeps later calls to a load.
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium failed to initialize");
}

}  // namespace overflowd::core

// libsodium, initialised once, with one failure policy: a libsodium that cannot start (no entropy
// source) throws std::runtime_error("libsodium failed to initialize"). main() calls init_sodium()
// at start-up, before any thread, so the failure is reported there and nothing runs without it;
// the code that uses libsodium calls it too (a cheap check once done), for the tests, fuzz targets
// and benchmarks that have no main() of ours.
#pragma once

namespace overflowd::core {

void init_sodium();

}  // namespace overflowd::core

// The signing key on disk: the 32-byte Ed25519 seed as 64 hex digits and a newline (so PyNaCl's
// SigningKey(bytes.fromhex(...)) reads it too), in a file of mode 0600. A key file that group or
// others may read is refused, as ssh refuses one; so is one owned by another user (not root), one
// in a folder that others own or may write (unless sticky), and anything but a regular file (a FIFO
// there would otherwise hang start-up).
#pragma once

#include <expected>
#include <string>

#include "report/keys.hpp"
#include "report/seal.hpp"

namespace overflowd::io {

// Refuses a key folder owned by another user (not root) or writable by group or others without the
// sticky bit: whoever may write it may replace the key.
[[nodiscard]] std::expected<void, std::string> check_key_folder(const std::string& path);
[[nodiscard]] std::expected<report::KeyPair, std::string> load_key(const std::string& path);
// Creates a new key at `path` (mode 0600); refuses to overwrite an existing file.
[[nodiscard]] std::expected<report::KeyPair, std::string> create_key(const std::string& path);

struct LoadedKey {
  report::KeyPair keys;
  bool created = false;
};
[[nodiscard]] std::expected<LoadedKey, std::string> load_or_create_key(const std::string& path);

// The encryption key (X25519, crypto_box): the 32-byte secret as 64 hex digits, same file rules.
[[nodiscard]] std::expected<report::X25519KeyPair, std::string> load_x25519(const std::string& path);
[[nodiscard]] std::expected<report::X25519KeyPair, std::string> create_x25519(const std::string& path);
struct LoadedX25519 {
  report::X25519KeyPair keys;
  bool created = false;
};
[[nodiscard]] std::expected<LoadedX25519, std::string> load_or_create_x25519(const std::string& path);

}  // namespace overflowd::io

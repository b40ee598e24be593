#include "io/key_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <array>
#include <filesystem>
#include <span>

#include "core/encoding.hpp"
#include "io/text_file.hpp"

namespace overflowd::io {

namespace {
std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Whoever may replace the key file chooses the seed, so (as ssh's StrictModes) the file must be
// ours or root's, and its folder ours or root's and writable by no one else, unless sticky (as
// /tmp: others may add files there but not rename or remove ours).
std::expected<void, std::string> check_owner(const struct stat& st, const std::string& path) {
  const uid_t me = ::geteuid();
  if (st.st_uid == me || st.st_uid == 0) return {};
  return std::unexpected("key file " + path + " is owned by uid " + std::to_string(st.st_uid) +
                         ", not by this user (uid " + std::to_string(me) + ") or root; refused");
}
}  // namespace

std::expected<void, std::string> check_key_folder(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return std::unexpected("key file " + path + ": folder " + dir.string() + ": " + std::strerror(errno));
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return std::unexpected("key file " + path + ": folder " + dir.string() + " is owned by uid " +
                           std::to_string(st.st_uid) + ", not by this user or root; refused");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
    return std::unexpected("key file " + path + ": folder " + dir.string() + " is writable by group or others (mode " +
                           octal_mode(st.st_mode) + "), so they could replace the key; run: chmod go-w " +
                           dir.string());
  return {};
}

namespace {
// The 32 secret bytes of a key file (64 hex digits), with every check above.
std::expected<std::array<std::uint8_t, 32>, std::string> load_secret(const std::string& path, const char* what) {
  if (auto folder = check_key_folder(path); !folder) return std::unexpected(folder.error());
  auto opened = open_regular_file(path, "key file ");
  if (!opened) return std::unexpected(opened.error());
  const int fd = opened->fd;
  const struct stat& st = opened->st;
  if (auto owner = check_owner(st, path); !owner) {
    ::close(fd);
    return std::unexpected(owner.error());
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return std::unexpected("key file " + path + " is accessible by group or others (mode " + octal_mode(st.st_mode) +
                           "); run: chmod 600 " + path);
  }
  char buf[130];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::array<std::uint8_t, 32> secret{};
  const bool ok = core::from_hex(text, secret);
  sodium_memzero(buf, sizeof buf);
  if (!ok) return std::unexpected("key file " + path + " is corrupt: expected 64 hex digits (" + what + ")");
  return secret;
}

// Writes 64 hex digits of `secret` to a new file of mode 0600. The digits go to a temporary file
// first, which link() then names `path` in one step: two processes starting at once with the same
// absent key never see a half-written file, and the loser finds the winner's key (EEXIST).
std::expected<void, std::string> write_secret(const std::string& path, std::span<const std::uint8_t> secret) {
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return std::unexpected("key file " + path + ": " + std::strerror(errno));
  std::string text = core::to_hex(secret) + "\n";
  const bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return std::unexpected("key file " + path + ": could not write it");
  }
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0) return std::unexpected("key file " + path + ": " + std::strerror(link_errno));
  return {};
}
}  // namespace

std::expected<report::KeyPair, std::string> load_key(const std::string& path) {
  auto seed = load_secret(path, "an Ed25519 seed");
  if (!seed) return std::unexpected(seed.error());
  report::KeyPair keys = report::keypair_from_seed(*seed);
  sodium_memzero(seed->data(), seed->size());
  return keys;
}

std::expected<report::KeyPair, std::string> create_key(const std::string& path) {
  report::KeyPair keys = report::generate_keypair();
  if (auto w = write_secret(path, keys.seed); !w) return std::unexpected(w.error());
  return keys;
}

namespace {
// Either kind of key: created (mode 0600, in a folder checked first) when the path does not exist.
template <class Loaded, class Create, class Load>
std::expected<Loaded, std::string> load_or_create(const std::string& path, Create&& create, Load&& load) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    if (auto folder = check_key_folder(path); !folder) return std::unexpected(folder.error());
    auto created = create(path);
    if (created) return Loaded{*created, true};
    // Another process created it meanwhile; its key is complete (see write_secret).
    if (::lstat(path.c_str(), &st) != 0) return std::unexpected(created.error());
  }
  auto loaded = load(path);
  if (!loaded) return std::unexpected(loaded.error());
  return Loaded{*loaded, false};
}
}  // namespace

std::expected<LoadedKey, std::string> load_or_create_key(const std::string& path) {
  return load_or_create<LoadedKey>(path, create_key, load_key);
}

std::expected<report::X25519KeyPair, std::string> load_x25519(const std::string& path) {
  auto secret = load_secret(path, "an X25519 secret key");
  if (!secret) return std::unexpected(secret.error());
  report::X25519KeyPair keys = report::x25519_from_secret(*secret);
  sodium_memzero(secret->data(), secret->size());
  return keys;
}

std::expected<report::X25519KeyPair, std::string> create_x25519(const std::string& path) {
  report::X25519KeyPair keys = report::generate_x25519();
  if (auto w = write_secret(path, keys.secret); !w) return std::unexpected(w.error());
  return keys;
}

std::expected<LoadedX25519, std::string> load_or_create_x25519(const std::string& path) {
  return load_or_create<LoadedX25519>(path, create_x25519, load_x25519);
}

}  // namespace overflowd::io

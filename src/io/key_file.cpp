#include "io/key_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/encoding.hpp"

namespace overflowd::io {

namespace {
std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}
}  // namespace

std::expected<report::KeyPair, std::string> load_key(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::unexpected("key file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected("key file " + path + ": not a regular file");
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
  report::Seed seed{};
  if (!core::from_hex(text, seed))
    return std::unexpected("key file " + path + " is corrupt: expected 64 hex digits (an Ed25519 seed)");
  report::KeyPair keys = report::keypair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(buf, sizeof buf);
  return keys;
}

std::expected<report::KeyPair, std::string> create_key(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return std::unexpected("key file " + path + ": " + std::strerror(errno));
  report::KeyPair keys = report::generate_keypair();
  std::string text = core::to_hex(keys.seed) + "\n";
  const bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return std::unexpected("key file " + path + ": could not write it");
  }
  return keys;
}

std::expected<LoadedKey, std::string> load_or_create_key(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    auto created = create_key(path);
    if (!created) return std::unexpected(created.error());
    return LoadedKey{*created, true};
  }
  auto loaded = load_key(path);
  if (!loaded) return std::unexpected(loaded.error());
  return LoadedKey{*loaded, false};
}

}  // namespace overflowd::io

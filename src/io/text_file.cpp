#include "io/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace overflowd::io {

std::expected<OpenedFile, std::string> open_regular_file(const std::string& path, const std::string& what) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the type check.
  // O_NOFOLLOW: the file named is the file read, not what a link in its place points to.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) return std::unexpected(what + path + ": is a symbolic link; give the file itself");
    return std::unexpected(what + path + ": cannot open: " + std::strerror(errno));
  }
  OpenedFile f{fd, {}};
  if (::fstat(fd, &f.st) != 0) {
    const int e = errno;
    ::close(fd);
    return std::unexpected(what + path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(f.st.st_mode)) {
    ::close(fd);
    return std::unexpected(what + path + ": not a regular file (a FIFO, device, socket or folder is refused)");
  }
  // Regular files never block; reads are plain blocking reads from here on.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return f;
}

std::expected<std::string, std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
  auto f = open_regular_file(path, "");
  if (!f) return std::unexpected(f.error());
  std::string text(max_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(f->fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(f->fd);
      return std::unexpected(path + ": cannot read");
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(f->fd);
  text.resize(got);
  if (text.size() > max_bytes) return std::unexpected(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

}  // namespace overflowd::io

#include "app/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace overflowd::app::systemd {

namespace {
// sd_notify(3)'s protocol, written out: one datagram with the state to the unix socket named by
// $NOTIFY_SOCKET (a path, or '@' for the abstract namespace); nothing when it is unset. Done here
// rather than with libsystemd, which pulled six more libraries (libgcrypt, liblzma, libzstd, liblz4,
// libcap, libgpg-error) into every start of the process for this one call (issue 17, start-up).
void send(const std::string& state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || (where[0] != '/' && where[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t n = std::strlen(where);
  if (n >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, where, n);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
}
}  // namespace

void ready(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void reloading() { send("RELOADING=1"); }
void reloaded(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void stopping() { send("STOPPING=1"); }

}  // namespace overflowd::app::systemd

#include "app/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "app/log.hpp"

namespace overflowd::app {

std::expected<void, std::string> drop_privileges(const std::string& user, const char* program) {
  if (::geteuid() != 0) {
    if (!user.empty()) log::info(program, "--user " + user + ": not running as root, nothing to drop");
    return {};
  }
  if (user.empty()) {
    // Said at debug level only: tests and containers run as root on purpose.
    if (!std::getenv("INVOCATION_ID"))
      log::debug(program, "running as root: --user NAME would drop to an unprivileged user once the sockets are bound");
    return {};
  }
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (const int e = ::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found); e != 0 || !found)
    return std::unexpected("--user: no user '" + user + "'" + (e ? std::string(": ") + std::strerror(e) : ""));
  if (found->pw_uid == 0) return std::unexpected("--user: '" + user + "' is root");
  if (::initgroups(found->pw_name, found->pw_gid) != 0)
    return std::unexpected("--user: setting the groups of '" + user + "' failed: " + std::strerror(errno));
  if (::setresgid(found->pw_gid, found->pw_gid, found->pw_gid) != 0)
    return std::unexpected("--user: setgid failed: " + std::string(std::strerror(errno)));
  if (::setresuid(found->pw_uid, found->pw_uid, found->pw_uid) != 0)
    return std::unexpected("--user: setuid failed: " + std::string(std::strerror(errno)));
  if (::setuid(0) == 0 || ::geteuid() == 0) return std::unexpected("--user: root could be taken back; stopping");
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // no core dumps of memory that held root's files
  log::info(program, "running as user " + user);
  return {};
}

}  // namespace overflowd::app

#include "io/local_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>

namespace overflowd::io {

std::expected<std::vector<core::IpAddress>, std::string> local_addresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::unexpected(std::string("getifaddrs: ") + std::strerror(errno));
  std::vector<core::IpAddress> out;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(core::IpAddress::from_bytes(std::as_bytes(std::span(&a->sin_addr.s_addr, 1))));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      out.push_back(core::IpAddress::from_bytes(std::as_bytes(std::span(a->sin6_addr.s6_addr))));
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace overflowd::io

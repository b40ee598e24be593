#include "sink/udp_sender.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/sockaddr.hpp"

namespace overflowd::sink {

namespace {

using io::to_sockaddr;

// A non-blocking datagram socket of `family`, bound to `source` when given. -1 when the family is
// unavailable (no IPv6 on this host) and no source was asked for; an error when a source was.
std::expected<int, std::string> open_socket(int family, const std::optional<core::IpAddress>& source) {
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (!source) return -1;
    return std::unexpected(std::string("socket: ") + std::strerror(errno));
  }
  if (family == AF_INET6) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (source) {
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(*source, 0, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return std::unexpected("--source-address " + source->to_string() + ": " + why);
    }
  }
  return fd;
}

}  // namespace

std::expected<std::unique_ptr<UdpSender>, std::string> UdpSender::open(const UdpSenderConfig& config) {
  auto fd4 = open_socket(AF_INET, config.source_v4);
  if (!fd4) return std::unexpected(fd4.error());
  auto fd6 = open_socket(AF_INET6, config.source_v6);
  if (!fd6) {
    if (*fd4 >= 0) ::close(*fd4);
    return std::unexpected(fd6.error());
  }
  return std::unique_ptr<UdpSender>(new UdpSender(config, *fd4, *fd6));
}

UdpSender::~UdpSender() {
  if (fd4_ >= 0) ::close(fd4_);
  if (fd6_ >= 0) ::close(fd6_);
}

void UdpSender::send(const core::IpAddress& to, const report::SignedReport& report) {
  // A sealed report goes as the binary sealed datagram (seal.hpp), which fits where the JSON
  // envelope of the same report would not.
  const std::string_view payload = report.sealed && !report.datagram.empty() ? std::string_view(report.datagram)
                                                                             : report.compact();
  if (payload.size() > kMaxUdpPayload) {
    ++counters_.too_large;
    return;
  }
  switch (sendto_payload(to, payload)) {
    case Sent::sent: ++counters_.sent; break;
    case Sent::no_socket: ++counters_.no_socket; break;
    case Sent::would_block: ++counters_.would_block; break;
    case Sent::failed: ++counters_.failed; break;
  }
}

bool UdpSender::send_bytes(const core::IpAddress& to, std::string_view payload) {
  return payload.size() <= kMaxUdpPayload && sendto_payload(to, payload) == Sent::sent;
}

UdpSender::Sent UdpSender::sendto_payload(const core::IpAddress& to, std::string_view payload) {
  const int fd = to.is_v4() ? fd4_ : to.is_v6() ? fd6_ : -1;
  if (fd < 0) return Sent::no_socket;
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(to, config_.port, ss);
  for (;;) {
    const ssize_t n = ::sendto(fd, payload.data(), payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&ss), len);
    if (n >= 0) return Sent::sent;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return Sent::would_block;
    return Sent::failed;
  }
}

void UdpSender::append_counters(std::vector<core::NamedCount>& out) const {
  out.push_back({"udp.sent", counters_.sent});
  if (counters_.too_large) out.push_back({"udp.too_large", counters_.too_large});
  if (counters_.would_block) out.push_back({"udp.dropped.would_block", counters_.would_block});
  if (counters_.failed) out.push_back({"udp.failed", counters_.failed});
  if (counters_.no_socket) out.push_back({"udp.no_socket", counters_.no_socket});
}

}  // namespace overflowd::sink

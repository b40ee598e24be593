#include "source/udp_source.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace overflowd::source {

std::expected<std::unique_ptr<UdpSource>, std::string> UdpSource::open(const UdpSourceConfig& config,
                                                                       const std::atomic<bool>* stop) {
  const auto addr = core::IpAddress::parse(config.bind);
  if (!addr) return std::unexpected("--bind: '" + config.bind + "' is not an IP address");
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr->is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(config.port);
    std::memcpy(&sin->sin_addr, addr->bytes().data(), 4);
    len = sizeof(sockaddr_in);
    family = AF_INET;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(config.port);
    std::memcpy(&sin6->sin6_addr, addr->bytes().data(), 16);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  }
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  if (family == AF_INET6) {
    const int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  const int rcvbuf = config.receive_buffer;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return std::unexpected("cannot listen on UDP [" + config.bind + "]:" + std::to_string(config.port) + ": " + why);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const std::uint16_t port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                     : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return std::unique_ptr<UdpSource>(new UdpSource(fd, stop, port));
}

UdpSource::UdpSource(int fd, const std::atomic<bool>* stop, std::uint16_t port)
    : fd_(fd), stop_(stop), port_(port), buffer_(65536) {}

UdpSource::~UdpSource() { ::close(fd_); }

bool UdpSource::next(core::Datagram& out) {
  while (!(stop_ && stop_->load(std::memory_order_relaxed))) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, 200);
    if (ready <= 0) continue;  // timeout or EINTR: look at the stop flag again
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      warning_ = std::string("recvfrom: ") + std::strerror(errno);
      return false;
    }
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    ++counters_.packets;
    ++counters_.datagrams;
    if (from.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&from);
      out.exporter = core::IpAddress::from_bytes(std::as_bytes(std::span(&sin->sin_addr, 1)));
      out.exporter_port = ntohs(sin->sin_port);
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
      out.exporter = core::IpAddress::from_bytes(std::as_bytes(std::span(&sin6->sin6_addr, 1))).unmapped();
      out.exporter_port = ntohs(sin6->sin6_port);
    }
    out.received_ns = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
    out.bytes = core::Bytes(buffer_.data(), static_cast<std::size_t>(n));
    return true;
  }
  return false;
}

}  // namespace overflowd::source

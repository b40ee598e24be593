#include "source/udp_source.hpp"
#include "core/clock.hpp"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace overflowd::source {

namespace {

// Slots are a little more than 64 KiB apart, so that the starts of the datagrams of one batch do
// not all fall into the same cache sets.
constexpr std::size_t kSlot = UdpSource::kMaxDatagram + 5 * 64;

}  // namespace

std::expected<BoundSocket, std::string> open_udp_socket(const UdpSourceConfig& config, std::uint16_t port) {
  const auto addr = core::IpAddress::parse(config.bind);
  if (!addr) return std::unexpected("--bind: '" + config.bind + "' is not an IP address");
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr->is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, addr->bytes().data(), 4);
    len = sizeof(sockaddr_in);
    family = AF_INET;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, addr->bytes().data(), 16);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  }
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  const int on = 1;
  if (family == AF_INET6) {
    const int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (config.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return std::unexpected("SO_REUSEPORT: " + why);
  }
  // Drops are read with SO_MEMINFO once per batch (refresh_counters): a SO_RXQ_OVFL cmsg on every
  // datagram cost more (the kernel writes it, the worker walks it) than one getsockopt per batch.
  BoundSocket b;
  b.buffer.asked = config.receive_buffer;
  // SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; without it, SO_RCVBUF.
  b.buffer.forced = ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &config.receive_buffer, sizeof config.receive_buffer) == 0;
  if (!b.buffer.forced) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &config.receive_buffer, sizeof config.receive_buffer);
  socklen_t optlen = sizeof b.buffer.granted;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b.buffer.granted, &optlen);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return std::unexpected("cannot listen on UDP [" + config.bind + "]:" + std::to_string(port) + ": " + why);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  b.port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  b.fd = fd;
  return b;
}

std::expected<std::unique_ptr<UdpSource>, std::string> UdpSource::open(const UdpSourceConfig& config,
                                                                       const std::atomic<bool>* stop) {
  auto b = open_udp_socket(config, config.port);
  if (!b) return std::unexpected(b.error());
  return std::unique_ptr<UdpSource>(new UdpSource(b->fd, stop, b->port, b->buffer));
}

std::expected<std::vector<std::unique_ptr<UdpSource>>, std::string> UdpSource::open_group(
    const UdpSourceConfig& config, std::size_t count, const std::atomic<bool>* stop) {
  UdpSourceConfig c = config;
  c.reuse_port = true;
  std::vector<std::unique_ptr<UdpSource>> group;
  std::uint16_t port = config.port;
  for (std::size_t i = 0; i < count; ++i) {
    auto b = open_udp_socket(c, port);
    if (!b) return std::unexpected(b.error());  // the sockets opened so far close with `group`
    port = b->port;                             // port 0: the others join the port the first got
    group.push_back(std::unique_ptr<UdpSource>(new UdpSource(b->fd, stop, b->port, b->buffer)));
  }
  return group;
}

UdpSource::UdpSource(int fd, const std::atomic<bool>* stop, std::uint16_t port, ReceiveBuffer rb)
    : fd_(fd), stop_(stop), port_(port), receive_buffer_(rb),
      buffers_(std::make_unique_for_overwrite<std::byte[]>(kSlot * kBatch)) {
  for (std::size_t i = 0; i < kBatch; ++i) {
    iov_[i].iov_base = buffers_.get() + i * kSlot;
    iov_[i].iov_len = kMaxDatagram;
    msghdr& h = messages_[i].msg_hdr;
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
    h.msg_name = &from_[i];
  }
  counters_.counts_kernel_drops = true;
}

UdpSource::~UdpSource() { ::close(fd_); }

int UdpSource::receive(std::size_t max) {
  if (coalesce_) {
    // The last call emptied the queue without filling a batch: traffic is coming, but slower than
    // it is taken. Waking up for every datagram would cost more than the datagram itself (a poll
    // and a context switch each), so let a batch gather for a moment first. The buffer holds far
    // more than arrives meanwhile.
    const timespec nap{0, nap_ns_};
    ::nanosleep(&nap, nullptr);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (std::size_t i = 0; i < max; ++i) {  // the kernel overwrote these lengths last time
      messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    const int n = ::recvmmsg(fd_, messages_.data(), static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
    coalesce_ = n > 0 && static_cast<std::size_t>(n) < max;
    // The nap adapts: doubled (up to kMaxNapNs) while batches come less than a quarter full,
    // halved (down to kCoalesceNs) when they come more than half full. A slow stream then costs one
    // wake-up per several datagrams, not one per datagram or two, and at most about a batch waits.
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (got < max / 4) nap_ns_ = std::min(nap_ns_ * 2, kMaxNapNs);
      else if (got > max / 2) nap_ns_ = std::max(nap_ns_ / 2, kCoalesceNs);
    }
    if (n > 0) return n;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      warning_ = std::string("recvmmsg: ") + std::strerror(errno);
      return -1;
    }
    if (attempt == 1 || stopped()) break;
    // Nothing queued: wait for the socket (the busy path above never polls).
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, kIdleMs) <= 0) break;  // time-out or a signal: let the caller look at its flags
  }
  return 0;
}

void UdpSource::note_drops(std::uint32_t socket_drops) noexcept {
  // The kernel's count is cumulative and wraps at 2^32; a stale (smaller) value is ignored.
  const std::uint32_t delta = socket_drops - drops_seen_;
  if (delta != 0 && delta < 0x8000'0000u) {
    counters_.kernel_drops += delta;
    drops_seen_ = socket_drops;
  }
}

void UdpSource::take(std::size_t i, std::int64_t now, core::Datagram& out) noexcept {
  ++counters_.packets;
  ++counters_.datagrams;
  const sockaddr_storage& from = from_[i];
  if (from.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&from);
    out.exporter = core::IpAddress::from_bytes(std::as_bytes(std::span(&sin->sin_addr, 1)));
    out.exporter_port = ntohs(sin->sin_port);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
    out.exporter = core::IpAddress::from_bytes(std::as_bytes(std::span(&sin6->sin6_addr, 1))).unmapped();
    out.exporter_port = ntohs(sin6->sin6_port);
  }
  out.received_ns = now;
  out.bytes = core::Bytes(static_cast<const std::byte*>(iov_[i].iov_base), messages_[i].msg_len);
}

bool UdpSource::next_batch(std::span<core::Datagram> out, std::size_t& n) {
  n = 0;
  if (out.empty()) return true;
  if (pending_at_ < pending_count_) {  // datagrams left from next(): those first
    while (pending_at_ < pending_count_ && n < out.size()) out[n++] = pending_[pending_at_++];
    return true;
  }
  if (stopped()) return false;
  const std::size_t max = std::min(out.size(), kBatch);
  const int got = receive(max);
  if (got < 0) return false;
  const std::int64_t now = core::system_clock().wall_ns();
  note_batch(static_cast<std::size_t>(got), max, now);
  for (int i = 0; i < got; ++i) take(static_cast<std::size_t>(i), now, out[n++]);
  return true;
}

bool UdpSource::next(core::Datagram& out) {
  while (pending_at_ >= pending_count_) {
    if (stopped()) return false;
    const int got = receive(kBatch);
    if (got < 0) return false;
    const std::int64_t now = core::system_clock().wall_ns();
    note_batch(static_cast<std::size_t>(got), kBatch, now);
    for (int i = 0; i < got; ++i) take(static_cast<std::size_t>(i), now, pending_[static_cast<std::size_t>(i)]);
    pending_count_ = static_cast<std::size_t>(got);
    pending_at_ = 0;
  }
  out = pending_[pending_at_++];
  return true;
}

void UdpSource::note_batch(std::size_t got, std::size_t max, std::int64_t now) noexcept {
  // The kernel drops only while the buffer is full, and then the next call fills its batch: so the
  // drop count is read after a full batch, and at least every kRefreshNs while datagrams come (one
  // getsockopt then, instead of a control message on every datagram).
  if (got == 0) return;
  if (got == max || now - refreshed_ns_ >= kRefreshNs) {
    refresh_counters();
    refreshed_ns_ = now;
  }
}

void UdpSource::refresh_counters() noexcept {
  std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 && len > SK_MEMINFO_DROPS * sizeof(std::uint32_t))
    note_drops(meminfo[SK_MEMINFO_DROPS]);
}

}  // namespace overflowd::source

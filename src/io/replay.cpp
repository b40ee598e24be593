#include "io/replay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "decode/dispatch.hpp"
#include "io/sockaddr.hpp"
#include "source/pcap_source.hpp"
#include "core/clock.hpp"
#include "core/parse.hpp"

namespace overflowd::io {

namespace {

constexpr std::size_t kBatch = 64;  // datagrams per sendmmsg


void sleep_until(std::int64_t when_ns) noexcept {
  timespec ts{};
  ts.tv_sec = when_ns / 1'000'000'000;
  ts.tv_nsec = when_ns % 1'000'000'000;
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds) ::close(fd);
  }
};

}  // namespace

std::string ReplayTarget::to_string() const {
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(port)
                         : address.to_string() + ":" + std::to_string(port);
}

std::expected<ReplayTarget, std::string> parse_target(std::string_view text, std::string_view flag, std::uint16_t min_port) {
  const auto bad = [&] {
    return std::unexpected(std::string(flag) + ": '" + std::string(text) +
                           "' is not ADDRESS:PORT (e.g. 127.0.0.1:2055 or [::1]:2055)");
  };
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();  // bare IPv6 needs brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const auto address = core::IpAddress::parse(host);
  const auto p = core::parse_whole<std::uint16_t>(port, min_port, 65535);
  if (!address || !p) return bad();
  return ReplayTarget{address->unmapped(), *p};
}

bool is_loopback(const core::IpAddress& address) noexcept {
  const core::IpAddress a = address.unmapped();
  if (a.is_v4()) return a.bytes()[0] == 127;
  if (!a.is_v6()) return false;
  for (std::size_t i = 0; i < 15; ++i)
    if (a.bytes()[i] != 0) return false;
  return a.bytes()[15] == 1;
}

std::expected<void, std::string> check_target(const ReplayTarget& target, bool allow_non_loopback) {
  if (allow_non_loopback || is_loopback(target.address)) return {};
  return std::unexpected("replay: --to " + target.to_string() +
                         " is not a loopback address (127.0.0.0/8 or ::1); nothing was sent. Replays go to "
                         "loopback unless --allow-non-loopback is given");
}

std::expected<ReplayCapture, std::string> load_replay_capture(const std::string& path, std::uint64_t max_datagrams) {
  auto source = source::PcapSource::open(path);
  if (!source) return std::unexpected(source.error());
  ReplayCapture capture;
  decode::Dispatcher dispatcher;  // counts the flows as overflowd would decode them
  std::vector<core::FlowRecord> flows;
  core::Datagram d;
  while ((max_datagrams == 0 || capture.datagrams.size() < max_datagrams) && (*source)->next(d)) {
    if (capture.bytes.size() + d.bytes.size() > kMaxReplayBytes)
      return std::unexpected(path + ": more than " + std::to_string(kMaxReplayBytes >> 20) +
                             " MiB of payloads; give --count to replay a part of it");
    flows.clear();
    const auto n = dispatcher.decode(d, flows);
    ReplayCapture::Datagram entry{capture.bytes.size(), d.bytes.size(), n ? static_cast<std::uint32_t>(*n) : 0};
    capture.bytes.insert(capture.bytes.end(), d.bytes.begin(), d.bytes.end());
    capture.datagrams.push_back(entry);
    capture.flows += entry.flows;
  }
  if (!(*source)->warning().empty() && capture.datagrams.empty()) return std::unexpected((*source)->warning());
  return capture;
}

std::expected<ReplaySummary, std::string> replay(const ReplayCapture& capture, const ReplayConfig& config,
                                                 const std::atomic<bool>* stop) {
  if (auto ok = check_target(config.to, config.allow_non_loopback); !ok) return std::unexpected(ok.error());
  ReplaySummary summary;
  if (capture.datagrams.empty()) return summary;

  sockaddr_storage to{};
  const socklen_t to_len = to_sockaddr(config.to.address, config.to.port, to);
  const int family = to.ss_family;
  // Sources: loopback addresses of the target's family (any address only when non-loopback
  // targets are allowed), each socket on its own port: one exporter each.
  sockaddr_storage from{};
  const core::IpAddress any = family == AF_INET ? core::IpAddress::v4(0) : *core::IpAddress::parse("::");
  const core::IpAddress local = is_loopback(config.to.address)
                                    ? (family == AF_INET ? core::IpAddress::v4(0x7f000001) : *core::IpAddress::parse("::1"))
                                    : any;
  const socklen_t from_len = to_sockaddr(local, 0, from);
  Sockets sockets;
  for (unsigned i = 0; i < std::max(1u, config.exporters); ++i) {
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
    sockets.fds.push_back(fd);
    const int sndbuf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), from_len) != 0)
      return std::unexpected("bind " + local.to_string() + ": " + std::strerror(errno));
  }
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // sleeps end on time: paced rates stay even

  std::array<mmsghdr, kBatch> messages{};
  std::array<iovec, kBatch> iov{};
  std::array<std::size_t, kBatch> index{};  // the capture datagram in each message
  for (std::size_t i = 0; i < kBatch; ++i) {
    messages[i].msg_hdr.msg_name = &to;
    messages[i].msg_hdr.msg_namelen = to_len;
    messages[i].msg_hdr.msg_iov = &iov[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  const std::uint64_t limit = config.count ? config.count
                                           : (config.loop ? UINT64_MAX : capture.datagrams.size());
  const std::uint64_t end_count = config.loop ? limit : std::min<std::uint64_t>(limit, capture.datagrams.size());
  const double ns_per_datagram = config.rate > 0 ? 1e9 / config.rate : 0;
  const std::int64_t start = core::system_clock().monotonic_ns();
  const std::int64_t deadline = config.duration_s > 0
                                    ? start + static_cast<std::int64_t>(config.duration_s * 1e9)
                                    : INT64_MAX;
  std::size_t at = 0;  // the next datagram of the capture
  std::uint64_t attempted = 0;
  std::size_t turn = 0;  // the socket of the next batch
  std::int64_t now = start;
  while (attempted < end_count && !(stop && stop->load(std::memory_order_relaxed))) {
    now = core::system_clock().monotonic_ns();
    if (now >= deadline) break;
    std::uint64_t want = std::min<std::uint64_t>(kBatch, end_count - attempted);
    if (ns_per_datagram > 0) {
      // Datagram k is due at start + k / rate; send what is due (at most a batch), else sleep.
      const auto due = static_cast<std::uint64_t>(static_cast<double>(now - start) / ns_per_datagram) + 1;
      if (due <= attempted) {
        const auto next = start + static_cast<std::int64_t>(std::ceil(static_cast<double>(attempted) * ns_per_datagram));
        sleep_until(std::min(next, deadline));
        continue;
      }
      want = std::min(want, due - attempted);
    }
    std::size_t n = 0;
    while (n < want) {
      const auto& d = capture.datagrams[at];
      index[n] = at;
      iov[n].iov_base = const_cast<std::byte*>(capture.bytes.data() + d.offset);
      iov[n].iov_len = d.size;
      ++n;
      if (++at == capture.datagrams.size()) at = 0;
    }
    const int fd = sockets.fds[turn];
    turn = (turn + 1) % sockets.fds.size();
    std::size_t done = 0;
    while (done < n) {
      const int r = ::sendmmsg(fd, messages.data() + done, static_cast<unsigned>(n - done), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED) {  // counted, skipped
          ++summary.send_errors;
          ++done;
          continue;
        }
        return std::unexpected(std::string("sendmmsg to ") + config.to.to_string() + ": " + std::strerror(errno));
      }
      for (std::size_t i = done; i < done + static_cast<std::size_t>(r); ++i) {
        summary.bytes += messages[i].msg_len;
        summary.flows += capture.datagrams[index[i]].flows;
      }
      summary.datagrams += static_cast<std::uint64_t>(r);
      done += static_cast<std::size_t>(r);
    }
    attempted += n;
  }
  summary.elapsed_s = static_cast<double>(core::system_clock().monotonic_ns() - start) / 1e9;
  return summary;
}

}  // namespace overflowd::io

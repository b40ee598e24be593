// Receives flow exports on a UDP socket, IPv4 and IPv6 (a dual-stack socket on "::" takes both),
// recording each exporter's address and the receive time. Stops when the flag it watches is set.
//
// Datagrams are taken in batches with recvmmsg(2), up to kBatch per system call, into buffers
// allocated once when the socket is opened: nothing is allocated per datagram. While datagrams are
// queued there is no poll(2) between calls; after a call that emptied the queue with a partial
// batch, the source naps before the next (kCoalesceNs, doubled up to kMaxNapNs while batches come
// less than a quarter full, halved when they come more than half full), so that a slower stream
// still comes in batches instead of one wake-up per datagram. The receive buffer
// asked for (SO_RCVBUFFORCE when the process may, else SO_RCVBUF, which the kernel caps at
// net.core.rmem_max) and what the kernel granted are reported by receive_buffer(). Datagrams the
// kernel drops because that buffer is full are counted (counters().kernel_drops): the socket's
// drop count is read (SO_MEMINFO) after every full batch, at least every kRefreshNs while datagrams
// come, and by refresh_counters(). Nothing but the
// payload and the sender's address is asked of the kernel per datagram (no control messages).
//
// Several workers: open_group() opens N sockets on one address and port with SO_REUSEPORT. The
// kernel picks the socket of each datagram by a hash of its addresses and ports, so all the
// datagrams of one exporter (address and port) reach the same socket, hence the same worker and
// its template cache.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "source/source.hpp"

namespace overflowd::source {

struct UdpSourceConfig {
  std::string bind = "::";  // "::" takes IPv4 too (IPV6_V6ONLY off)
  std::uint16_t port = 7777;
  int receive_buffer = 32 << 20;  // bytes of SO_RCVBUF asked for, per socket
  bool reuse_port = false;        // SO_REUSEPORT (open_group sets it)
};

struct ReceiveBuffer {
  int asked = 0;
  int granted = 0;  // what the kernel reports (SO_RCVBUF): Linux doubles the size it grants
  bool forced = false;  // SO_RCVBUFFORCE worked (CAP_NET_ADMIN): net.core.rmem_max did not apply
};

// One UDP socket bound to config.bind and `port` (SO_REUSEPORT if config.reuse_port, the receive
// buffer asked for); `port` 0 picks a free one (in .port). The caller owns .fd.
struct BoundSocket {
  int fd = -1;
  std::uint16_t port = 0;
  ReceiveBuffer buffer;
};
[[nodiscard]] std::expected<BoundSocket, std::string> open_udp_socket(const UdpSourceConfig& config, std::uint16_t port);

class UdpSource final : public Source {
public:
  static constexpr std::size_t kBatch = 64;             // datagrams per recvmmsg
  static constexpr std::size_t kMaxDatagram = 65536;    // bytes: any UDP payload fits
  static constexpr int kIdleMs = 100;                   // next_batch returns empty after this long
  static constexpr long kCoalesceNs = 200'000;          // nap after a batch that emptied the queue
  static constexpr long kMaxNapNs = 2'000'000;          // the longest nap (slow streams)
  static constexpr std::int64_t kRefreshNs = 50'000'000; // drop count read at least this often

  [[nodiscard]] static std::expected<std::unique_ptr<UdpSource>, std::string> open(const UdpSourceConfig& config,
                                                                                   const std::atomic<bool>* stop);
  // `count` sockets on one address and port with SO_REUSEPORT; port 0 picks one free port for all.
  [[nodiscard]] static std::expected<std::vector<std::unique_ptr<UdpSource>>, std::string> open_group(
      const UdpSourceConfig& config, std::size_t count, const std::atomic<bool>* stop);
  ~UdpSource() override;
  UdpSource(const UdpSource&) = delete;
  UdpSource& operator=(const UdpSource&) = delete;

  [[nodiscard]] bool next(core::Datagram& out) override;
  [[nodiscard]] bool next_batch(std::span<core::Datagram> out, std::size_t& n) override;
  [[nodiscard]] bool live() const noexcept override { return true; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  void refresh_counters() noexcept override;
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }  // the bound port (for port 0)
  [[nodiscard]] const ReceiveBuffer& receive_buffer() const noexcept { return receive_buffer_; }

private:
  UdpSource(int fd, const std::atomic<bool>* stop, std::uint16_t port, ReceiveBuffer rb);
  [[nodiscard]] bool stopped() const noexcept { return stop_ && stop_->load(std::memory_order_relaxed); }
  // One recvmmsg of up to `max` datagrams into the batch, waiting up to kIdleMs when none is
  // queued. Returns how many were taken (0: none came, or a signal), or -1 on an error (warning()).
  int receive(std::size_t max);
  // The i-th received message as a Datagram.
  void take(std::size_t i, std::int64_t now_ns, core::Datagram& out) noexcept;
  void note_drops(std::uint32_t socket_drops) noexcept;
  // After a batch of `got` of at most `max` datagrams at `now` (wall ns): reads the drop count when due.
  void note_batch(std::size_t got, std::size_t max, std::int64_t now) noexcept;

  int fd_;
  const std::atomic<bool>* stop_;
  std::uint16_t port_;
  ReceiveBuffer receive_buffer_;
  std::unique_ptr<std::byte[]> buffers_;  // kBatch slots of kSlot bytes, allocated once
  std::array<mmsghdr, kBatch> messages_{};
  std::array<iovec, kBatch> iov_{};
  std::array<sockaddr_storage, kBatch> from_{};
  std::array<core::Datagram, kBatch> pending_{};  // for next(): a batch handed out one at a time
  std::size_t pending_count_ = 0;
  std::size_t pending_at_ = 0;
  bool coalesce_ = false;  // the last recvmmsg emptied the queue with a partial batch
  long nap_ns_ = kCoalesceNs;  // the next nap
  std::uint32_t drops_seen_ = 0;  // the socket's drop counter when last looked at (wraps)
  std::int64_t refreshed_ns_ = 0;  // when note_batch last read it
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

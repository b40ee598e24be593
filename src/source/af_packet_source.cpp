#include "source/af_packet_source.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "decode/ring_packet.hpp"

namespace overflowd::source {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// What the filter lets into the ring (offsets from the IP header: SOCK_DGRAM): packets to this
// host (PACKET_HOST, BROADCAST, MULTICAST; not OTHERHOST or OUTGOING), IPv4 UDP to `port` that is
// not a later fragment, IPv6 UDP to `port` right after the fixed header, and IPv6 first fragments
// of UDP to `port` (to be counted). `v6` false: no IPv6 at all (--bind 0.0.0.0).
std::array<sock_filter, 26> port_filter(std::uint16_t port, bool v6) {
  constexpr std::uint8_t kDrop = 25;
  auto jump = [](std::uint16_t code, std::uint32_t k, std::uint8_t at, std::uint8_t yes, std::uint8_t no) {
    return sock_filter{code, static_cast<std::uint8_t>(yes - at - 1), static_cast<std::uint8_t>(no - at - 1), k};
  };
  auto op = [](std::uint16_t code, std::uint32_t k) { return sock_filter{code, 0, 0, k}; };
  return {{
      op(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),  // 0
      jump(BPF_JMP | BPF_JGE | BPF_K, PACKET_OTHERHOST, 1, kDrop, 2),                        // 1
      op(BPF_LD | BPF_B | BPF_ABS, 0),                                                       // 2
      op(BPF_ALU | BPF_AND | BPF_K, 0xf0),                                                   // 3
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 4, 6, 5),                                        // 4
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0x60, 5, v6 ? 13 : kDrop, kDrop),                      // 5
      op(BPF_LD | BPF_B | BPF_ABS, 9),                                                       // 6: IPv4
      jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 7, 8, kDrop),                             // 7
      op(BPF_LD | BPF_H | BPF_ABS, 6),                                                       // 8
      jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 9, kDrop, 10),                                // 9
      op(BPF_LDX | BPF_B | BPF_MSH, 0),                                                      // 10: X = IHL * 4
      op(BPF_LD | BPF_H | BPF_IND, 2),                                                       // 11
      jump(BPF_JMP | BPF_JEQ | BPF_K, port, 12, 24, kDrop),                                  // 12
      op(BPF_LD | BPF_B | BPF_ABS, 6),                                                       // 13: IPv6
      jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 14, 16, 15),                              // 14
      jump(BPF_JMP | BPF_JEQ | BPF_K, 44, 15, 18, kDrop),                                    // 15
      op(BPF_LD | BPF_H | BPF_ABS, 42),                                                      // 16
      jump(BPF_JMP | BPF_JEQ | BPF_K, port, 17, 24, kDrop),                                  // 17
      op(BPF_LD | BPF_B | BPF_ABS, 40),                                                      // 18: fragment header
      jump(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 19, 20, kDrop),                           // 19
      op(BPF_LD | BPF_H | BPF_ABS, 42),                                                      // 20
      jump(BPF_JMP | BPF_JSET | BPF_K, 0xfff8, 21, kDrop, 22),                               // 21
      op(BPF_LD | BPF_H | BPF_ABS, 50),                                                      // 22
      jump(BPF_JMP | BPF_JEQ | BPF_K, port, 23, 24, kDrop),                                  // 23
      op(BPF_RET | BPF_K, 0x40000),                                                          // 24: accept
      op(BPF_RET | BPF_K, 0),                                                                // 25: drop
  }};
}

// The interface that has `addr`, as an index and a name; 0 when no interface has it.
std::pair<unsigned, std::string> interface_of(const core::IpAddress& addr) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {0, ""};
  std::pair<unsigned, std::string> found{0, ""};
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    std::span<const std::byte> bytes;
    if (i->ifa_addr->sa_family == AF_INET && addr.is_v4())
      bytes = std::as_bytes(std::span(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 1));
    else if (i->ifa_addr->sa_family == AF_INET6 && addr.is_v6())
      bytes = std::as_bytes(std::span(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 1));
    else
      continue;
    if (core::IpAddress::from_bytes(bytes) == addr) {
      found = {::if_nametoindex(i->ifa_name), i->ifa_name};
      break;
    }
  }
  ::freeifaddrs(list);
  return found;
}

bool unspecified(const core::IpAddress& a) {
  for (auto b : a.bytes())
    if (b != 0) return false;
  return true;
}

}  // namespace

// The UDP socket that holds the port: bound like the recvmmsg engine's, every datagram dropped.
struct AfPacketSource::Holder {
  int fd = -1;
  std::uint16_t port = 0;
  ~Holder() {
    if (fd >= 0) ::close(fd);
  }
};

std::expected<std::vector<std::unique_ptr<AfPacketSource>>, std::string> AfPacketSource::open_group(
    const UdpSourceConfig& config, const std::string& interface, std::size_t count, const std::atomic<bool>* stop) {
  const auto addr = core::IpAddress::parse(config.bind);
  if (!addr) return std::unexpected("--bind: '" + config.bind + "' is not an IP address");
  const bool any = unspecified(*addr);

  // The interface first: a wrong name is the likelier mistake than a taken port.
  unsigned ifindex = 0;
  std::string ifname = interface;
  if (!interface.empty()) {
    ifindex = ::if_nametoindex(interface.c_str());
    if (ifindex == 0) return std::unexpected("--udp-interface: no interface named '" + interface + "'");
  } else if (!any) {
    auto [index, name] = interface_of(*addr);
    if (index == 0)
      return std::unexpected("--udp-engine af_packet: no interface has the address " + config.bind +
                             " (name one with --udp-interface)");
    ifindex = index;
    ifname = name;
  }

  // The port holder: a UDP socket as the recvmmsg engine would open, whose filter drops everything.
  auto holder = std::make_shared<Holder>();
  {
    auto b = open_udp_socket(UdpSourceConfig{config.bind, config.port, 4096, false}, config.port);
    if (!b) return std::unexpected(b.error());
    holder->fd = b->fd;
    holder->port = b->port;
    sock_filter drop_all{BPF_RET | BPF_K, 0, 0, 0};
    const sock_fprog prog{1, &drop_all};
    if (::setsockopt(holder->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
      return std::unexpected(errno_text("SO_ATTACH_FILTER on the UDP port"));
  }
  const std::uint16_t port = holder->port;
  const auto filter = port_filter(port, !(any && addr->is_v4()));
  const sock_fprog program{static_cast<unsigned short>(filter.size()), const_cast<sock_filter*>(filter.data())};

  // Twice the receive buffer asked for, as the kernel grants a socket (SO_RCVBUF is doubled for its
  // bookkeeping, and a datagram's skb takes about that much more than its payload): so the ring
  // holds about as many datagrams as the recvmmsg engine's socket would.
  std::uint32_t blocks = static_cast<std::uint32_t>(2 * static_cast<std::uint64_t>(std::max(config.receive_buffer, 0)) / kBlockSize);
  blocks = std::max(blocks, kMinBlocks);

  std::vector<std::unique_ptr<AfPacketSource>> group;
  int fanout_id = -1;
  bool ignore_outgoing = true;  // PACKET_FANOUT_FLAG_IGNORE_OUTGOING, until the kernel refuses it
  for (std::size_t i = 0; i < count; ++i) {
    // Protocol 0: nothing is queued before bind(), which comes after the filter and the ring.
    const int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      const bool perm = errno == EPERM || errno == EACCES;
      return std::unexpected(errno_text("--udp-engine af_packet: socket(AF_PACKET)") +
                             (perm ? " (needs CAP_NET_RAW)" : ""));
    }
    auto fail = [&](const char* what) -> std::unexpected<std::string> {
      std::string why = errno_text(what);
      ::close(fd);
      return std::unexpected("--udp-engine af_packet: " + why);
    };
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) return fail("SO_ATTACH_FILTER");
    const int version = TPACKET_V3;
    if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) return fail("PACKET_VERSION TPACKET_V3");
    const int on = 1;
    (void)::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);  // Linux 4.20; the filter drops them too
    tpacket_req3 req{};
    req.tp_block_size = kBlockSize;
    req.tp_block_nr = blocks;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = blocks * (kBlockSize / req.tp_frame_size);
    req.tp_retire_blk_tov = kBlockTimeoutMs;
    if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) return fail("PACKET_RX_RING");
    const std::size_t bytes = std::size_t{blocks} * kBlockSize;
    void* ring = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (ring == MAP_FAILED) ring = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) return fail("mmap of the ring");
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = static_cast<int>(ifindex);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0) {
      ::munmap(ring, bytes);
      return fail("bind to the interface");
    }
    // One fanout for the group, by flow hash, IPv4 defragmented first. The first socket asks the
    // kernel for a free group id; the others join it. The fanout's own hook must skip outgoing
    // packets (PACKET_FANOUT_FLAG_IGNORE_OUTGOING, Linux 6.10; not in older headers): else the
    // defragmenter, which runs before the filter, would reassemble the outgoing copies of
    // fragments sent on this host and swallow the incoming ones as duplicates. An older kernel
    // refuses the flag: then the fanout goes without it.
    constexpr int kFanoutIgnoreOutgoing = 0x4000;
    int flags = PACKET_FANOUT_FLAG_DEFRAG | (ignore_outgoing ? kFanoutIgnoreOutgoing : 0);
    int arg = fanout_id < 0 ? (PACKET_FANOUT_HASH | flags | PACKET_FANOUT_FLAG_UNIQUEID) << 16
                            : fanout_id | ((PACKET_FANOUT_HASH | flags) << 16);
    int joined = ::setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg);
    if (joined != 0 && errno == EINVAL && fanout_id < 0 && ignore_outgoing) {
      ignore_outgoing = false;
      flags = PACKET_FANOUT_FLAG_DEFRAG;
      arg = (PACKET_FANOUT_HASH | flags | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
      joined = ::setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg);
    }
    if (joined != 0) {
      ::munmap(ring, bytes);
      return fail("PACKET_FANOUT");
    }
    if (fanout_id < 0) {
      int got = 0;
      socklen_t len = sizeof got;
      if (::getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) {
        ::munmap(ring, bytes);
        return fail("PACKET_FANOUT (the group id)");
      }
      fanout_id = got & 0xffff;
    }
    auto source = std::unique_ptr<AfPacketSource>(
        new AfPacketSource(fd, ring, blocks, holder, port, ifname, stop));
    source->bind_ = *addr;
    source->any_address_ = any;
    source->v4_only_ = any && addr->is_v4();
    source->ignores_outgoing_ = ignore_outgoing;
    group.push_back(std::move(source));
  }
  return group;
}

AfPacketSource::AfPacketSource(int fd, void* ring, std::uint32_t blocks, std::shared_ptr<Holder> holder,
                               std::uint16_t port, std::string interface, const std::atomic<bool>* stop)
    : fd_(fd), ring_(static_cast<std::byte*>(ring)), block_count_(blocks), holder_(std::move(holder)), port_(port),
      interface_(std::move(interface)), stop_(stop) {
  counters_.counts_kernel_drops = true;
}

AfPacketSource::~AfPacketSource() {
  ::munmap(ring_, std::size_t{block_count_} * kBlockSize);
  ::close(fd_);
}

namespace {
tpacket_block_desc* block_at(std::byte* ring, std::uint32_t index) {
  return reinterpret_cast<tpacket_block_desc*>(ring + std::size_t{index} * AfPacketSource::kBlockSize);
}
}  // namespace

bool AfPacketSource::block_ready(std::uint32_t index) const noexcept {
  // The kernel hands a block over by setting TP_STATUS_USER last (a store with release semantics
  // on its side): read the status with acquire before the block's contents.
  const auto* desc = block_at(ring_, index);
  return (__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

void AfPacketSource::release_taken() noexcept {
  for (; to_release_ > 0; --to_release_) {
    auto* desc = block_at(ring_, release_from_);
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    release_from_ = (release_from_ + 1) % block_count_;
  }
}

void AfPacketSource::drain(std::span<core::Datagram> out, std::size_t& n) noexcept {
  while (n < out.size()) {
    if (left_in_block_ == 0) {
      if (!block_ready(current_)) return;
      const auto* desc = block_at(ring_, current_);
      left_in_block_ = desc->hdr.bh1.num_pkts;
      packet_at_ = desc->hdr.bh1.offset_to_first_pkt;
      if (left_in_block_ == 0) {  // an empty block (retired by its timer): back at the next call
        ++to_release_;
        current_ = (current_ + 1) % block_count_;
        continue;
      }
    }
    std::byte* block = ring_ + std::size_t{current_} * kBlockSize;
    while (left_in_block_ > 0 && n < out.size()) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(block + packet_at_);
      ++counters_.packets;
      // The kernel wrote the frames from another core (the sender's softirq): ask for the next
      // two frames' headers (frame header, IP and UDP headers: two lines) now, guessing that they
      // are as long as this one, so that their misses overlap this frame's work. A prefetch past
      // the block is harmless.
      for (std::size_t ahead = 1; ahead <= 2; ++ahead) {
        const auto* f = reinterpret_cast<const char*>(h) + ahead * h->tp_next_offset;
        __builtin_prefetch(f);
        __builtin_prefetch(f + 64);
      }
      const core::Bytes packet(block + packet_at_ + h->tp_mac, h->tp_snaplen);
      const bool checked = (h->tp_status & (TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY)) != 0;
      const auto d = h->tp_snaplen < h->tp_len ? core::Result<decode::RingDatagram>(core::fail(core::Errc::truncated_capture, 0))
                                                : decode::parse_ring_packet(packet, checked);
      if (!d) {
        counters_.reject(d.error().code);
      } else if (d->dport != port_ || (!any_address_ && d->dst != bind_) || (v4_only_ && !d->dst.is_v4())) {
        counters_.reject(core::Errc::other_destination);
      } else {
        ++counters_.datagrams;
        core::Datagram& o = out[n++];
        o.exporter = d->src.unmapped();
        o.exporter_port = d->sport;
        o.received_ns = static_cast<std::int64_t>(h->tp_sec) * 1'000'000'000 + h->tp_nsec;
        o.bytes = d->payload;
        o.format = core::Protocol::packet;
      }
      --left_in_block_;
      packet_at_ += h->tp_next_offset;
    }
    if (left_in_block_ == 0) {
      ++to_release_;
      current_ = (current_ + 1) % block_count_;
    }
  }
}

bool AfPacketSource::next_batch(std::span<core::Datagram> out, std::size_t& n) {
  n = 0;
  release_taken();  // the datagrams of the last call are no longer needed
  if (out.empty()) return true;
  if (stopped()) return false;
  drain(out, n);
  if (n == 0 && to_release_ == 0 && left_in_block_ == 0) {
    pollfd p{fd_, POLLIN | POLLERR, 0};
    const int r = ::poll(&p, 1, kIdleMs);
    if (r < 0 && errno != EINTR) {
      warning_ = errno_text("poll on the AF_PACKET ring");
      return false;
    }
    if (r > 0) drain(out, n);
  }
  // A block went by: the ring's drop count (the kernel resets it as it is read). The kernel drops
  // only when no block is free, and then blocks keep coming, so this is at least once per block.
  if (to_release_ > 0) refresh_counters();
  return true;
}

bool AfPacketSource::next(core::Datagram& out) {
  std::size_t n = 0;
  while (n == 0) {
    if (!next_batch(std::span(&out, 1), n)) return false;
  }
  return true;
}

void AfPacketSource::refresh_counters() noexcept {
  tpacket_stats_v3 stats{};
  socklen_t len = sizeof stats;
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &len) == 0) counters_.kernel_drops += stats.tp_drops;
}

}  // namespace overflowd::source

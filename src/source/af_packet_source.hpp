// The af_packet engine of live UDP (--udp-engine af_packet): flow exports read from an AF_PACKET
// TPACKET_V3 ring instead of recvmmsg(2).
//
// Each worker has one packet socket (SOCK_DGRAM: packets start at the IP header) with a ring of
// blocks mmap'd between the kernel and the worker: the kernel copies each packet into the current
// block in its receive path and hands over whole blocks (full, or retired after kBlockTimeoutMs),
// so the worker makes no system call per datagram or per batch, only a poll(2) when no block is
// ready. The datagrams it hands on point into the block, which goes back to the kernel at the next
// call. A classic BPF filter (SO_ATTACH_FILTER) lets into the ring only packets to this host
// (not outgoing, not another host's) that are UDP to the listen port, IPv4 or IPv6; IPv6 first
// fragments to the port are let in too, to be counted. The sockets of a group join one fanout
// (PACKET_FANOUT_HASH: the kernel's flow hash of addresses and ports, so one exporter's datagrams
// reach one worker and its template cache) with PACKET_FANOUT_FLAG_DEFRAG, so IPv4 fragments are
// reassembled before the filter and arrive whole, and PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux
// 6.10; without it, fragments this host sends itself are not reassembled, and every outgoing
// packet on the interface passes the filter). IPv6 fragments are refused
// (source.skipped.ip_fragment). The IP and UDP headers are parsed by decode/ring_packet (pure,
// fuzzed), which also checks the checksums the UDP stack would have checked.
//
// A UDP socket holds the listen port (so the kernel answers no ICMP port unreachable and no other
// process takes the port); its filter drops every datagram (the kernel counts them in the UDP
// InErrors statistic). Drops: the ring's tp_drops (PACKET_STATISTICS, which resets on reading) are
// summed into counters().kernel_drops.
//
// Interface: --udp-interface, else the one that has the --bind address, else (an unspecified
// address) every interface. With an unspecified address, datagrams to the port are taken whatever
// their destination address; with a specific one, datagrams to another address are refused
// (source.skipped.other_destination).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "source/source.hpp"
#include "source/udp_source.hpp"

namespace overflowd::source {

class AfPacketSource final : public Source {
public:
  static constexpr std::uint32_t kBlockSize = 1u << 18;  // bytes per ring block (a 64 KiB datagram fits)
  static constexpr std::uint32_t kMinBlocks = 4;
  static constexpr unsigned kBlockTimeoutMs = 4;   // a block that is not full goes to the worker after this
  static constexpr int kIdleMs = 100;              // next_batch returns empty after this long

  // `count` ring sockets in one fanout; `interface` empty: see above. The ring per worker is twice
  // config.receive_buffer (what the kernel would grant a socket), in blocks of kBlockSize, at least
  // kMinBlocks; the kernel allocates it at start.
  [[nodiscard]] static std::expected<std::vector<std::unique_ptr<AfPacketSource>>, std::string> open_group(
      const UdpSourceConfig& config, const std::string& interface, std::size_t count, const std::atomic<bool>* stop);
  ~AfPacketSource() override;
  AfPacketSource(const AfPacketSource&) = delete;
  AfPacketSource& operator=(const AfPacketSource&) = delete;

  [[nodiscard]] bool next(core::Datagram& out) override;
  [[nodiscard]] bool next_batch(std::span<core::Datagram> out, std::size_t& n) override;
  [[nodiscard]] bool live() const noexcept override { return true; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  void refresh_counters() noexcept override;
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& interface_name() const noexcept { return interface_; }  // "" : all
  [[nodiscard]] std::size_t ring_bytes() const noexcept { return std::size_t{block_count_} * kBlockSize; }
  // False when the kernel refused PACKET_FANOUT_FLAG_IGNORE_OUTGOING (before Linux 6.10): then IPv4
  // fragments that this host sends to itself are not reassembled.
  [[nodiscard]] bool ignores_outgoing() const noexcept { return ignores_outgoing_; }

private:
  struct Holder;
  AfPacketSource(int fd, void* ring, std::uint32_t blocks, std::shared_ptr<Holder> holder, std::uint16_t port,
                 std::string interface, const std::atomic<bool>* stop);
  [[nodiscard]] bool stopped() const noexcept { return stop_ && stop_->load(std::memory_order_relaxed); }
  [[nodiscard]] bool block_ready(std::uint32_t index) const noexcept;
  void release_taken() noexcept;  // hands the blocks read up to the last call back to the kernel
  // Reads the packets of ready blocks into out[n..); stops when out is full or no block is ready.
  void drain(std::span<core::Datagram> out, std::size_t& n) noexcept;

  int fd_;
  std::byte* ring_;
  std::uint32_t block_count_;
  std::shared_ptr<Holder> holder_;  // the UDP socket on the port, shared by the group
  std::uint16_t port_;
  std::string interface_;
  const std::atomic<bool>* stop_;
  core::IpAddress bind_;   // the --bind address: datagrams to another address are refused unless unspecified
  bool any_address_ = true;
  bool v4_only_ = false;   // --bind 0.0.0.0
  bool ignores_outgoing_ = true;
  std::uint32_t current_ = 0;         // the block being read (or next to be read)
  std::uint32_t left_in_block_ = 0;   // its packets not yet read (0: not opened)
  std::size_t packet_at_ = 0;         // offset in the block of the next packet
  std::uint32_t release_from_ = 0;    // blocks [release_from_, current_) were read: released at the next call
  std::uint32_t to_release_ = 0;
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

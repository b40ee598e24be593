// One way of sending an admitted report to one address: UDP (udp_sender.hpp) or HTTP/HTTPS
// (http_sender.hpp). Only the DeliverySink calls transports, and only for (report, address) pairs
// its Guard admitted. send() never blocks: what cannot go now is queued (bounded) or dropped and
// counted.
#pragma once

#include <string_view>
#include <vector>

#include "core/counters.hpp"
#include "core/ip_address.hpp"
#include "report/signer.hpp"

namespace overflowd::sink {

class Transport {
public:
  virtual ~Transport() = default;
  virtual void send(const core::IpAddress& to, const report::SignedReport& report) = 0;
  // Datagrams (UDP): a payload over the cap is not sent, so the sink may make a smaller form first.
  [[nodiscard]] virtual bool datagram() const noexcept { return false; }
  // Datagrams only: `payload` as one datagram (a rotation statement); false when not sent.
  virtual bool send_bytes(const core::IpAddress& /*to*/, std::string_view /*payload*/) { return false; }
  // Waits at most the transport's own bound for pending sends, then drops and counts the rest.
  virtual void finish() = 0;
  // Reports waiting for the network in the transport's own queue (metrics); 0 for those without one.
  [[nodiscard]] virtual std::size_t queue_depth() const { return 0; }
  virtual void append_counters(std::vector<core::NamedCount>& out) const = 0;
};

}  // namespace overflowd::sink

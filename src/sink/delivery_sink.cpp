#include "sink/delivery_sink.hpp"

#include "core/clock.hpp"
#include "io/text_file.hpp"

#include <time.h>

namespace overflowd::sink {

std::expected<std::unique_ptr<DeliverySink>, std::string> DeliverySink::open(const DeliveryConfig& config) {
  std::vector<std::unique_ptr<Transport>> transports;
  if (config.udp) {
    auto udp = UdpSender::open(config.udp_sender);
    if (!udp) return std::unexpected(udp.error());
    transports.push_back(std::move(*udp));
  }
  if (config.http || config.https) {
    HttpSenderConfig h = config.http_sender;
    h.http = config.http;
    h.https = config.https;
    auto http = HttpSender::open(h);
    if (!http) return std::unexpected(http.error());
    transports.push_back(std::move(*http));
  }
  auto sink = std::make_unique<DeliverySink>(config, std::move(transports));
  if (!config.encryption.peer_keys_path.empty()) {
    const std::string& path = config.encryption.peer_keys_path;
    auto text = io::read_text_file(path, 4u << 20);
    if (!text) return std::unexpected("--peer-keys " + path + ": " + text.error());
    auto keys = report::PeerKeys::parse(report::as_bytes(*text));
    if (!keys) return std::unexpected("--peer-keys " + path + ": " + keys.error());
    sink->set_peer_keys(std::move(*keys));
  }
  return sink;
}

DeliverySink::DeliverySink(const DeliveryConfig& config, std::vector<std::unique_ptr<Transport>> transports)
    : to_(config.to), guard_(config.guard), transports_(std::move(transports)), encrypt_(config.encryption.mode) {
  if (encrypt_ != Encrypt::off) signer_.emplace(config.encryption.signing);
  if (config.any()) {
    seal_datagram_ = config.udp;
    seal_json_ = config.http || config.https;
  }
}

DeliverySink::Seal DeliverySink::prepare(const core::IpAddress& address, const report::SignedReport& report) {
  if (encrypt_ == Encrypt::off) return Seal::plain;
  const report::PeerKey* key = peer_keys_.find(address);
  if (!key) {
    if (encrypt_ == Encrypt::require) {
      ++encrypt_counts_.no_key;
      return Seal::skip;
    }
    ++encrypt_counts_.plain;
    return Seal::plain;
  }
  ++encrypt_counts_.pinned;
  // Sign first, then seal: the report names its recipient inside what is signed.
  report.message(message_);
  if (!report::add_recipient(message_, address.to_string())) {
    ++encrypt_counts_.no_key;  // not a report our builder made: never sent plain under require
    return encrypt_ == Encrypt::require ? Seal::skip : Seal::plain;
  }
  // One signature per (report, endpoint): the recipient differs per endpoint, so the pipeline's
  // signature cannot serve; the plain path sends the pipeline's report as it is.
  signer_->sign(message_, resigned_);
  ++encrypt_counts_.signatures;
  if (!seal_datagram_ || !report::seal_compact_datagram(resigned_.compact(), key->x25519, sealed_.datagram))
    sealed_.datagram.clear();
  if (seal_json_ || sealed_.datagram.empty()) report::seal(resigned_.compact(), key->x25519, sealed_.line);
  else sealed_.line.clear();
  sealed_.signature_at = 0;
  sealed_.sealed = true;
  ++encrypt_counts_.sealed;
  return Seal::sealed;
}

void DeliverySink::write(const core::FlowRecord& flow, const report::SignedReport& report) {
  write_at(flow, report, core::system_clock().monotonic_ns());
}

void DeliverySink::write_at(const core::FlowRecord& flow, const report::SignedReport& report, std::int64_t now_ns) {
  const core::IpAddress* targets[2] = {nullptr, nullptr};
  if (to_ != DeliverTo::dst) targets[0] = &flow.src;
  if (to_ != DeliverTo::src) targets[1] = &flow.dst;
  std::lock_guard lock(mutex_);
  for (const core::IpAddress* t : targets) {
    if (!t) continue;
    const core::IpAddress address = t->unmapped();
    // Without a key under --encrypt require nothing is sent, so no budget is spent either.
    if (encrypt_ == Encrypt::require && !peer_keys_.find(address)) {
      ++encrypt_counts_.no_key;
      continue;
    }
    const auto priority = report.suspicious ? guard::Priority::suspicious : guard::Priority::informational;
    if (guard_.admit(flow, address, now_ns, priority) != guard::Verdict::admitted) continue;
    const Seal how = prepare(address, report);
    if (how == Seal::skip) continue;
    for (auto& transport : transports_) transport->send(address, how == Seal::sealed ? sealed_ : report);
  }
}

void DeliverySink::flush() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  for (auto& transport : transports_) transport->finish();
}

void DeliverySink::append_counters(std::vector<core::NamedCount>& out) const {
  std::lock_guard lock(mutex_);
  guard_.counters().append_to(out);
  if (encrypt_ != Encrypt::off) {
    out.push_back({"encrypt.sealed", encrypt_counts_.sealed});
    out.push_back({"encrypt.plain", encrypt_counts_.plain});
    out.push_back({"encrypt.no_key", encrypt_counts_.no_key});
    out.push_back({"encrypt.key.pinned", encrypt_counts_.pinned});
    out.push_back({"encrypt.signatures", encrypt_counts_.signatures});
  }
  for (const auto& transport : transports_) transport->append_counters(out);
}

}  // namespace overflowd::sink

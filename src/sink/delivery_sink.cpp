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
  if (config.encryption.mode != Encrypt::off && config.encryption.discovery.lookups.mode != discovery::Mode::off) {
    discovery::DiscovererConfig dc = config.encryption.discovery;
    dc.lookups.allow = config.guard.allow;
    dc.lookups.deny = config.guard.deny;
    dc.lookups.opt_out = config.guard.opt_out;
    dc.https_verify = config.http_sender.verify;
    dc.ca_file = config.http_sender.ca_file;
    auto d = discovery::Discoverer::open(std::move(dc), core::system_clock());
    if (!d) return std::unexpected(d.error());
    sink->set_discoverer(std::move(*d));
  }
  return sink;
}

DeliverySink::DeliverySink(const DeliveryConfig& config, std::vector<std::unique_ptr<Transport>> transports)
    : to_(config.to), guard_(config.guard), live_(DeliveryLive{config.to, config.guard}), view_(live_),
      transports_(std::move(transports)), encrypt_(config.encryption.mode) {
  if (encrypt_ != Encrypt::off) {
    sealing_keys_ = config.encryption.signing;
    signer_.emplace(sealing_keys_);
  }
  if (!config.rotation.statement.empty() && config.rotation.statement.size() <= kMaxUdpPayload) {
    statement_ = config.rotation.statement;
    rotation_signer_.emplace(config.rotation.signing);
    statement_slots_.resize(kStatementSlots);
  }
  if (config.any()) {
    seal_datagram_ = config.udp;
    seal_json_ = config.http || config.https;
  }
}

std::optional<report::X25519Public> DeliverySink::key_for(const core::IpAddress& address, std::int64_t now_ns,
                                                          bool& pinned) {
  pinned = false;
  if (const report::PeerKey* key = peer_keys_.find(address)) {
    pinned = true;
    return key->x25519;
  }
  if (!discoverer_) return std::nullopt;
  return discoverer_->key_for(address, now_ns);
}

void DeliverySink::plan_locked(const core::FlowRecord& flow, bool suspicious, std::int64_t now_ns, DeliveryPlan& out) {
  if (view_.refresh()) {  // a reload was published: take it whole
    to_ = view_.get().to;
    guard_.reconfigure(view_.get().guard);
    ++updates_applied_;
  }
  out.count = 0;
  const core::IpAddress* targets[2] = {nullptr, nullptr};
  if (to_ != DeliverTo::dst) targets[0] = &flow.src;
  if (to_ != DeliverTo::src) targets[1] = &flow.dst;
  for (const core::IpAddress* t : targets) {
    if (!t) continue;
    const core::IpAddress address = t->unmapped();
    // The key (pinned, or discovered: a lookup is only queued, never waited for).
    std::optional<report::X25519Public> key;
    bool pinned = false;
    if (encrypt_ != Encrypt::off) key = key_for(address, now_ns, pinned);
    // Without a key under --encrypt require nothing is sent, so no budget is spent either.
    if (encrypt_ == Encrypt::require && !key) {
      ++encrypt_counts_.no_key;
      continue;
    }
    const auto priority = suspicious ? guard::Priority::suspicious : guard::Priority::informational;
    if (guard_.admit(flow, address, now_ns, priority) != guard::Verdict::admitted) continue;
    if (key) ++(pinned ? encrypt_counts_.pinned : encrypt_counts_.discovered);  // counted once admitted, as before
    else if (encrypt_ == Encrypt::auto_) ++encrypt_counts_.plain;
    DeliveryPlan::Target& target = out.targets[out.count++];
    target.address = address;
    target.key = key;
    target.how = DeliveryPlan::How::plain;
  }
}

void DeliverySink::plan(const core::FlowRecord& flow, bool suspicious, std::int64_t now_ns, DeliveryPlan& out) {
  std::lock_guard lock(mutex_);
  plan_locked(flow, suspicious, now_ns, out);
}

void DeliverySink::seal(std::string_view message, report::Signer& signer, DeliveryPlan& plan) const {
  std::string recipient_message;
  report::SignedReport resigned;
  for (std::size_t i = 0; i < plan.count; ++i) {
    DeliveryPlan::Target& target = plan.targets[i];
    if (!target.key) continue;
    // Sign first, then seal: the report names its recipient inside what is signed. One signature
    // per (report, endpoint): the recipient differs per endpoint, so the pipeline's signature
    // cannot serve; the plain path sends the pipeline's report as it is.
    recipient_message.assign(message);
    if (!report::add_recipient(recipient_message, target.address.to_string())) {
      // Not a report our builder made: never sent plain under require.
      target.how = encrypt_ == Encrypt::require ? DeliveryPlan::How::skip : DeliveryPlan::How::plain;
      continue;
    }
    signer.sign(recipient_message, resigned);
    report::SignedReport& sealed = target.sealed;
    if (!seal_datagram_ || !report::seal_compact_datagram(resigned.compact(), *target.key, sealed.datagram))
      sealed.datagram.clear();
    if (seal_json_ || sealed.datagram.empty()) report::seal(resigned.compact(), *target.key, sealed.line);
    else sealed.line.clear();
    sealed.signature_at = 0;
    sealed.sealed = true;
    target.how = DeliveryPlan::How::sealed;
  }
}

void DeliverySink::send_locked(const report::SignedReport& report, const DeliveryPlan& plan, std::int64_t now_ns) {
  for (std::size_t i = 0; i < plan.count; ++i) {
    const DeliveryPlan::Target& target = plan.targets[i];
    if (target.key) {
      if (target.how == DeliveryPlan::How::sealed) {
        ++encrypt_counts_.signatures;
        ++encrypt_counts_.sealed;
      } else {
        ++encrypt_counts_.no_key;
      }
    }
    if (target.how == DeliveryPlan::How::skip) continue;
    const report::SignedReport& form = target.how == DeliveryPlan::How::sealed ? target.sealed : report;
    // Suspicious or not is the pipeline's report's (the Guard already used it).
    for (auto& transport : transports_) {
      if (!transport->datagram() || statement_.empty()) {
        transport->send(target.address, form);
        continue;
      }
      bool stripped = false;
      const report::X25519Public* key = target.how == DeliveryPlan::How::sealed ? &*target.key : nullptr;
      const report::SignedReport& fit = fit_datagram(target.address, key, report, form, stripped);
      // The statement first, so that the receiver has it when the report comes.
      if (stripped && statement_due(target.address, now_ns))
        ++(transport->send_bytes(target.address, statement_) ? rotation_counts_.statements
                                                              : rotation_counts_.statement_failed);
      transport->send(target.address, fit);
    }
  }
}

void DeliverySink::write_planned(const report::SignedReport& report, const DeliveryPlan& plan) {
  std::lock_guard lock(mutex_);
  send_locked(report, plan, core::system_clock().monotonic_ns());
}

void DeliverySink::write(const core::FlowRecord& flow, const report::SignedReport& report) {
  write_at(flow, report, core::system_clock().monotonic_ns());
}

void DeliverySink::write_at(const core::FlowRecord& flow, const report::SignedReport& report, std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  plan_locked(flow, report.suspicious, now_ns, plan_);
  if (plan_.needs_seal()) {
    report.message(message_);
    seal(message_, *signer_, plan_);
  }
  send_locked(report, plan_, now_ns);
}

const report::SignedReport& DeliverySink::fit_datagram(const core::IpAddress& address, const report::X25519Public* key,
                                                       const report::SignedReport& report,
                                                       const report::SignedReport& sent, bool& stripped) {
  const std::size_t size = sent.sealed && !sent.datagram.empty() ? sent.datagram.size() : sent.compact().size();
  if (size <= kMaxUdpPayload) return sent;
  // The message as sent (with its recipient when sealed), without the rotation.
  report.message(stripped_message_);
  // A sealed report names its recipient inside what is signed (seal()).
  if (key && !report::add_recipient(stripped_message_, address.to_string())) return sent;
  if (!report::remove_rotation(stripped_message_)) return sent;  // too large for another reason
  rotation_signer_->sign(stripped_message_, stripped_);  // counted: one signature per report left out
  ++rotation_counts_.left_out;
  stripped = true;
  if (!key) return stripped_;
  if (!report::seal_compact_datagram(stripped_.compact(), *key, stripped_sealed_.datagram)) return sent;
  stripped_sealed_.line.clear();
  stripped_sealed_.signature_at = 0;
  stripped_sealed_.sealed = true;
  return stripped_sealed_;
}

bool DeliverySink::statement_due(const core::IpAddress& address, std::int64_t now_ns) {
  const std::string text = address.to_string();
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  StatementSlot& slot = statement_slots_[h % statement_slots_.size()];
  if (slot.used && slot.hash == h && now_ns - slot.sent_ns < kStatementInterval) return false;
  slot = StatementSlot{h, now_ns, true};
  return true;
}

std::size_t DeliverySink::queue_depth() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& t : transports_) n += t->queue_depth();
  return n;
}

std::uint64_t DeliverySink::updates_applied() const {
  std::lock_guard lock(mutex_);
  return updates_applied_;
}

void DeliverySink::flush() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  // The end of a run: lookups in flight end (at most their time-out) so their outcomes are counted.
  if (discoverer_) discoverer_->wait_idle(2 * 3000 + 1000);
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
    if (discoverer_) {
      out.push_back({"encrypt.key.discovered", encrypt_counts_.discovered});
      discoverer_->append_counters(out);
    }
    out.push_back({"encrypt.signatures", encrypt_counts_.signatures});
  }
  if (!statement_.empty()) {
    out.push_back({"rotation.udp_left_out", rotation_counts_.left_out});
    out.push_back({"rotation.udp_statements", rotation_counts_.statements});
    if (rotation_counts_.statement_failed) out.push_back({"rotation.udp_statement_failed", rotation_counts_.statement_failed});
  }
  for (const auto& transport : transports_) transport->append_counters(out);
}

}  // namespace overflowd::sink

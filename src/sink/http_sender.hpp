// Reports over HTTP and HTTPS: POST the full report line (Content-Type: application/json) to
// http(s)://ADDRESS:PORT/.well-known/overflowd, with IPv6 addresses in brackets.
//
// Threading: libcurl's multi interface runs on one worker thread of its own. send() only copies
// the report into a bounded queue (a mutex held for a push, then curl_multi_wakeup), so the
// pipeline never waits for the network; a full queue drops the job and counts it
// (http.dropped.queue_full). The worker keeps at most `max_in_flight` transfers going (the same cap
// bounds libcurl's connections), each with a connect timeout and a total timeout, no redirects
// followed, no proxy (environment variables are ignored), only http/https, and the response body
// read up to `response_cap` bytes and discarded (a longer one is cut off, the transfer still
// counts by its status). The worker waits in curl_multi_poll only when it has nothing to start:
// send() wakes it (curl_multi_wakeup), and a finished transfer frees its slot for the next queued
// report at once. finish() gives queued and pending transfers at most the total timeout to end,
// then counts what is left: never sent (http.dropped.shutdown) or sent without an answer
// (http.abandoned.shutdown). All signals are blocked on the worker thread.
//
// Outcomes: every send ends in exactly one of delivered (2xx: the receiver stored it),
// failed.status.<class>, failed.connect.{refused,unreachable,timeout}, failed.timeout (connected,
// no answer in time: the report may have arrived), failed.tls.{verify,handshake}, failed.other,
// dropped.* or abandoned.shutdown. Each failure is logged with libcurl's message (which TLS
// error, which status), at most log_per_minute lines a minute; the rest are counted
// (http.log_suppressed) and summarized in the next line and at the end.
//
// HTTPS: reports go to bare IP addresses, for which no certificate can prove a name, so peer and
// host verification are off by default (`verify`). That is acceptable because nothing rides on
// the TLS session's authenticity: a report's integrity and origin come from its Ed25519 signature,
// which the receiver checks, and a report is public information meant for the address it is sent
// to. With `verify` on, the certificate must chain to the system store (or `ca_file`) and name the
// address (an IP subjectAltName).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "sink/transport.hpp"

namespace overflowd::sink {

struct HttpSenderConfig {
  bool http = false;
  bool https = false;
  std::uint16_t http_port = 80;
  std::uint16_t https_port = 443;
  std::string path = "/.well-known/overflowd";
  long connect_timeout_ms = 2000;
  long timeout_ms = 5000;  // the whole transfer
  std::size_t max_in_flight = 16;
  // Transfers to one URL (scheme, address, port) at a time; the rest wait in the queue. More
  // connections than a receiver serves at once only wait in its backlog and time out there.
  std::size_t max_per_destination = 2;
  std::size_t queue = 1024;  // jobs waiting for a transfer slot
  std::size_t response_cap = 4096;
  std::uint32_t log_per_minute = 10;  // failure lines logged per minute at most; the rest counted
  bool verify = false;
  std::string ca_file;  // with verify: trust this PEM bundle instead of the system store
  std::optional<core::IpAddress> source_v4;
  std::optional<core::IpAddress> source_v6;
  // Called on the sender's thread when a POST ends (any outcome but a drop): scheme 0 http, 1 https,
  // and libcurl's total time in seconds (metrics: the delivery latency histogram). May be empty.
  std::function<void(int scheme, double seconds)> on_done;
};

enum class HttpOutcome : std::uint8_t {
  queued,
  delivered,          // a 2xx status: the receiver took the report
  status_3xx,         // any other status, by class (redirects are not followed)
  status_4xx,
  status_5xx,
  status_other,
  connect_refused,    // the address answered with a reset (nothing listens)
  connect_unreachable,  // no route, host unreachable, or another connect error
  connect_timeout,    // no connection within the connect timeout
  timeout,            // connected, but no answer within the total timeout: the report may have arrived
  tls_verify,         // the certificate was refused (untrusted, misnamed, expired) with verify on
  tls_handshake,      // any other TLS failure
  failed,             // any other libcurl error
  body_capped,        // a 2xx whose body was longer than the cap (cut off; also counted delivered)
  abandoned_shutdown, // in flight at the shutdown deadline with its request sent: may have arrived
  dropped_queue_full,
  dropped_shutdown,   // never sent: still queued, or not yet connected, at the shutdown deadline
  count_
};
inline constexpr std::size_t kHttpOutcomeCount = static_cast<std::size_t>(HttpOutcome::count_);
[[nodiscard]] const char* to_string(HttpOutcome o) noexcept;

class HttpSender final : public Transport {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<HttpSender>, std::string> open(const HttpSenderConfig& config);
  ~HttpSender() override;
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  // Queues one POST per enabled scheme.
  void send(const core::IpAddress& to, const report::SignedReport& report) override;
  void finish() override;
  void append_counters(std::vector<core::NamedCount>& out) const override;
  [[nodiscard]] std::size_t queue_depth() const override;
  // scheme 0: http, 1: https.
  [[nodiscard]] std::uint64_t count(int scheme, HttpOutcome o) const noexcept {
    return counts_[static_cast<std::size_t>(scheme)][static_cast<std::size_t>(o)].load(std::memory_order_relaxed);
  }

  struct Job;

private:
  explicit HttpSender(const HttpSenderConfig& config);
  void run();
  void bump(int scheme, HttpOutcome o) noexcept {
    counts_[static_cast<std::size_t>(scheme)][static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
  }

  HttpSenderConfig config_;
  void* multi_ = nullptr;    // CURLM*
  void* headers_ = nullptr;  // curl_slist*
  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  std::int64_t deadline_ns_ = 0;  // monotonic; set by finish()
  std::thread worker_;
  std::array<std::array<std::atomic<std::uint64_t>, kHttpOutcomeCount>, 2> counts_{};
  std::atomic<std::uint64_t> log_suppressed_{0};
};

}  // namespace overflowd::sink

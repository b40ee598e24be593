// Telling the operator: each new alert (key continuity) and each new spoofing suspect, as it is
// stored, goes to the log (stderr), and optionally to a webhook (an HTTP POST of one JSON object)
// and to syslog. The receiver's writer thread calls notify() with each event; notify() never
// blocks on the network: it takes the rate limit, logs one line, and hands the event to a bounded
// queue that one thread of its own drains to the webhook (libcurl, loaded at run time; a connect
// and a total time-out per POST). What the queue cannot take is dropped and counted.
//
// Rate limit: at most `per_minute` events are told in each one-minute window (log, webhook and
// syslog alike); the rest are counted, and when the next event is told (or at stop) one summary
// is told in their place: {"type":"suppressed","count":N,...} / "N events not told".
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "core/log_limit.hpp"

namespace overflowd::notify {

struct Event {
  std::string type;  // "alert" or "spoof_suspect" (and "suppressed", made here)
  std::string json;  // the webhook's body: one JSON object with a "type" member
  std::string line;  // the log and syslog line
};

// What the receiver calls with each new alert or suspect.
class Notifier {
public:
  virtual ~Notifier() = default;
  virtual void notify(Event event) = 0;
};

struct OperatorNotifierConfig {
  std::string webhook;  // http(s) URL; empty: no webhook
  bool syslog = false;
  std::uint32_t per_minute = 60;  // events told per minute at most
  std::size_t queue = 256;        // events waiting for the webhook at most
  long connect_timeout_ms = 2000;
  long timeout_ms = 5000;  // one POST, all of it
  bool verify = true;      // the webhook's certificate (https)
};

struct NotifierStats {
  std::uint64_t told = 0;        // events logged (and handed to the webhook and syslog)
  std::uint64_t suppressed = 0;  // events over the rate limit, told only as a count
  std::uint64_t webhook_sent = 0;    // POSTs answered with a 2xx
  std::uint64_t webhook_failed = 0;  // any other end (status, connect, time-out)
  std::uint64_t webhook_dropped = 0; // the queue was full
};

class OperatorNotifier final : public Notifier {
public:
  // Loads libcurl when a webhook is configured (a message when it cannot be).
  [[nodiscard]] static std::expected<std::unique_ptr<OperatorNotifier>, std::string> open(const OperatorNotifierConfig& config);
  ~OperatorNotifier() override;
  OperatorNotifier(const OperatorNotifier&) = delete;
  OperatorNotifier& operator=(const OperatorNotifier&) = delete;

  void notify(Event event) override;
  // Tells the summary of what was suppressed, then gives the webhook queue at most one POST's
  // time-out, and at most kStopDrainMs, to drain (a POST in progress then is ended); what is left
  // is dropped and counted. Idempotent.
  static constexpr std::int64_t kStopDrainMs = 2000;
  void stop();
  [[nodiscard]] NotifierStats stats() const;
  // A reload (SIGHUP): events told per minute from now on (the current window starts again).
  void set_per_minute(std::uint32_t per_minute);
  // Whether stop()'s deadline has passed (ends a POST in progress).
  [[nodiscard]] bool past_deadline() const noexcept {
    const std::int64_t d = stop_deadline_ns_.load(std::memory_order_relaxed);
    return d != 0 && core::system_clock().monotonic_ns() >= d;
  }

private:
  explicit OperatorNotifier(OperatorNotifierConfig config);
  void tell(Event event);  // with mutex_ held
  void run();
  [[nodiscard]] bool post(const std::string& body);

  OperatorNotifierConfig config_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // webhook bodies
  bool stopping_ = false;
  std::int64_t deadline_ns_ = 0;  // monotonic; set by stop()
  core::LogLimiter limit_;
  NotifierStats stats_;
  void* multi_ = nullptr;  // CURLM*: one POST at a time, driven by post()
  std::atomic<std::int64_t> stop_deadline_ns_{0};  // deadline_ns_, for past_deadline()
  std::thread worker_;
};

}  // namespace overflowd::notify

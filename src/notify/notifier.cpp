#include "notify/notifier.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <syslog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/clock.hpp"
#include "sink/curl_api.hpp"

namespace overflowd::notify {

namespace {

extern "C" size_t discard(char* data, size_t size, size_t count, void* user) {
  (void)data;
  (void)user;
  return size * count;
}

// A line fit for a log: the contact fields in it come from reports, so control characters (a
// newline would forge a log line) become \xNN, and the line is cut at kMaxLine bytes.
std::string log_safe(std::string_view in) {
  constexpr std::size_t kMaxLine = 2048;
  std::string out;
  out.reserve(std::min(in.size(), kMaxLine));
  for (const char c : in) {
    if (out.size() >= kMaxLine) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

}  // namespace

std::expected<std::unique_ptr<OperatorNotifier>, std::string> OperatorNotifier::open(const OperatorNotifierConfig& config) {
  if (!config.webhook.empty()) {
    if (!config.webhook.starts_with("http://") && !config.webhook.starts_with("https://"))
      return std::unexpected("--alert-webhook: an http:// or https:// URL, not " + config.webhook);
    if (const auto api = sink::curl_api(); !api) return std::unexpected("--alert-webhook: " + api.error());
  }
  std::unique_ptr<OperatorNotifier> n(new OperatorNotifier(config));
  if (!config.webhook.empty()) {
    n->multi_ = (*sink::curl_api())->multi_init();
    if (!n->multi_) return std::unexpected("--alert-webhook: curl_multi_init failed");
  }
  if (config.syslog) ::openlog("overflowd", LOG_PID, LOG_DAEMON);
  if (!config.webhook.empty() || config.syslog) {
    // The worker blocks every signal: they belong to the receiver's signal thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    n->worker_ = std::thread([p = n.get()] { p->run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  return n;
}

OperatorNotifier::OperatorNotifier(OperatorNotifierConfig config)
    : config_(std::move(config)), limit_(config_.per_minute) {}

void OperatorNotifier::set_per_minute(std::uint32_t per_minute) {
  std::lock_guard lock(mutex_);
  if (const auto n = limit_.take_suppressed()) {  // told now, as at stop: the new limiter starts clean
    const nlohmann::json j = {{"type", "suppressed"}, {"count", n}, {"window_s", 60}};
    tell(Event{"suppressed", j.dump(), fmt::format("{} more alerts and spoofing suspects were not told (rate limit)", n)});
  }
  config_.per_minute = per_minute;
  limit_ = core::LogLimiter(per_minute);
}

OperatorNotifier::~OperatorNotifier() {
  stop();
  if (multi_) (*sink::curl_api())->multi_cleanup(static_cast<CURLM*>(multi_));
  if (config_.syslog) ::closelog();
}

void OperatorNotifier::notify(Event event) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  const auto d = limit_.admit(core::system_clock().monotonic_ns());
  if (d.suppressed_before) {
    const nlohmann::json j = {{"type", "suppressed"}, {"count", d.suppressed_before}, {"window_s", 60}};
    tell(Event{"suppressed", j.dump(),
               fmt::format("{} more alerts and spoofing suspects were not told in the last minute (rate limit)",
                           d.suppressed_before)});
  }
  if (!d.log) {
    ++stats_.suppressed;
    return;
  }
  tell(std::move(event));
}

void OperatorNotifier::tell(Event event) {
  ++stats_.told;
  event.line = log_safe(event.line);
  fmt::print(stderr, "overflowd receive: {}\n", event.line);
  std::fflush(stderr);
  if (config_.webhook.empty() && !config_.syslog) return;
  if (queue_.size() >= config_.queue) {
    ++stats_.webhook_dropped;
    return;
  }
  queue_.push_back(std::move(event.json));
  if (config_.syslog) queue_.back() += '\n' + event.line;  // the worker splits them again
  cv_.notify_one();
}

void OperatorNotifier::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (const auto n = limit_.take_suppressed()) {
      const nlohmann::json j = {{"type", "suppressed"}, {"count", n}, {"window_s", 60}};
      tell(Event{"suppressed", j.dump(), fmt::format("{} more alerts and spoofing suspects were not told (rate limit)", n)});
    }
    stopping_ = true;
    // What is queued gets at most one POST's time-out, and never more than kStopDrainMs.
    deadline_ns_ = core::system_clock().monotonic_ns() + std::min<std::int64_t>(config_.timeout_ms, kStopDrainMs) * 1'000'000;
    stop_deadline_ns_ = deadline_ns_;
  }
  cv_.notify_all();
  if (multi_) (*sink::curl_api())->multi_wakeup(static_cast<CURLM*>(multi_));  // a POST in progress checks the deadline
  if (worker_.joinable()) worker_.join();
}

NotifierStats OperatorNotifier::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void OperatorNotifier::run() {
  for (;;) {
    std::string item;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty() || (stopping_ && core::system_clock().monotonic_ns() >= deadline_ns_)) {
        stats_.webhook_dropped += config_.webhook.empty() ? 0 : queue_.size();
        queue_.clear();
        return;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string body = std::move(item);
    if (config_.syslog) {
      const auto nl = body.find('\n');  // JSON dumps escape newlines: the first one is ours
      ::syslog(LOG_WARNING, "%s", body.c_str() + nl + 1);
      body.resize(nl);
    }
    if (config_.webhook.empty()) continue;
    const bool ok = post(body);
    std::lock_guard lock(mutex_);
    ++(ok ? stats_.webhook_sent : stats_.webhook_failed);
  }
}

bool OperatorNotifier::post(const std::string& body) {
  const sink::CurlApi* curl = *sink::curl_api();
  CURL* e = curl->easy_init();
  if (!e) return false;
  curl_slist* headers = curl->slist_append(nullptr, "Content-Type: application/json");
  headers = curl->slist_append(headers, "Expect:");
  curl->easy_setopt(e, CURLOPT_URL, config_.webhook.c_str());
  curl->easy_setopt(e, CURLOPT_POST, 1L);
  curl->easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl->easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl->easy_setopt(e, CURLOPT_USERAGENT, "overflowd/0.1");
  curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
  curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, config_.timeout_ms);
  curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, config_.verify ? 1L : 0L);
  curl->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, config_.verify ? 2L : 0L);
  // Driven here rather than by curl_easy_perform, so that stop() can end it (curl_multi_wakeup).
  CURLcode rc = CURLE_FAILED_INIT;
  auto* multi = static_cast<CURLM*>(multi_);
  if (curl->multi_add_handle(multi, e) == CURLM_OK) {
    for (;;) {
      int running = 0;
      curl->multi_perform(multi, &running);
      int left = 0;
      bool done = false;
      while (CURLMsg* msg = curl->multi_info_read(multi, &left))
        if (msg->msg == CURLMSG_DONE) {
          rc = msg->data.result;
          done = true;
        }
      if (done) break;
      if (past_deadline()) {
        rc = CURLE_ABORTED_BY_CALLBACK;
        break;
      }
      curl->multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    curl->multi_remove_handle(multi, e);
  }
  long status = 0;
  curl->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl->easy_cleanup(e);
  curl->slist_free_all(headers);
  const bool ok = rc == CURLE_OK && status >= 200 && status < 300;
  if (!ok)
    fmt::print(stderr, "overflowd receive: warning: the alert webhook failed: {}\n",
               rc != CURLE_OK ? curl->easy_strerror(rc) : "HTTP status " + std::to_string(status));
  return ok;
}

}  // namespace overflowd::notify

#include "sink/http_sender.hpp"

#include "sink/curl_api.hpp"
#include <fmt/core.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/log_limit.hpp"

namespace overflowd::sink {

const char* to_string(HttpOutcome o) noexcept {
  switch (o) {
    case HttpOutcome::queued: return "queued";
    case HttpOutcome::delivered: return "delivered";
    case HttpOutcome::status_3xx: return "failed.status.3xx";
    case HttpOutcome::status_4xx: return "failed.status.4xx";
    case HttpOutcome::status_5xx: return "failed.status.5xx";
    case HttpOutcome::status_other: return "failed.status.other";
    case HttpOutcome::connect_refused: return "failed.connect.refused";
    case HttpOutcome::connect_unreachable: return "failed.connect.unreachable";
    case HttpOutcome::connect_timeout: return "failed.connect.timeout";
    case HttpOutcome::timeout: return "failed.timeout";
    case HttpOutcome::tls_verify: return "failed.tls.verify";
    case HttpOutcome::tls_handshake: return "failed.tls.handshake";
    case HttpOutcome::failed: return "failed.other";
    case HttpOutcome::body_capped: return "response_capped";
    case HttpOutcome::abandoned_shutdown: return "abandoned.shutdown";
    case HttpOutcome::dropped_queue_full: return "dropped.queue_full";
    case HttpOutcome::dropped_shutdown: return "dropped.shutdown";
    case HttpOutcome::count_: break;
  }
  return "unknown";
}

struct HttpSender::Job {
  int scheme = 0;  // 0 http, 1 https
  bool v6 = false;
  std::string url;
  std::string body;
  std::size_t received = 0;  // response body bytes seen
  std::size_t cap = 0;
  CURL* easy = nullptr;
  std::array<char, CURL_ERROR_SIZE> error{};  // libcurl's message for a failed transfer
};

namespace {


const CurlApi* g_curl = nullptr;  // set by the first successful HttpSender::open

extern "C" size_t discard_body(char* data, size_t size, size_t count, void* user) {
  (void)data;
  auto* job = static_cast<HttpSender::Job*>(user);
  const size_t n = size * count;
  job->received += n;
  return job->received > job->cap ? 0 : n;  // 0 ends the transfer: the body was long enough
}

struct Transfer {
  CURLcode code = CURLE_OK;
  long status = 0;
  bool capped = false;
  long os_errno = 0;
  bool connected = false;  // the TCP connection was made
};

HttpOutcome by_status(long status) {
  if (status >= 200 && status < 300) return HttpOutcome::delivered;
  if (status >= 300 && status < 400) return HttpOutcome::status_3xx;
  if (status >= 400 && status < 500) return HttpOutcome::status_4xx;
  if (status >= 500 && status < 600) return HttpOutcome::status_5xx;
  return HttpOutcome::status_other;
}

HttpOutcome classify(const Transfer& t) {
  // The status decides whenever one was read: a 2xx is delivered even if libcurl then reports an
  // error (the body cut off at the cap, or a time-out while reading the rest of the body).
  if (t.code == CURLE_OK || (t.status > 0 && (t.code == CURLE_WRITE_ERROR || t.code == CURLE_OPERATION_TIMEDOUT ||
                                                t.code == CURLE_RECV_ERROR || t.code == CURLE_PARTIAL_FILE)))
    return by_status(t.status);
  switch (t.code) {
    case CURLE_COULDNT_CONNECT:
      return t.os_errno == ECONNREFUSED ? HttpOutcome::connect_refused : HttpOutcome::connect_unreachable;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_INTERFACE_FAILED:
      return HttpOutcome::connect_unreachable;
    case CURLE_OPERATION_TIMEDOUT:
      return t.connected ? HttpOutcome::timeout : HttpOutcome::connect_timeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return HttpOutcome::tls_verify;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return HttpOutcome::tls_handshake;
    default:
      return HttpOutcome::failed;
  }
}

}  // namespace

std::expected<std::unique_ptr<HttpSender>, std::string> HttpSender::open(const HttpSenderConfig& config) {
  const auto api = curl_api();
  if (!api) return std::unexpected(api.error());
  g_curl = *api;
  std::unique_ptr<HttpSender> s(new HttpSender(config));
  s->multi_ = g_curl->multi_init();
  if (!s->multi_) return std::unexpected("libcurl: curl_multi_init failed");
  auto* multi = static_cast<CURLM*>(s->multi_);
  const long cap = static_cast<long>(config.max_in_flight);
  g_curl->multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, cap);
  g_curl->multi_setopt(multi, CURLMOPT_MAXCONNECTS, cap);
  curl_slist* h = g_curl->slist_append(nullptr, "Content-Type: application/json");
  h = g_curl->slist_append(h, "Expect:");  // no 100-continue round trip for bodies over 1 KiB
  s->headers_ = h;
  // The worker blocks every signal: SIGINT/SIGTERM/SIGHUP belong to the pipeline's thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  s->worker_ = std::thread([p = s.get()] { p->run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return s;
}

HttpSender::HttpSender(const HttpSenderConfig& config) : config_(config) {}

HttpSender::~HttpSender() {
  finish();
  if (multi_) g_curl->multi_cleanup(static_cast<CURLM*>(multi_));
  g_curl->slist_free_all(static_cast<curl_slist*>(headers_));
}

void HttpSender::send(const core::IpAddress& to, const report::SignedReport& report) {
  const std::string host = to.is_v6() ? "[" + to.to_string() + "]" : to.to_string();
  for (int scheme = 0; scheme < 2; ++scheme) {
    if (!(scheme == 0 ? config_.http : config_.https)) continue;
    auto job = std::make_unique<Job>();
    job->scheme = scheme;
    job->v6 = to.is_v6();
    job->url = (scheme == 0 ? "http://" : "https://") + host + ":" +
               std::to_string(scheme == 0 ? config_.http_port : config_.https_port) + config_.path;
    job->body = report.line;
    job->cap = config_.response_cap;
    bool queued = false;
    {
      std::lock_guard lock(mutex_);
      if (!stopping_ && queue_.size() < config_.queue) {
        queue_.push_back(std::move(job));
        queued = true;
      }
    }
    bump(scheme, queued ? HttpOutcome::queued : HttpOutcome::dropped_queue_full);
    if (queued) g_curl->multi_wakeup(static_cast<CURLM*>(multi_));
  }
}

void HttpSender::finish() {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ns_ = core::system_clock().monotonic_ns() + std::int64_t{config_.timeout_ms} * 1'000'000;
    }
  }
  if (multi_) g_curl->multi_wakeup(static_cast<CURLM*>(multi_));
  if (worker_.joinable()) worker_.join();
}

void HttpSender::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  std::vector<std::unique_ptr<Job>> in_flight;
  std::unordered_map<std::string, std::size_t> per_url;  // transfers in flight per URL (scheme, address, port)
  core::LogLimiter log_limit(config_.log_per_minute);
  auto log_failure = [&](const Job& job, HttpOutcome outcome, long status) {
    const auto d = log_limit.admit(core::system_clock().monotonic_ns());
    if (d.suppressed_before)
      fmt::print(stderr, "overflowd: warning: {} more HTTP(S) delivery failures were not logged in the last minute\n",
                 d.suppressed_before);
    if (!d.log) {
      log_suppressed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::string why = job.error.data();
    if (why.empty() && status > 0) why = "HTTP status " + std::to_string(status);
    fmt::print(stderr, "overflowd: warning: HTTP(S) delivery to {} failed: {}{}{}\n", job.url, to_string(outcome),
               why.empty() ? "" : ": ", why);
  };
  auto release = [&](const Job& job) {
    if (const auto it = per_url.find(job.url); it != per_url.end() && --it->second == 0) per_url.erase(it);
  };
  auto start = [&](std::unique_ptr<Job> job) {
    CURL* e = g_curl->easy_init();
    if (!e) {
      bump(job->scheme, HttpOutcome::failed);
      release(*job);
      return;
    }
    job->easy = e;
    g_curl->easy_setopt(e, CURLOPT_URL, job->url.c_str());
    g_curl->easy_setopt(e, CURLOPT_POST, 1L);
    g_curl->easy_setopt(e, CURLOPT_POSTFIELDS, job->body.data());
    g_curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(job->body.size()));
    g_curl->easy_setopt(e, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(headers_));
    g_curl->easy_setopt(e, CURLOPT_USERAGENT, "overflowd/0.1");
    g_curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    g_curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    g_curl->easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment
    g_curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    g_curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, config_.connect_timeout_ms);
    g_curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, config_.timeout_ms);
    g_curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    g_curl->easy_setopt(e, CURLOPT_WRITEDATA, job.get());
    g_curl->easy_setopt(e, CURLOPT_PRIVATE, job.get());
    g_curl->easy_setopt(e, CURLOPT_ERRORBUFFER, job->error.data());
    const auto& source = job->v6 ? config_.source_v6 : config_.source_v4;
    std::string interface;
    if (source) {
      interface = "host!" + source->to_string();
      g_curl->easy_setopt(e, CURLOPT_INTERFACE, interface.c_str());  // libcurl copies option strings
    }
    if (job->scheme == 1) {
      g_curl->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, config_.verify ? 1L : 0L);
      g_curl->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, config_.verify ? 2L : 0L);
      if (config_.verify && !config_.ca_file.empty()) g_curl->easy_setopt(e, CURLOPT_CAINFO, config_.ca_file.c_str());
    }
    if (g_curl->multi_add_handle(multi, e) != CURLM_OK) {
      bump(job->scheme, HttpOutcome::failed);
      release(*job);
      g_curl->easy_cleanup(e);
      return;
    }
    in_flight.push_back(std::move(job));
  };

  for (;;) {
    std::vector<std::unique_ptr<Job>> starting;
    bool done = false;
    std::int64_t deadline_ns = 0;
    {
      std::lock_guard lock(mutex_);
      // In queue order, skipping reports to a destination that already has its share of
      // transfers (they wait in the queue, not in libcurl, so no time-out runs while they wait).
      for (auto it = queue_.begin(); it != queue_.end() && in_flight.size() + starting.size() < config_.max_in_flight;) {
        std::size_t& n = per_url[(*it)->url];
        if (n >= config_.max_per_destination) {
          ++it;
          continue;
        }
        ++n;
        starting.push_back(std::move(*it));
        it = queue_.erase(it);
      }
      if (stopping_) {
        deadline_ns = deadline_ns_;
        if (queue_.empty() && starting.empty() && in_flight.empty()) done = true;
        if (core::system_clock().monotonic_ns() >= deadline_ns_) done = true;
      }
    }
    if (done) {
      for (auto& job : starting) bump(job->scheme, HttpOutcome::dropped_shutdown);
      break;
    }
    for (auto& job : starting) start(std::move(job));

    int running = 0;
    g_curl->multi_perform(multi, &running);
    int left = 0;
    bool freed = false;  // a slot came free: take the next queued report before waiting
    while (CURLMsg* msg = g_curl->multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      Job* job = nullptr;
      g_curl->easy_getinfo(e, CURLINFO_PRIVATE, &job);
      Transfer t;
      t.code = msg->data.result;
      g_curl->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t.status);
      g_curl->easy_getinfo(e, CURLINFO_OS_ERRNO, &t.os_errno);
      curl_off_t connect_us = 0;
      g_curl->easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
      long request_bytes = 0;  // headers sent: connected, even if the connect took under 1 us
      g_curl->easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_bytes);
      t.connected = connect_us > 0 || request_bytes > 0;
      t.capped = job && job->received > job->cap;
      const HttpOutcome outcome = classify(t);
      if (job && config_.on_done) {
        curl_off_t us = 0;
        g_curl->easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
        config_.on_done(job->scheme, static_cast<double>(us) / 1e6);
      }
      if (job) {
        bump(job->scheme, outcome);
        if (t.capped && outcome == HttpOutcome::delivered) bump(job->scheme, HttpOutcome::body_capped);
        if (outcome != HttpOutcome::delivered) log_failure(*job, outcome, t.status);
      }
      g_curl->multi_remove_handle(multi, e);
      g_curl->easy_cleanup(e);
      if (job) release(*job);
      std::erase_if(in_flight, [&](const std::unique_ptr<Job>& j) { return j.get() == job; });
      freed = true;
    }
    if (freed) {  // cheap over-approximation: the next report may be for a busy destination
      std::lock_guard lock(mutex_);
      if (!queue_.empty() && in_flight.size() < config_.max_in_flight) continue;
    }
    // Nothing to start: wait for socket activity, libcurl's next timer (curl_multi_poll waits no
    // longer than that), a send() (curl_multi_wakeup), or the shutdown deadline.
    int wait_ms = 1000;
    if (deadline_ns) {
      const std::int64_t rest = (deadline_ns - core::system_clock().monotonic_ns()) / 1'000'000 + 1;
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(rest, 0, wait_ms));
    }
    if (in_flight.empty() && deadline_ns && starting.empty()) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) continue;  // stopping with nothing left: end at the top of the loop
    }
    g_curl->multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }

  // Past the deadline (or nothing left): what remains is counted. A transfer that sent some of
  // its request may have reached the receiver (abandoned); one that did not was never sent.
  for (auto& job : in_flight) {
    curl_off_t uploaded = 0;
    g_curl->easy_getinfo(job->easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    bump(job->scheme, uploaded > 0 ? HttpOutcome::abandoned_shutdown : HttpOutcome::dropped_shutdown);
    g_curl->multi_remove_handle(multi, job->easy);
    g_curl->easy_cleanup(job->easy);
  }
  in_flight.clear();
  if (const auto n = log_limit.take_suppressed())
    fmt::print(stderr, "overflowd: warning: {} more HTTP(S) delivery failures were not logged\n", n);
  std::lock_guard lock(mutex_);
  for (auto& job : queue_) bump(job->scheme, HttpOutcome::dropped_shutdown);
  queue_.clear();
}

std::size_t HttpSender::queue_depth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void HttpSender::append_counters(std::vector<core::NamedCount>& out) const {
  for (int scheme = 0; scheme < 2; ++scheme) {
    if (!(scheme == 0 ? config_.http : config_.https)) continue;
    const std::string prefix = scheme == 0 ? "http." : "https.";
    for (std::size_t o = 0; o < kHttpOutcomeCount; ++o) {
      const auto outcome = static_cast<HttpOutcome>(o);
      const std::uint64_t n = count(scheme, outcome);
      if (n || outcome == HttpOutcome::delivered || outcome == HttpOutcome::queued)
        out.push_back({prefix + to_string(outcome), n});
    }
    if (scheme == (config_.http ? 0 : 1))  // once, under the first enabled scheme
      if (const auto n = log_suppressed_.load(std::memory_order_relaxed)) out.push_back({prefix + "log_suppressed", n});
  }
}

}  // namespace overflowd::sink

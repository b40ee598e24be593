#include "sink/http_sender.hpp"

#include "sink/curl_api.hpp"
#include "core/clock.hpp"
#include <signal.h>
#include <time.h>

#include <mutex>
#include <vector>

namespace overflowd::sink {

const char* to_string(HttpOutcome o) noexcept {
  switch (o) {
    case HttpOutcome::queued:
      return "queued";
    case HttpOutcome::delivered:
      return "delivered";
    case HttpOutcome::status_error:
      return "failed.status";
    case HttpOutcome::connect_failed:
      return "failed.connect";
    case HttpOutcome::timeout:
      return "failed.timeout";
    case HttpOutcome::tls_failed:
      return "failed.tls";
    case HttpOutcome::failed:
      return "failed.other";
    case HttpOutcome::body_capped:
      return "response_capped";
    case HttpOutcome::dropped_queue_full:
      return "dropped.queue_full";
    case HttpOutcome::dropped_shutdown:
      return "dropped.shutdown";
    case HttpOutcome::count_:
      break;
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

HttpOutcome classify(CURLcode code, long status, bool capped) {
  if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && capped)) {
    if (status >= 200 && status < 300) return HttpOutcome::delivered;
    return HttpOutcome::status_error;
  }
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_INTERFACE_FAILED:
      return HttpOutcome::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
      return HttpOutcome::timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return HttpOutcome::tls_failed;
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
  auto start = [&](std::unique_ptr<Job> job) {
    CURL* e = g_curl->easy_init();
    if (!e) {
      bump(job->scheme, HttpOutcome::failed);
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
      g_curl->easy_cleanup(e);
      return;
    }
    in_flight.push_back(std::move(job));
  };

  for (;;) {
    std::vector<std::unique_ptr<Job>> starting;
    bool done = false;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && in_flight.size() + starting.size() < config_.max_in_flight) {
        starting.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (stopping_) {
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
    while (CURLMsg* msg = g_curl->multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode code = msg->data.result;
      Job* job = nullptr;
      g_curl->easy_getinfo(e, CURLINFO_PRIVATE, &job);
      long status = 0;
      g_curl->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      const bool capped = job && job->received > job->cap;
      const HttpOutcome outcome = classify(code, status, capped);
      if (job && config_.on_done) {
        curl_off_t us = 0;
        g_curl->easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
        config_.on_done(job->scheme, static_cast<double>(us) / 1e6);
      }
      if (job) {
        bump(job->scheme, outcome);
        if (capped && outcome == HttpOutcome::delivered) bump(job->scheme, HttpOutcome::body_capped);
      }
      g_curl->multi_remove_handle(multi, e);
      g_curl->easy_cleanup(e);
      std::erase_if(in_flight, [&](const std::unique_ptr<Job>& j) { return j.get() == job; });
    }
    g_curl->multi_poll(multi, nullptr, 0, 100, nullptr);
  }

  // Past the deadline (or nothing left): drop what remains, counted.
  for (auto& job : in_flight) {
    bump(job->scheme, HttpOutcome::dropped_shutdown);
    g_curl->multi_remove_handle(multi, job->easy);
    g_curl->easy_cleanup(job->easy);
  }
  in_flight.clear();
  std::lock_guard lock(mutex_);
  for (auto& job : queue_) bump(job->scheme, HttpOutcome::dropped_shutdown);
  queue_.clear();
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
  }
}

}  // namespace overflowd::sink

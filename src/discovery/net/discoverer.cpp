#include "discovery/net/discoverer.hpp"

#include "lazy/lazy_library.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sink/curl_api.hpp"

namespace overflowd::discovery {

namespace {

constexpr int kPollMs = 100;  // how often a running lookup looks at the stop request

struct TxtAnswer {
  bool done = false;
  int status = ARES_SUCCESS;
  std::string text;  // the first record's character strings, joined
};

void on_txt(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* answer = static_cast<TxtAnswer*>(arg);
  answer->done = true;
  answer->status = status;
  if (status != ARES_SUCCESS) return;
  ares_txt_ext* txt = nullptr;
  if (const int rc = ::ares_parse_txt_reply_ext(abuf, alen, &txt); rc != ARES_SUCCESS) {
    answer->status = rc;
    return;
  }
  bool first = true;
  for (const ares_txt_ext* t = txt; t; t = t->next) {
    if (t->record_start && !first) break;  // one record: the first
    first = false;
    if (answer->text.size() + t->length > kMaxUrlBytes + 1) {
      answer->text.assign(kMaxUrlBytes + 1, 'x');  // too long: parse_txt says so
      break;
    }
    answer->text.append(reinterpret_cast<const char*>(t->txt), t->length);
  }
  ::ares_free_data(txt);
}

struct Fetch {
  std::string body;
  bool too_large = false;
  bool refused = false;  // the Guard's address checks refused the address connected to
  const Lookups* lookups = nullptr;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* f = static_cast<Fetch*>(user);
  const std::size_t bytes = size * n;
  if (f->body.size() + bytes > kMaxDocumentBytes) {
    f->too_large = true;
    return 0;  // ends the transfer
  }
  f->body.append(data, bytes);
  return bytes;
}

curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* f = static_cast<Fetch*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  core::IpAddress a;
  if (address->family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address->addr);
    a = core::IpAddress::from_bytes(std::as_bytes(std::span(reinterpret_cast<const std::uint8_t*>(&in->sin_addr), 4)));
  } else if (address->family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address->addr);
    a = core::IpAddress::from_bytes(std::as_bytes(std::span(reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr), 16)));
  } else {
    f->refused = true;
    return CURL_SOCKET_BAD;
  }
  if (f->lookups->screen(a.unmapped()) != guard::Verdict::admitted) {
    f->refused = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace

std::expected<std::unique_ptr<Discoverer>, std::string> Discoverer::open(DiscovererConfig config, const core::Clock& clock) {
  if (config.lookups.mode != Mode::dns && !config.resolver.empty())
    return std::unexpected("--discovery-resolver is only used with --discovery dns");
  if (auto curl = sink::curl_api(); !curl) return std::unexpected("--discovery: " + curl.error());
  if (auto cares = lazy::load(lazy::libcares()); !cares) return std::unexpected("--discovery: " + cares.error());
  if (const int rc = ::ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS)
    return std::unexpected(std::string("--discovery: c-ares: ") + ::ares_strerror(rc));
  // Check the resolver address here, so that a wrong one is a usage error at start.
  if (!config.resolver.empty()) {
    ares_channel channel = nullptr;
    if (::ares_init(&channel) != ARES_SUCCESS) {
      ::ares_library_cleanup();
      return std::unexpected("--discovery: c-ares: cannot start a resolver");
    }
    const int rc = ::ares_set_servers_ports_csv(channel, config.resolver.c_str());
    ::ares_destroy(channel);
    if (rc != ARES_SUCCESS) {
      ::ares_library_cleanup();
      return std::unexpected("--discovery-resolver: '" + config.resolver + "' is not ADDRESS:PORT (" + ::ares_strerror(rc) + ")");
    }
  }
  std::vector<TrustEntry> trusted;
  if (!config.trust_file.empty()) {
    auto read = read_trust_file(config.trust_file);
    if (!read) {
      ::ares_library_cleanup();
      return std::unexpected(read.error());
    }
    trusted = std::move(*read);
  }
  return std::unique_ptr<Discoverer>(new Discoverer(std::move(config), clock, std::move(trusted)));
}

std::expected<std::vector<TrustEntry>, std::string> read_trust_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::vector<TrustEntry>{};
    return std::unexpected("--discovery-trust: cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxTrustBytes) break;
  }
  if (in.bad()) return std::unexpected("--discovery-trust: cannot read " + path);
  auto parsed = parse_trust(std::as_bytes(std::span(text.data(), text.size())));
  if (!parsed)
    return std::unexpected(fmt::format("--discovery-trust: {} line {}: {} (fix or remove the file)", path,
                                       parsed.error().line, to_string(parsed.error().code)));
  return std::move(*parsed);
}

std::expected<void, std::string> write_trust_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected("cannot create " + tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return std::unexpected("cannot write " + tmp + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return std::unexpected("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return std::unexpected("cannot rename " + tmp + " to " + path + ": " + why);
  }
  return {};
}

void Discoverer::save_trust(bool force) {
  if (config_.trust_file.empty()) return;
  std::vector<TrustEntry> entries;
  {
    std::lock_guard lock(mutex_);
    auto& tofu = lookups_.tofu();
    if (!tofu.dirty()) return;
    // A new identity at most once a second, a moved last seen once a minute: a flood of new
    // prefixes does not rewrite the file at the lookup rate.
    if (!force && now_s() - trust_saved_at_ < (tofu.learned() ? 1 : 60)) return;
    entries = tofu.entries();
    tofu.take_dirty();
  }
  const std::string text = format_trust(entries);
  auto written = write_trust_file(config_.trust_file, text);
  std::lock_guard lock(mutex_);
  trust_saved_at_ = now_s();
  if (written) {
    ++trust_saved_;
    return;
  }
  lookups_.tofu().mark_dirty();
  if (trust_save_failed_++ == 0)
    fmt::print(stderr, "overflowd: warning: --discovery-trust: {} (discovery.trust.save_failed)\n", written.error());
}

Discoverer::Discoverer(DiscovererConfig config, const core::Clock& clock, std::vector<TrustEntry> trusted)
    : config_(std::move(config)), clock_(clock), lookups_(config_.lookups), log_limit_(config_.log_per_minute),
      trust_loaded_(lookups_.tofu().load(trusted)), trust_saved_at_(now_s()),
      thread_([this](std::stop_token stop) { run(stop); }) {}

Discoverer::~Discoverer() {
  thread_.request_stop();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  save_trust(true);
  ::ares_library_cleanup();
}

std::optional<report::X25519Public> Discoverer::key_for(const core::IpAddress& address, std::int64_t now_ns) {
  std::optional<Job> job;
  std::optional<report::X25519Public> key;
  {
    std::lock_guard lock(mutex_);
    key = lookups_.want(address, now_s(), now_ns, job);
    if (job) queue_.push_back(std::move(*job));
  }
  if (job) wake_.notify_one();
  return key;
}

void Discoverer::append_counters(std::vector<core::NamedCount>& out) const {
  std::lock_guard lock(mutex_);
  lookups_.append_counters(out);
  if (log_suppressed_) out.push_back({"discovery.log_suppressed", log_suppressed_});
  if (!config_.trust_file.empty()) {
    out.push_back({"discovery.trust.loaded", trust_loaded_});
    out.push_back({"discovery.trust.saved", trust_saved_});
    out.push_back({"discovery.trust.save_failed", trust_save_failed_});
  }
}

void Discoverer::wait_idle(std::int64_t timeout_ms) {
  std::unique_lock lock(mutex_);
  idle_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return lookups_.in_flight() == 0; });
}

void Discoverer::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [this] { return !queue_.empty(); })) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    auto result = lookup(job, stop);
    {  // the decisions under the lock; the trust file is written after it
      std::lock_guard lock(mutex_);
      if (result) result = lookups_.trust(job, std::move(*result), std::nullopt, now_s());
      if (!result && result.error() == Outcome::identity_changed) {
        const auto d = log_limit_.admit(clock_.monotonic_ns());
        if (d.suppressed_before)
          fmt::print(stderr, "overflowd: warning: {} more discovery identity changes were not logged in the last minute\n",
                     d.suppressed_before);
        if (d.log)
          fmt::print(stderr, "overflowd: warning: discovery: the document for {} ({}) is signed by another identity than "
                             "the one first seen or pinned for it: refused (discovery.identity_changed)\n",
                     job.address.to_string(), job.key);
        else ++log_suppressed_;
      }
      lookups_.finish(job, std::move(result), now_s());
      if (lookups_.in_flight() == 0) idle_.notify_all();
    }
    save_trust(false);
  }
}

std::expected<Found, Outcome> Discoverer::lookup(const Job& job, std::stop_token stop) {
  DocumentUrl url;
  if (config_.lookups.mode == Mode::dns) {
    auto text = resolve_txt(txt_name(job.address), stop);
    if (!text) return std::unexpected(text.error());
    auto parsed = parse_txt(std::as_bytes(std::span(text->data(), text->size())));
    if (!parsed) return std::unexpected(Outcome::bad_txt);
    url = std::move(*parsed);
    if (auto a = url.address(); a && lookups_.screen(a->unmapped()) != guard::Verdict::admitted)
      return std::unexpected(Outcome::url_refused);
  } else {
    const bool https = config_.lookups.mode == Mode::https;
    url.https = https;
    url.url = address_url(job.address, https, config_.lookups.port);
  }
  auto body = fetch(url, stop);
  if (!body) return std::unexpected(body.error());
  return check_document(std::as_bytes(std::span(body->data(), body->size())), job.address, now_s());
}

std::expected<std::string, Outcome> Discoverer::resolve_txt(const std::string& name, std::stop_token stop) {
  ares_options options{};
  options.timeout = static_cast<int>(config_.timeout_ms);
  options.tries = 2;
  ares_channel channel = nullptr;
  if (::ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
    return std::unexpected(Outcome::dns_error);
  if (!config_.resolver.empty() && ::ares_set_servers_ports_csv(channel, config_.resolver.c_str()) != ARES_SUCCESS) {
    ::ares_destroy(channel);
    return std::unexpected(Outcome::dns_error);
  }
  TxtAnswer answer;
  ::ares_query(channel, name.c_str(), ns_c_in, ns_t_txt, on_txt, &answer);
  while (!answer.done) {
    if (stop.stop_requested()) {
      ::ares_cancel(channel);  // calls on_txt with ARES_ECANCELLED
      break;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    const int bits = ::ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      const bool r = ARES_GETSOCK_READABLE(bits, i), w = ARES_GETSOCK_WRITABLE(bits, i);
      if (!r && !w) continue;
      fds[n++] = pollfd{socks[i], static_cast<short>((r ? POLLIN : 0) | (w ? POLLOUT : 0)), 0};
    }
    timeval max{0, kPollMs * 1000}, tv{};
    const timeval* t = ::ares_timeout(channel, &max, &tv);
    const int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
    ::poll(fds, n, ms);
    bool any = false;
    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      any = true;
      const bool r = fds[i].revents & (POLLIN | POLLERR | POLLHUP), w = fds[i].revents & POLLOUT;
      ::ares_process_fd(channel, r ? fds[i].fd : ARES_SOCKET_BAD, w ? fds[i].fd : ARES_SOCKET_BAD);
    }
    if (!any) ::ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // time-outs
  }
  ::ares_destroy(channel);
  if (answer.status == ARES_ENOTFOUND || answer.status == ARES_ENODATA) return std::unexpected(Outcome::no_record);
  if (answer.status != ARES_SUCCESS) return std::unexpected(Outcome::dns_error);
  if (answer.text.empty()) return std::unexpected(Outcome::no_record);
  return std::move(answer.text);
}

std::expected<std::string, Outcome> Discoverer::fetch(const DocumentUrl& url, std::stop_token stop) {
  const sink::CurlApi* c = *sink::curl_api();  // loaded by open()
  Fetch f;
  f.lookups = &lookups_;  // only its configuration is read: no lock needed
  CURL* e = c->easy_init();
  CURLM* m = c->multi_init();
  if (!e || !m) {
    if (e) c->easy_cleanup(e);
    if (m) c->multi_cleanup(m);
    return std::unexpected(Outcome::http_error);
  }
  c->easy_setopt(e, CURLOPT_URL, url.url.c_str());
  c->easy_setopt(e, CURLOPT_HTTPGET, 1L);
  c->easy_setopt(e, CURLOPT_USERAGENT, "overflowd/0.1 (discovery)");
  c->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  c->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  c->easy_setopt(e, CURLOPT_PROXY, "");
  c->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  c->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, config_.timeout_ms);
  c->easy_setopt(e, CURLOPT_TIMEOUT_MS, config_.timeout_ms);
  c->easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxDocumentBytes));
  c->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  c->easy_setopt(e, CURLOPT_WRITEDATA, &f);
  c->easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  c->easy_setopt(e, CURLOPT_OPENSOCKETDATA, &f);
  if (url.https) {
    c->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, config_.https_verify ? 1L : 0L);
    c->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, config_.https_verify ? 2L : 0L);
    if (config_.https_verify && !config_.ca_file.empty()) c->easy_setopt(e, CURLOPT_CAINFO, config_.ca_file.c_str());
  }
  c->multi_add_handle(m, e);
  int running = 1;
  CURLcode result = CURLE_ABORTED_BY_CALLBACK;
  while (running && !stop.stop_requested()) {
    if (c->multi_perform(m, &running) != CURLM_OK) break;
    if (running) c->multi_poll(m, nullptr, 0, kPollMs, nullptr);
  }
  int left = 0;
  while (CURLMsg* msg = c->multi_info_read(m, &left))
    if (msg->msg == CURLMSG_DONE) result = msg->data.result;
  long status = 0;
  c->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  c->multi_remove_handle(m, e);
  c->easy_cleanup(e);
  c->multi_cleanup(m);
  if (f.refused) return std::unexpected(Outcome::url_refused);
  if (f.too_large || result == CURLE_FILESIZE_EXCEEDED) return std::unexpected(Outcome::too_large);
  if (result != CURLE_OK || status != 200) return std::unexpected(Outcome::http_error);
  return std::move(f.body);
}

}  // namespace overflowd::discovery

#include "api/http_api.hpp"
#include "core/clock.hpp"
#include "core/parse.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

namespace overflowd::api {

using nlohmann::json;
using namespace receive;
using namespace store;

namespace {


// httplib's own pool queues accepted connections without bound; this one holds at most
// `max_queued` and makes the accepting thread wait for room, so the kernel's listen backlog (and
// then refused connections) absorbs the rest.
class BoundedPool final : public httplib::TaskQueue {
public:
  BoundedPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~BoundedPool() override = default;

  void enqueue(std::function<void()> fn) override {
    {
      std::unique_lock lock(mutex_);
      room_.wait(lock, [&] { return jobs_.size() < max_queued_ || shutdown_; });
      jobs_.push_back(std::move(fn));
    }
    has_job_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
    }
    has_job_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        has_job_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      try {
        fn();
      } catch (...) {
      }
    }
  }

  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable has_job_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::jthread> threads_;
  bool shutdown_ = false;
};

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& why) { send_json(res, {{"error", why}}, status); }

core::IpAddress peer_address(const httplib::Request& req) {
  auto a = core::IpAddress::parse(req.remote_addr);
  return a ? a->unmapped() : core::IpAddress{};
}

// Query parameters, checked: a bad value is a 400 that names it.
struct Params {
  const httplib::Request& req;
  std::string error;

  std::optional<std::int64_t> integer(const char* name, std::int64_t lo, std::int64_t hi) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    const auto n = core::parse_whole<std::int64_t>(v, lo, hi);
    if (!n) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
      return std::nullopt;
    }
    return n;
  }
  std::optional<double> number(const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    const auto d = core::parse_real(v, -HUGE_VAL, HUGE_VAL);
    if (!d) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not a number (Unix seconds)";
      return std::nullopt;
    }
    return d;
  }
  std::optional<Cidr> prefix(const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    auto c = Cidr::parse(v);
    if (!c) {
      error = std::string(name) + ": '" + v.substr(0, 64) + "' is not an address or prefix (host bits zero)";
      return std::nullopt;
    }
    return *c;
  }
  std::string key(const char* name) {
    if (!req.has_param(name)) return {};
    const std::string v = req.get_param_value(name);
    const bool ok = v.size() == 64 && std::all_of(v.begin(), v.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); });
    if (!ok) error = std::string(name) + ": not 64 hex digits";
    return ok ? v : std::string();
  }
};

// Splits a POST body into report lines: one JSON object, or several one per line.
std::vector<std::string_view> split_reports(std::string_view body) {
  std::vector<std::string_view> out;
  while (!body.empty()) {
    const auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void post_reports(HttpContext& ctx, Input input, const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader) {
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, std::size_t n) {
    if (body.size() + n > kMaxBodyBytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  // httplib refuses a declared length over the cap before reading (it sets 413); a chunked body
  // over the cap is cut off here.
  if (too_large || res.status == 413) return send_error(res, 413, "the body is over " + std::to_string(kMaxBodyBytes) + " bytes");
  if (!read) return send_error(res, 400, "the body could not be read");
  const auto lines = split_reports(body);
  if (lines.empty()) return send_error(res, 400, "no report in the body");
  if (lines.size() > kMaxReportsPerRequest)
    return send_error(res, 413, "over " + std::to_string(kMaxReportsPerRequest) + " reports in one request");
  const std::int64_t now = core::system_clock().wall_ns();
  const std::string peer = peer_address(req).to_string();
  std::vector<Item> items;
  items.reserve(lines.size());
  for (auto line : lines) items.push_back(Item{Arrival{input, peer, now}, ingest(line, now, ctx.skew, ctx.cache), SpoofStatus::not_mine});
  std::vector<std::string> reasons(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    if (const auto* r = std::get_if<Rejected>(&items[i].verdict)) reasons[i] = r->reason;
  auto outcomes = ctx.writer.commit(std::move(items), std::chrono::seconds(2));
  if (!outcomes) {
    res.set_header("Retry-After", "1");
    return send_error(res, 503, outcomes.error());
  }
  std::size_t stored = 0, duplicates = 0;
  json rejected = json::array();
  for (std::size_t i = 0; i < outcomes->size(); ++i) {
    switch ((*outcomes)[i]) {
      case Outcome::stored:
        ++stored;
        break;
      case Outcome::duplicate:
        ++duplicates;
        break;
      case Outcome::rejected:
        rejected.push_back({{"index", i}, {"reason", reasons[i]}});
        break;
    }
  }
  // Stored and duplicate reports are safe on disk: 200. Nothing usable at all: 400.
  const int status = (stored + duplicates) > 0 ? 200 : 400;
  send_json(res, {{"stored", stored}, {"duplicates", duplicates}, {"rejected", rejected}}, status);
}

}  // namespace

std::expected<std::unique_ptr<httplib::Server>, std::string> make_http_server(HttpContext& ctx, bool tls) {
  std::unique_ptr<httplib::Server> server;
  if (tls) {
    auto s = std::make_unique<httplib::SSLServer>(ctx.config.tls_cert.c_str(), ctx.config.tls_key.c_str());
    if (!s->is_valid())
      return std::unexpected("HTTPS: cannot load the certificate " + ctx.config.tls_cert + " and key " + ctx.config.tls_key);
    server = std::move(s);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  const Input input = tls ? Input::https : Input::http;
  httplib::Server& s = *server;
  const auto threads = static_cast<std::size_t>(ctx.config.http_threads);
  const auto queued = static_cast<std::size_t>(ctx.config.max_connections);
  s.new_task_queue = [threads, queued] { return new BoundedPool(threads, queued); };
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_read_timeout(ctx.config.http_timeout_s, 0);
  s.set_write_timeout(ctx.config.http_timeout_s, 0);
  s.set_keep_alive_timeout(std::min<std::int64_t>(ctx.config.http_timeout_s, 5));
  s.set_keep_alive_max_count(100);
  s.set_socket_options([](socket_t sock) {
    int yes = 1, no = 0;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);  // fails harmlessly on IPv4 sockets
  });
  s.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}, {"Server", "overflowd"}});
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal error");
  });

  const HttpContext* c = &ctx;
  s.set_pre_routing_handler([c](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Encoding") && req.get_header_value("Content-Encoding") != "identity") {
      send_error(res, 415, "compressed bodies are not taken");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path == "/.well-known/overflowd") return httplib::Server::HandlerResponse::Unhandled;
    const core::IpAddress peer = peer_address(req);
    const bool allowed = std::any_of(c->config.api_allow.begin(), c->config.api_allow.end(),
                                     [&](const Cidr& p) { return p.contains(peer); });
    if (!allowed) {
      send_error(res, 403, "this address may not read the API (see --api-allow)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Post("/.well-known/overflowd", [&ctx, input](const httplib::Request& req, httplib::Response& res,
                                                 const httplib::ContentReader& reader) {
    post_reports(ctx, input, req, res, reader);
  });
  s.Get("/.well-known/overflowd", [c](const httplib::Request&, httplib::Response& res) { send_json(res, c->discovery); });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(web_page(), "text/html; charset=utf-8");
  });
  s.Get("/api/reports", [c](const httplib::Request& req, httplib::Response& res) {
    Params p{req, {}};
    ReportFilter f;
    f.key = p.key("key");
    f.saddr = p.prefix("saddr");
    f.daddr = p.prefix("daddr");
    f.since = p.number("since");
    f.until = p.number("until");
    f.before = p.integer("before", 1, INT64_MAX);
    f.limit = p.integer("limit", 1, kMaxLimit).value_or(100);
    f.raw = req.has_param("raw") && req.get_param_value("raw") != "0";
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_json(res, c->queries.reports(f));
  });
  // The lists by key (?key=, empty for all) and ?limit=.
  using ByKey = json (ReportQueries::*)(const std::string&, std::int64_t);
  for (const auto& [path, list] : {std::pair{"/api/keys", ByKey{&ReportQueries::keys}},
                                   std::pair{"/api/alerts", ByKey{&ReportQueries::alerts}}}) {
    s.Get(path, [c, list](const httplib::Request& req, httplib::Response& res) {
      Params p{req, {}};
      const std::string key = p.key("key");
      const auto limit = p.integer("limit", 1, kMaxLimit).value_or(100);
      if (!p.error.empty()) return send_error(res, 400, p.error);
      send_json(res, (c->queries.*list)(key, limit));
    });
  }
  s.Get("/api/invalid", [c](const httplib::Request& req, httplib::Response& res) {
    Params p{req, {}};
    const auto limit = p.integer("limit", 1, kMaxLimit).value_or(100);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_json(res, c->queries.invalid(limit));
  });
  s.Get("/api/summary", [c](const httplib::Request& req, httplib::Response& res) {
    Params p{req, {}};
    SummaryQuery q;
    q.my_prefixes = c->config.my_prefixes;
    q.since = p.number("since");
    q.until = p.number("until");
    q.bucket_s = p.integer("bucket", 1, 366 * 86'400).value_or(0);
    q.top = p.integer("top", 1, 100).value_or(20);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    send_json(res, c->queries.summary(q));
  });
  s.Get("/api/spoofing", [c](const httplib::Request& req, httplib::Response& res) {
    Params p{req, {}};
    SpoofQuery q;
    q.my_prefixes = c->config.my_prefixes;
    q.since = p.number("since");
    q.until = p.number("until");
    q.limit = p.integer("limit", 1, 10 * kMaxLimit).value_or(kMaxLimit);
    if (!p.error.empty()) return send_error(res, 400, p.error);
    json out = c->queries.spoofing(q, c->recheck);
    if (c->runtime_stats) out["own_exports"] = c->runtime_stats()["own_exports"];
    send_json(res, out);
  });
  s.Get("/api/stats", [c](const httplib::Request&, httplib::Response& res) {
    json out = c->queries.counters();
    if (c->runtime_stats) out["runtime"] = c->runtime_stats();
    send_json(res, out);
  });
  return server;
}

std::expected<int, std::string> bind_http(httplib::Server& server, const std::string& address, int port) {
  if (port == 0) {
    const int p = server.bind_to_any_port(address);
    if (p <= 0) return std::unexpected("cannot listen on TCP [" + address + "]: no free port");
    return p;
  }
  if (!server.bind_to_port(address, port)) return std::unexpected("cannot listen on TCP [" + address + "]:" + std::to_string(port));
  return port;
}

void serve_http(httplib::Server& server) { server.listen_after_bind(); }
void stop_http(httplib::Server& server) { server.stop(); }

}  // namespace overflowd::api

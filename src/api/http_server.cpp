// The only translation unit that includes Boost.Beast and Asio (compile time): see http_server.hpp.
#include "api/http_server.hpp"

#include "lazy/lazy_library.hpp"

// GCC 12 warns (after inlining, so not silenced as a system header) of a null dereference inside
// Asio's scheduler (boost/asio/detail/impl/scheduler.ipp) that cannot happen: its thread-info stack.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace overflowd::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower_char(x) == lower_char(y); });
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

core::IpAddress to_ip(const asio::ip::address& a) {
  if (a.is_v4()) return core::IpAddress::v4(a.to_v4().to_uint());
  const auto b = a.to_v6().to_bytes();
  return core::IpAddress::from_bytes(std::as_bytes(std::span(b))).unmapped();
}

// The client a connection counts against: its address, or for IPv6 its /64 (one subscriber's
// network usually; otherwise one host could take a connection cap per address of its /64).
core::IpAddress client_of(const core::IpAddress& a) {
  if (!a.is_v6()) return a;
  std::array<std::byte, 16> b{};
  for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::byte>(a.bytes()[i]);
  return core::IpAddress::from_bytes(b);
}

bool is_loopback(const core::IpAddress& a) {
  if (a.is_v4()) return a.bytes()[0] == 127;
  if (a.is_v6()) return a == *core::IpAddress::parse("::1");
  return false;
}

// Every counter, one name each.
#define OVERFLOWD_HTTP_COUNTERS(X)                                                  \
  X(connections, "http.connections")                                                \
  X(requests, "http.requests")                                                      \
  X(answered, "http.answered")                                                      \
  X(refused_connections_total, "http.refused.connections_total")                    \
  X(refused_connections_per_client, "http.refused.connections_per_client")          \
  X(refused_request_deadline, "http.refused.request_deadline")                      \
  X(refused_read_timeout, "http.refused.read_timeout")                              \
  X(refused_header_too_large, "http.refused.header_too_large")                      \
  X(refused_request_line_too_long, "http.refused.request_line_too_long")            \
  X(refused_too_many_headers, "http.refused.too_many_headers")                      \
  X(refused_body_too_large, "http.refused.body_too_large")                          \
  X(refused_bad_request, "http.refused.bad_request")                                \
  X(refused_not_found, "http.refused.not_found")                                    \
  X(refused_method, "http.refused.method")                                          \
  X(refused_not_implemented, "http.refused.not_implemented")                        \
  X(refused_encoding, "http.refused.encoding")                                      \
  X(refused_host, "http.refused.host")                                              \
  X(refused_forbidden, "http.refused.forbidden")                                    \
  X(refused_busy, "http.refused.busy")                                              \
  X(refused_tls_handshake, "http.refused.tls_handshake")                            \
  X(closed_keepalive_idle, "http.closed.keepalive_idle")                            \
  X(closed_keepalive_requests, "http.closed.keepalive_requests")                    \
  X(range_ignored, "http.range_ignored")                                            \
  X(accept_errors, "http.accept_errors")                                            \
  X(handler_errors, "http.handler_errors")

enum class Counter : std::size_t {
#define OVERFLOWD_X(id, name) id,
  OVERFLOWD_HTTP_COUNTERS(OVERFLOWD_X)
#undef OVERFLOWD_X
      count_
};
constexpr std::array<const char*, static_cast<std::size_t>(Counter::count_)> kCounterNames = {
#define OVERFLOWD_X(id, name) name,
    OVERFLOWD_HTTP_COUNTERS(OVERFLOWD_X)
#undef OVERFLOWD_X
};

struct Route {
  std::string method;
  Handler handler;
  RouteOptions options;
};

}  // namespace

// ---- the pure helpers ----

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) out.emplace_back(percent_decode(part), std::string());
    else out.emplace_back(percent_decode(part.substr(0, eq)), percent_decode(part.substr(eq + 1)));
  }
  return out;
}

std::string host_of(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  std::string_view host, port;
  if (!h.empty() && h.front() == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos) return {};
    host = h.substr(1, close - 1);
    const std::string_view rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port = rest.substr(1);
    }
    // An IPv6 literal has a colon: "[.]" is no address (and would read back as another host).
    if (host.find(':') == std::string_view::npos || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return {};
  } else {
    const auto colon = h.find(':');
    host = h.substr(0, colon);
    if (colon != std::string_view::npos) port = h.substr(colon + 1);
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost."
    if (host.empty() || host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
                            std::string_view::npos)
      return {};
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return {};
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), lower_char);
  return out;
}

bool Request::has_param(std::string_view name) const {
  return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
}
std::string Request::get_param_value(std::string_view name) const {
  for (const auto& p : params)
    if (p.first == name) return p.second;
  return {};
}
bool Request::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}
std::string Request::get_header_value(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.first, name)) return h.second;
  return {};
}

// ---- the server ----

struct HttpServer::Impl {
  ServerLimits limits;
  std::size_t max_connections = 0;  // the limit, capped by RLIMIT_NOFILE
  std::size_t max_pending = 0;
  std::map<std::string, std::vector<Route>, std::less<>> routes;  // by path; not changed once running
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Counter::count_)> counts{};
  std::atomic<std::size_t> open{0}, pending{0};
  std::mutex clients_mutex;
  std::map<core::IpAddress, std::size_t> per_client;
  std::vector<core::IpAddress> listen_addresses;  // bound to a single address (not a wildcard)
  std::unique_ptr<asio::ssl::context> ssl;
  std::atomic<bool> is_running{false};
  // Destroyed in reverse: the workers first (joined), then the acceptors, then the loop with the
  // connections still in it; the state above outlives them all.
  asio::io_context ioc{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::unique_ptr<asio::thread_pool> workers;

  void count(Counter c) { counts[static_cast<std::size_t>(c)].fetch_add(1, std::memory_order_relaxed); }

  [[nodiscard]] bool host_ok(std::string_view header, const core::IpAddress& local) const {
    const std::string h = host_of(header);
    if (h.empty()) return false;
    if (h == "localhost") return true;
    if (std::any_of(limits.hosts.begin(), limits.hosts.end(), [&](const std::string& n) { return iequals(n, h); })) return true;
    const auto ip = core::IpAddress::parse(h);
    if (!ip) return false;
    const core::IpAddress a = ip->unmapped();
    return is_loopback(a) || a == local ||
           std::find(listen_addresses.begin(), listen_addresses.end(), a) != listen_addresses.end();
  }

  void release(const core::IpAddress& peer) {
    {
      std::lock_guard lock(clients_mutex);
      const auto it = per_client.find(peer);
      if (it != per_client.end() && --it->second == 0) per_client.erase(it);
    }
    open.fetch_sub(1, std::memory_order_relaxed);
  }

  void accept(tcp::acceptor& a);
  void accepted(tcp::socket socket);
};

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... A>
  Session(HttpServer::Impl& server, core::IpAddress peer, core::IpAddress local, A&&... a)
      : server_(server), limits_(server.limits), stream_(std::forward<A>(a)...), peer_(peer), local_(local),
        buffer_(server.limits.max_header_bytes + 16 * 1024) {
    deadline_ = SteadyClock::now() + milliseconds(limits_.request_deadline_ms);
  }
  ~Session() { server_.release(client_of(peer_)); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    if constexpr (kTls) {
      lowest().expires_at(deadline_);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) {
          self->server_.count(Counter::refused_tls_handshake);
          return self->close();
        }
        self->begin_request();
      });
    } else {
      begin_request();
    }
  }

private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void begin_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    // No limit while the header is read (Beast would refuse a long Content-Length before the path
    // and method are known); check_header() sets the route's limit before any of the body is read.
    // (Not boost::none: Beast 1.74 compares a length with an empty optional as over the limit.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    header_checked_ = false;
    if (served_ > 0) {
      in_request_ = buffer_.size() > 0;  // pipelined: the next request has begun
      if (in_request_) deadline_ = SteadyClock::now() + milliseconds(limits_.request_deadline_ms);
    }
    if (buffer_.size() > 0) parse();
    else read();
  }

  void read() {
    const auto now = SteadyClock::now();
    if (!in_request_ && served_ > 0) lowest().expires_at(now + milliseconds(limits_.keepalive_idle_ms));
    else lowest().expires_at(std::min(deadline_, now + milliseconds(limits_.read_timeout_ms)));
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return refuse(http::status::request_header_fields_too_large, Counter::refused_header_too_large, "the header is too large");
    const std::size_t want = std::min<std::size_t>(room, in_request_ ? 8192 : 1024);
    stream_.async_read_some(buffer_.prepare(want), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) {
      if (ec == beast::error::timeout) {
        if (!in_request_ && served_ > 0) server_.count(Counter::closed_keepalive_idle);
        else if (SteadyClock::now() >= deadline_) server_.count(Counter::refused_request_deadline);
        else server_.count(Counter::refused_read_timeout);
      }
      return close();
    }
    buffer_.commit(n);
    if (!in_request_ && n > 0) {
      in_request_ = true;
      if (served_ > 0) deadline_ = SteadyClock::now() + milliseconds(limits_.request_deadline_ms);
    }
    parse();
  }

  void parse() {
    for (;;) {
      if (buffer_.size() == 0) return read();
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) return read();
      if (ec) {
        if (ec == http::error::header_limit)
          return refuse(http::status::request_header_fields_too_large, Counter::refused_header_too_large, "the header is too large");
        if (ec == http::error::body_limit) return refuse(http::status::payload_too_large, Counter::refused_body_too_large, "the body is too large");
        return refuse(http::status::bad_request, Counter::refused_bad_request, "malformed request");
      }
      if (parser_->is_header_done() && !header_checked_) {
        header_checked_ = true;
        if (!check_header()) return;  // answered
        const auto expect = parser_->get()[http::field::expect];
        if (iequals(std::string_view(expect.data(), expect.size()), "100-continue") && !parser_->is_done()) return send_continue();
      }
      if (parser_->is_done()) return dispatch();
      if (used == 0) return read();
    }
  }

  // Everything that can be judged from the header, before any of the body is read.
  bool check_header() {
    server_.count(Counter::requests);
    const auto& h = parser_->get();
    const std::string_view target(h.target().data(), h.target().size());
    if (target.size() > limits_.max_request_line) {
      refuse(http::status::uri_too_long, Counter::refused_request_line_too_long, "the request line is too long");
      return false;
    }
    if (static_cast<std::size_t>(std::distance(h.begin(), h.end())) > limits_.max_headers) {
      refuse(http::status::request_header_fields_too_large, Counter::refused_too_many_headers, "too many header fields");
      return false;
    }
    if (h.method() == http::verb::unknown) {
      refuse(http::status::not_implemented, Counter::refused_not_implemented, "method not implemented");
      return false;
    }
    if (target.empty() || target.front() != '/') {
      refuse(http::status::bad_request, Counter::refused_bad_request, "the target must be a path");
      return false;
    }
    const std::string_view path = target.substr(0, target.find('?'));
    const auto found = server_.routes.find(path);
    if (found == server_.routes.end()) {
      refuse(http::status::not_found, Counter::refused_not_found, "not found");
      return false;
    }
    const std::string_view method(h.method_string().data(), h.method_string().size());
    route_ = nullptr;
    std::string allow;
    for (const Route& r : found->second) {
      if (r.method == method) route_ = &r;
      allow += (allow.empty() ? "" : ", ") + r.method;
    }
    if (!route_) {
      refuse(http::status::method_not_allowed, Counter::refused_method, "method not allowed", {{"Allow", allow}});
      return false;
    }
    const auto encoding = h[http::field::content_encoding];
    if (!encoding.empty() && !iequals(std::string_view(encoding.data(), encoding.size()), "identity")) {
      refuse(http::status::unsupported_media_type, Counter::refused_encoding, "compressed bodies are not taken");
      return false;
    }
    if (route_->options.check_host) {
      const auto host = h[http::field::host];
      if (!server_.host_ok(std::string_view(host.data(), host.size()), local_)) {
        refuse(http::status::misdirected_request, Counter::refused_host, "this server does not serve that Host");
        return false;
      }
    }
    if (route_->options.allow && !route_->options.allow(peer_)) {
      refuse(http::status::forbidden, Counter::refused_forbidden, "this address may not use this path");
      return false;
    }
    std::size_t limit = route_->options.max_body;
    if (limit == 0 && (method == "POST" || method == "PUT" || method == "PATCH")) limit = limits_.max_body;
    const auto length = parser_->content_length();
    if ((length && *length > limit) || (parser_->chunked() && limit == 0)) {
      refuse(http::status::payload_too_large, Counter::refused_body_too_large, "the body is too large");
      return false;
    }
    parser_->body_limit(std::uint64_t{limit});
    if (h.find(http::field::range) != h.end()) server_.count(Counter::range_ignored);
    return true;
  }

  void send_continue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    lowest().expires_at(std::min(deadline_, SteadyClock::now() + milliseconds(limits_.read_timeout_ms)));
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        self->parse();
                      });
  }

  void dispatch() {
    auto msg = parser_->release();
    parser_.reset();
    ++served_;
    in_request_ = false;
    const bool keep = msg.keep_alive() && static_cast<std::int64_t>(served_) < limits_.keepalive_requests;
    if (msg.keep_alive() && !keep) server_.count(Counter::closed_keepalive_requests);
    if (server_.pending.load() >= server_.max_pending) {
      Response busy;
      busy.status = 503;
      busy.set_header("Retry-After", "1");
      busy.set_content(R"({"error":"busy: too many requests waiting"})", "application/json");
      server_.count(Counter::refused_busy);
      return respond(std::move(busy), keep);
    }
    Request req;
    req.method.assign(msg.method_string().data(), msg.method_string().size());
    req.target.assign(msg.target().data(), msg.target().size());
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.params = parse_query(std::string_view(req.target).substr(q + 1));
    for (const auto& f : msg)
      req.headers.emplace_back(std::string(f.name_string().data(), f.name_string().size()),
                               std::string(f.value().data(), f.value().size()));
    req.body = std::move(msg.body());
    req.peer = peer_;
    server_.pending.fetch_add(1);
    asio::post(*server_.workers, [self = this->shared_from_this(), req = std::move(req), keep, route = route_]() mutable {
      Response res;
      try {
        route->handler(req, res);
      } catch (...) {
        self->server_.count(Counter::handler_errors);
        res = Response{};
        res.status = 500;
        res.set_content(R"({"error":"internal error"})", "application/json");
      }
      self->server_.pending.fetch_sub(1);
      auto* s = self.get();
      asio::post(s->stream_.get_executor(), [self = std::move(self), res = std::move(res), keep]() mutable {
        self->respond(std::move(res), keep);
      });
    });
  }

  void refuse(http::status status, Counter counter, std::string_view why,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    server_.count(counter);
    Response r;
    r.status = static_cast<int>(status);
    r.headers = std::move(headers);
    r.set_content("{\"error\":\"" + std::string(why) + "\"}", "application/json");
    respond(std::move(r), false);  // the body (if any) is not read: the connection ends
  }

  void respond(Response r, bool keep) {
    auto out = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    for (const auto& [k, v] : limits_.default_headers) out->set(k, v);
    for (const auto& [k, v] : r.headers) out->set(k, v);
    out->set(http::field::content_type, r.content_type);
    out->body() = std::move(r.body);
    out->keep_alive(keep);
    out->prepare_payload();
    server_.count(Counter::answered);
    lowest().expires_after(milliseconds(std::max<std::int64_t>(limits_.read_timeout_ms, 1000)));
    http::async_write(stream_, *out, [self = this->shared_from_this(), out, keep](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!keep) return self->finish();
      self->begin_request();
    });
  }

  // Ends a connection so that the answer reaches the peer: TLS close_notify, or for plain TCP a
  // half close and a short, bounded drain of what the peer still sends (closing with unread data
  // would reset the connection and could lose the answer).
  void finish() {
    if constexpr (kTls) {
      lowest().expires_after(milliseconds(1000));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      lowest().expires_after(milliseconds(1000));
      drain(std::make_shared<std::array<char, 4096>>(), 0);
    }
  }

  void drain(std::shared_ptr<std::array<char, 4096>> scratch, std::size_t total) {
    auto* buf = scratch.get();
    stream_.async_read_some(asio::buffer(*buf), [self = this->shared_from_this(), scratch = std::move(scratch), total](
                                                     beast::error_code ec, std::size_t n) mutable {
      if (ec || total + n > 256 * 1024) return self->close();
      self->drain(std::move(scratch), total + n);
    });
  }

  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  HttpServer::Impl& server_;
  const ServerLimits& limits_;
  Stream stream_;
  core::IpAddress peer_, local_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  SteadyClock::time_point deadline_;
  const Route* route_ = nullptr;
  std::size_t served_ = 0;
  bool in_request_ = false, header_checked_ = false;
};

}  // namespace

void HttpServer::Impl::accept(tcp::acceptor& a) {
  a.async_accept(ioc, [this, &a](beast::error_code ec, tcp::socket socket) {
    if (!a.is_open()) return;
    if (ec) {
      count(Counter::accept_errors);
      // Out of descriptors (or another passing failure): try again shortly rather than spin.
      auto timer = std::make_shared<asio::steady_timer>(ioc, milliseconds(50));
      timer->async_wait([this, &a, timer](beast::error_code) { accept(a); });
      return;
    }
    accepted(std::move(socket));
    accept(a);
  });
}

void HttpServer::Impl::accepted(tcp::socket socket) {
  beast::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  const auto here = socket.local_endpoint(ec);
  if (ec) return;
  const core::IpAddress peer = to_ip(remote.address()), local = to_ip(here.address());
  if (open.load() >= max_connections) {
    count(Counter::refused_connections_total);
    return;  // the socket closes here
  }
  {
    std::lock_guard lock(clients_mutex);
    const core::IpAddress client = client_of(peer);
    std::size_t& n = per_client[client];
    if (n >= limits.max_connections_per_client) {
      if (n == 0) per_client.erase(client);
      count(Counter::refused_connections_per_client);
      return;
    }
    ++n;
  }
  open.fetch_add(1);
  count(Counter::connections);
  socket.set_option(tcp::no_delay(true), ec);
  if (ssl)
    std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, peer, local, std::move(socket), *ssl)->start();
  else
    std::make_shared<Session<beast::tcp_stream>>(*this, peer, local, std::move(socket))->start();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

std::expected<std::unique_ptr<HttpServer>, std::string> HttpServer::create(const ServerLimits& limits,
                                                                           const std::string& tls_cert,
                                                                           const std::string& tls_key) {
  if (limits.workers < 1 || limits.request_deadline_ms < 1 || limits.read_timeout_ms < 1 || limits.keepalive_idle_ms < 1 ||
      limits.keepalive_requests < 1 || limits.max_header_bytes < 64 || limits.max_connections < 1 ||
      limits.max_connections_per_client < 1 || limits.max_header_bytes > (1u << 24))
    return std::unexpected("HTTP server: a limit is out of range");
  auto impl = std::make_unique<Impl>();
  impl->limits = limits;
  impl->max_pending = limits.max_pending ? limits.max_pending : 64 * limits.workers;
  // Never promise more connections than descriptors: keep 64 for the rest of the process.
  std::size_t fds = limits.max_connections;
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    fds = rl.rlim_cur > 128 ? static_cast<std::size_t>(rl.rlim_cur) - 64 : static_cast<std::size_t>(rl.rlim_cur) / 2;
  impl->max_connections = std::min(limits.max_connections, fds);
  if (!tls_cert.empty() || !tls_key.empty()) {
    for (lazy::Library* l : {&lazy::libcrypto(), &lazy::libssl()})
      if (auto loaded = lazy::load(*l); !loaded) return std::unexpected(loaded.error());
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                     asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    beast::error_code ec1, ec2;
    ctx->use_certificate_chain_file(tls_cert, ec1);
    if (!ec1) ctx->use_private_key_file(tls_key, asio::ssl::context::pem, ec2);
    if (ec1 || ec2) return std::unexpected("HTTPS: cannot load the certificate " + tls_cert + " and key " + tls_key);
    impl->ssl = std::move(ctx);
  }
  impl->workers = std::make_unique<asio::thread_pool>(limits.workers);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::add_route(const std::string& method, const std::string& path, Handler handler, RouteOptions options) {
  impl_->routes[path].push_back(Route{method, std::move(handler), std::move(options)});
}

std::expected<int, std::string> HttpServer::bind(const std::string& address, int port) {
  const std::string where = "cannot listen on TCP [" + address + "]:" + std::to_string(port);
  beast::error_code ec;
  const auto addr = asio::ip::make_address(address, ec);
  if (ec) return std::unexpected(where + ": not an IP address");
  const tcp::endpoint ep(addr, static_cast<std::uint16_t>(port));
  auto a = std::make_unique<tcp::acceptor>(impl_->ioc);
  if (a->open(ep.protocol(), ec); ec) return std::unexpected(where + ": " + ec.message());
  a->set_option(asio::socket_base::reuse_address(true), ec);
  if (addr.is_v6()) a->set_option(asio::ip::v6_only(false), ec);  // IPv4 too, where the system allows it
  if (a->bind(ep, ec); ec) return std::unexpected(where + ": " + ec.message());
  if (a->listen(asio::socket_base::max_listen_connections, ec); ec) return std::unexpected(where + ": " + ec.message());
  if (!addr.is_unspecified()) impl_->listen_addresses.push_back(to_ip(addr));
  const int bound = a->local_endpoint(ec).port();
  if (ec) return std::unexpected(where + ": " + ec.message());
  impl_->acceptors.push_back(std::move(a));
  return bound;
}

void HttpServer::run() {
  for (auto& a : impl_->acceptors) impl_->accept(*a);
  impl_->is_running = true;
  impl_->ioc.run();
  impl_->is_running = false;
}

void HttpServer::stop() {
  impl_->ioc.stop();
  impl_->workers->join();  // handlers still running finish (their answers are not sent)
}

bool HttpServer::running() const noexcept { return impl_->is_running.load(); }

bool HttpServer::tls() const noexcept { return impl_->ssl != nullptr; }

std::vector<core::NamedCount> HttpServer::counters() const {
  std::vector<core::NamedCount> out;
  for (std::size_t i = 0; i < kCounterNames.size(); ++i) out.push_back({kCounterNames[i], impl_->counts[i].load()});
  out.push_back({"http.open_connections", impl_->open.load()});
  out.push_back({"http.pending_handlers", impl_->pending.load()});
  return out;
}

}  // namespace overflowd::api

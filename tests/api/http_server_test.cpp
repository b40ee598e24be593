// The generic HTTP server (api/http_server.hpp) through its small interface: routes, the allow-list
// hook, Host, the checks made before a body is read, counters, and stop() from another thread.
// Requests are raw bytes on loopback sockets (what a client sends, not a client library's idea).
#include "api/http_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace overflowd::api {
namespace {

// One request on a fresh connection; the whole answer (the server closes or answers once).
std::string round_trip(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {};
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    // One answer with Content-Length: stop when it is all in.
    const auto end = out.find("\r\n\r\n");
    const auto cl = out.find("Content-Length: ");
    if (end != std::string::npos && cl != std::string::npos && cl < end) {
      const auto len = std::stoul(out.substr(cl + 16));
      if (out.size() >= end + 4 + len) break;
    }
  }
  ::close(fd);
  return out;
}

int status_of(const std::string& answer) { return answer.size() > 12 ? std::stoi(answer.substr(9, 3)) : 0; }

std::uint64_t counter(const HttpServer& s, const std::string& name) {
  for (const auto& c : s.counters())
    if (c.name == name) return c.value;
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

class Served : public ::testing::Test {
protected:
  void SetUp() override {
    ServerLimits limits;
    limits.workers = 2;
    limits.max_body = 1024;
    limits.hosts = {"receiver.example"};
    auto s = HttpServer::create(limits);
    ASSERT_TRUE(s.has_value()) << s.error();
    server = std::move(*s);
    server->add_route("GET", "/hello", [](const Request& req, Response& res) {
      res.set_content("hello " + req.get_param_value("name") + " from " + req.peer.to_string(), "text/plain");
      res.set_header("X-Test", "1");
    });
    server->add_route("POST", "/echo", [](const Request& req, Response& res) { res.set_content(req.body, "application/octet-stream"); });
    RouteOptions closed;
    closed.allow = [](const core::IpAddress&) { return false; };
    server->add_route("GET", "/closed", [](const Request&, Response& res) { res.set_content("no", "text/plain"); }, closed);
    RouteOptions any_host;
    any_host.check_host = false;
    server->add_route("GET", "/any", [](const Request&, Response& res) { res.set_content("any", "text/plain"); }, any_host);
    auto p = server->bind("127.0.0.1", 0);
    ASSERT_TRUE(p.has_value()) << p.error();
    port = *p;
    thread = std::thread([this] { server->run(); });
  }
  void TearDown() override {
    server->stop();
    thread.join();
  }

  std::unique_ptr<HttpServer> server;
  int port = 0;
  std::thread thread;
};

TEST_F(Served, RoutesAnswerWithTheirHandlersResponse) {
  const auto a = round_trip(port, "GET /hello?name=a%20b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(a), 200) << a;
  EXPECT_NE(a.find("hello a b from 127.0.0.1"), std::string::npos) << a;
  EXPECT_NE(a.find("X-Test: 1"), std::string::npos) << a;
  const auto e = round_trip(port, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(e), 200) << e;
  EXPECT_NE(e.find("\r\n\r\nabcde"), std::string::npos) << e;
}

TEST_F(Served, RefusalsBeforeTheBodyAreCounted) {
  EXPECT_EQ(status_of(round_trip(port, "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")), 404);
  const auto m = round_trip(port, "PUT /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(status_of(m), 405);
  EXPECT_NE(m.find("Allow: POST"), std::string::npos) << m;
  EXPECT_EQ(status_of(round_trip(port, "BREW /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")), 501);
  EXPECT_EQ(status_of(round_trip(port, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n")), 413);
  EXPECT_EQ(status_of(round_trip(port, "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "800\r\n" + std::string(0x800, 'x') + "\r\n0\r\n\r\n")), 413);
  EXPECT_EQ(status_of(round_trip(port, "GET /hello HTTP/1.1\r\nHost: evil.example\r\n\r\n")), 421);
  EXPECT_EQ(status_of(round_trip(port, "GET /hello HTTP/1.1\r\nHost: Receiver.Example:80\r\nConnection: close\r\n\r\n")), 200);
  EXPECT_EQ(status_of(round_trip(port, "GET /any HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")), 200);
  EXPECT_EQ(status_of(round_trip(port, "GET /closed HTTP/1.1\r\nHost: localhost\r\n\r\n")), 403);
  EXPECT_EQ(status_of(round_trip(port, "GET /hello HTTP/1.1\r\nHost: localhost\r\nContent-Encoding: gzip\r\n\r\n")), 415);
  EXPECT_EQ(status_of(round_trip(port, "GET /" + std::string(10'000, 'a'))), 431);
  EXPECT_EQ(counter(*server, "http.refused.not_found"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.method"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.not_implemented"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.body_too_large"), 2u);
  EXPECT_EQ(counter(*server, "http.refused.host"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.forbidden"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.encoding"), 1u);
  EXPECT_EQ(counter(*server, "http.refused.header_too_large"), 1u);
}

TEST(HttpServer, StopsBeforeRunAndFromAnotherThread) {
  auto s = HttpServer::create(ServerLimits{});
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE((*s)->bind("127.0.0.1", 0).has_value());
  (*s)->stop();
  (*s)->run();  // returns at once: stopped before it ran
  EXPECT_FALSE((*s)->running());
}

TEST(HttpServer, BadCertificateIsAnError) {
  auto s = HttpServer::create(ServerLimits{}, "/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().find("/nonexistent/cert.pem"), std::string::npos);
}

TEST(HttpParse, QueryAndHost) {
  const auto q = parse_query("a=1&b=x%2Fy&c&d=e+f&&bad=%zz");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"b", "x/y"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3].second, "e f");
  EXPECT_EQ(q[4].second, "%zz");
  EXPECT_EQ(host_of("Example.COM:8080"), "example.com");
  EXPECT_EQ(host_of("[::1]:443"), "::1");
  EXPECT_EQ(host_of("localhost."), "localhost");
  EXPECT_EQ(host_of("a b"), "");
  EXPECT_EQ(host_of("[::1"), "");
  EXPECT_EQ(host_of("h:port"), "");
  EXPECT_EQ(host_of(""), "");
}

}  // namespace
}  // namespace overflowd::api

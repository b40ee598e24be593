// The sender's HTTP transport: reports per second delivered over HTTP to a receiver on loopback
// with one transfer in flight (`max_in_flight` 1), the figure the worker's idle waits bound. The
// receiver is a minimal HTTP/1.1 server in this process (keep-alive, reads the request and its
// Content-Length body, answers 204 at once), so the figure is the transport's, not the receiving
// store's: overflowd's own receiver adds its verification and commit to every POST.
//   BM_HttpDeliver/in_flight:N   50 reports queued at once, timed until all are counted delivered
// Run: build/bench/http_sender_bench --benchmark_repetitions=5 (the median is the figure to quote).
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/ip_address.hpp"
#include "report/signer.hpp"
#include "sink/http_sender.hpp"

namespace {

using overflowd::sink::HttpOutcome;

// Answers every request on every connection with 204, one thread per connection.
class LoopbackServer {
public:
  LoopbackServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) std::abort();
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }

private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string buf;
    char chunk[16384];
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::read(c, chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      for (;;) {
        const auto end = buf.find("\r\n\r\n");
        if (end == std::string::npos) break;
        std::size_t length = 0;
        if (const auto at = buf.find("Content-Length: "); at != std::string::npos && at < end)
          length = std::stoul(buf.substr(at + 16));
        if (buf.size() < end + 4 + length) break;
        buf.erase(0, end + 4 + length);
        static constexpr std::string_view answer = "HTTP/1.1 204 No Content\r\n\r\n";
        if (::write(c, answer.data(), answer.size()) < 0) break;
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

void BM_HttpDeliver(benchmark::State& state) {
  constexpr int kReports = 50;
  LoopbackServer server;
  overflowd::sink::HttpSenderConfig config;
  config.http = true;
  config.http_port = server.port();
  config.max_in_flight = static_cast<std::size_t>(state.range(0));
  config.max_per_destination = config.max_in_flight;  // one destination here: all of them to it
  config.queue = kReports;
  auto sender = overflowd::sink::HttpSender::open(config);
  if (!sender) {
    state.SkipWithError(sender.error().c_str());
    return;
  }
  overflowd::report::SignedReport report;
  report.line = R"({"flowdata":{"data":{}},"signature":{"key":"00","signature":"00"}})" + std::string(600, ' ');
  const auto to = *overflowd::core::IpAddress::parse("127.0.0.1");
  std::uint64_t done = 0;
  for (auto _ : state) {
    for (int i = 0; i < kReports; ++i) (*sender)->send(to, report);
    done += kReports;
    while ((*sender)->count(0, HttpOutcome::delivered) + (*sender)->count(0, HttpOutcome::failed) < done)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(done));
  state.counters["delivered"] = static_cast<double>((*sender)->count(0, HttpOutcome::delivered));
  (*sender)->finish();
}
BENCHMARK(BM_HttpDeliver)->ArgName("in_flight")->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

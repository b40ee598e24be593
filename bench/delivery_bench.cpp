// Delivery costs, on loopback only:
//   BM_UdpDelivery       reports/s through DeliverySink -> Guard -> UdpSender to 127.0.0.1, budgets
//                        off, with a thread draining the receiving socket (counter "received").
//   BM_GuardAdmit        one Guard decision, budgets on (most refused) and off.
// The whole-process numbers (decode rate with delivery on and off) are in delivery_bench.sh.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "sink/delivery_sink.hpp"

namespace {

using namespace overflowd;

core::FlowRecord make_flow(std::uint32_t i) {
  core::FlowRecord f;
  f.src = core::IpAddress::v4(0x7f000002);  // 127.0.0.2
  f.dst = core::IpAddress::v4(0x7f000001);  // 127.0.0.1
  f.sport = static_cast<std::uint16_t>(1024 + i % 60000);
  f.dport = 80;
  f.protocol = 6;
  f.pcount = 10;
  f.stime_ms = 1'700'000'000'000 + i;
  f.etime_ms = f.stime_ms + 10;
  f.fields = core::kNetflowV5Fields;
  return f;
}

void BM_UdpDelivery(benchmark::State& state) {
  const int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
  const int big = 8 << 20;
  ::setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  timeval tv{0, 100'000};
  ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> received{0};
  std::thread drain([&] {
    char buf[2048];
    while (!stop.load(std::memory_order_relaxed))
      if (::recv(rx, buf, sizeof buf, 0) > 0) received.fetch_add(1, std::memory_order_relaxed);
  });

  sink::DeliveryConfig c;
  c.udp = true;
  c.to = sink::DeliverTo::dst;
  c.guard.global.reset();
  c.guard.per_destination.reset();
  c.guard.allow.push_back(*guard::Cidr::parse("127.0.0.0/8"));
  c.udp_sender.port = ntohs(a.sin_port);
  auto sink = sink::DeliverySink::open(c);
  if (!sink) {
    state.SkipWithError(sink.error().c_str());
    return;
  }
  const report::KeyPair keys = report::generate_keypair();
  report::Signer signer(keys);
  std::string message;
  report::ReportBuilder({}).build(make_flow(0), 1'700'000'000'000'000'000, message);
  report::SignedReport r;
  signer.sign(message, r);

  std::uint32_t i = 0;
  for (auto _ : state) (*sink)->write(make_flow(i++), r);
  (*sink)->flush();
  std::vector<core::NamedCount> counts;
  (*sink)->append_counters(counts);
  ::usleep(200'000);
  stop = true;
  drain.join();
  ::close(rx);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  for (const auto& n : counts)
    if (n.name == "udp.sent") state.counters["sent"] = static_cast<double>(n.value);
  state.counters["received"] = static_cast<double>(received.load());
}
BENCHMARK(BM_UdpDelivery)->Unit(benchmark::kMicrosecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);

void BM_GuardAdmit(benchmark::State& state) {
  guard::GuardConfig c;
  if (state.range(0) == 0) {
    c.global.reset();
    c.per_destination.reset();
  }
  guard::Guard g(c);
  std::uint32_t i = 0;
  std::int64_t t = 0;
  for (auto _ : state) {
    const core::FlowRecord f = make_flow(i);
    const core::IpAddress d = core::IpAddress::v4(0x08000000u + (i++ % 4096));  // 8.0.x.y: never sent
    benchmark::DoNotOptimize(g.admit(f, d, t += 1000));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel(state.range(0) ? "budgets on" : "budgets off");
}
BENCHMARK(BM_GuardAdmit)->Arg(1)->Arg(0)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();

// The DeliverySink's wiring, with a fake transport that records what it is given: nothing here
// touches the network.
#include "sink/delivery_sink.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <algorithm>

#include "core/encoding.hpp"
#include "report/keys.hpp"
#include "report/peer_keys.hpp"
#include "report/seal.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"
#include "report/document.hpp"
#include "report/verify.hpp"

namespace overflowd::sink {
namespace {

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

struct Sent {
  std::vector<std::string> to;
  int finished = 0;
};

class FakeTransport final : public Transport {
public:
  explicit FakeTransport(Sent& sent) : sent_(sent) {}
  void send(const core::IpAddress& to, const report::SignedReport& r) override {
    EXPECT_FALSE(r.line.empty());
    sent_.to.push_back(to.to_string());
  }
  void finish() override { ++sent_.finished; }
  void append_counters(std::vector<core::NamedCount>& out) const override { out.push_back({"fake.sent", sent_.to.size()}); }

private:
  Sent& sent_;
};

core::FlowRecord flow(std::string_view src, std::string_view dst, std::uint16_t sport = 1) {
  core::FlowRecord f;
  f.src = ip(src);
  f.dst = ip(dst);
  f.sport = sport;
  f.dport = 80;
  f.protocol = 6;
  f.pcount = 1;
  f.fields = core::kNetflowV5Fields;
  return f;
}

report::SignedReport sign(const core::FlowRecord& f) {
  static const report::KeyPair keys = report::generate_keypair();
  report::Signer signer(keys);
  std::string message;
  report::ReportBuilder({}).build(f, 1'700'000'000'000'000'000, message);
  report::SignedReport r;
  signer.sign(message, r);
  return r;
}

DeliveryConfig open_config(DeliverTo to) {
  DeliveryConfig c;
  c.to = to;
  c.guard.global.reset();
  c.guard.per_destination.reset();
  return c;
}

std::unique_ptr<DeliverySink> make(const DeliveryConfig& c, Sent& sent, int transports = 1) {
  std::vector<std::unique_ptr<Transport>> t;
  for (int i = 0; i < transports; ++i) t.push_back(std::make_unique<FakeTransport>(sent));
  return std::make_unique<DeliverySink>(c, std::move(t));
}

TEST(DeliverySink, SendsToTheEndpointsDeliverToNames) {
  const auto f = flow("1.1.1.1", "9.9.9.9");
  const auto r = sign(f);
  for (auto [to, want] : {std::pair{DeliverTo::src, std::vector<std::string>{"1.1.1.1"}},
                          std::pair{DeliverTo::dst, std::vector<std::string>{"9.9.9.9"}},
                          std::pair{DeliverTo::both, std::vector<std::string>{"1.1.1.1", "9.9.9.9"}}}) {
    Sent sent;
    auto sink = make(open_config(to), sent);
    sink->write_at(f, r, 0);
    EXPECT_EQ(sent.to, want);
  }
}

TEST(DeliverySink, OneGuardDecisionCoversEveryTransport) {
  DeliveryConfig c = open_config(DeliverTo::dst);
  c.guard.global = guard::Budget{1, 1};
  Sent sent;
  auto sink = make(c, sent, 3);
  sink->write_at(flow("1.1.1.1", "9.9.9.9", 1), sign(flow("1.1.1.1", "9.9.9.9", 1)), 0);
  sink->write_at(flow("1.1.1.1", "9.9.9.9", 2), sign(flow("1.1.1.1", "9.9.9.9", 2)), 0);
  EXPECT_EQ(sent.to.size(), 3u);  // the first report over all three transports; the second refused
  EXPECT_EQ(sink->guard().counters().count(guard::Verdict::admitted), 1u);
  EXPECT_EQ(sink->guard().counters().count(guard::Verdict::global_budget), 1u);
}

TEST(DeliverySink, SuppressedAddressesReachNoTransport) {
  Sent sent;
  auto sink = make(open_config(DeliverTo::both), sent);
  const auto f = flow("127.0.0.2", "10.1.1.1");
  sink->write_at(f, sign(f), 0);
  EXPECT_TRUE(sent.to.empty());
  std::vector<core::NamedCount> counts;
  sink->append_counters(counts);
  EXPECT_EQ(counts.front(), (core::NamedCount{"guard.admitted", 0}));
  EXPECT_NE(std::find(counts.begin(), counts.end(), core::NamedCount{"guard.suppressed.special_purpose", 2}), counts.end());
  EXPECT_NE(std::find(counts.begin(), counts.end(), core::NamedCount{"fake.sent", 0}), counts.end());
}

TEST(DeliverySink, Ipv4MappedEndpointsGoToTheirIpv4Address) {
  Sent sent;
  auto sink = make(open_config(DeliverTo::dst), sent);
  const auto f = flow("2001:4860::1", "::ffff:9.9.9.9");
  sink->write_at(f, sign(f), 0);
  EXPECT_EQ(sent.to, std::vector<std::string>{"9.9.9.9"});
}

TEST(DeliverySink, FlushFinishesTheTransportsOnce) {
  Sent sent;
  auto sink = make(open_config(DeliverTo::dst), sent, 2);
  sink->flush();
  sink->flush();
  EXPECT_EQ(sent.finished, 2);
}

// A SUSPICIOUS report (SignedReport::suspicious, set by the pipeline from the policy's decision)
// reaches the Guard as such: with the global bucket down to its reserved share, it passes where an
// INFORMATIONAL one is refused (global_budget_reserved).
TEST(DeliverySink, SuspiciousReportsUseTheReservedShare) {
  DeliveryConfig c = open_config(DeliverTo::dst);
  c.guard.global = guard::Budget{1e-9, 4};  // no refill within the test
  c.guard.suspicious_share = 0.5;           // informational: only while at least 1 + 0.5 x 4 tokens remain
  Sent sent;
  auto sink = make(c, sent);
  std::uint16_t port = 1;
  auto send = [&](bool suspicious) {
    const auto f = flow("1.1.1.1", "9.9.9." + std::to_string(port), port);
    ++port;
    auto r = sign(f);
    r.suspicious = suspicious;
    const auto before = sent.to.size();
    sink->write_at(f, r, 0);
    return sent.to.size() > before;
  };
  EXPECT_TRUE(send(false));   // 4 tokens
  EXPECT_TRUE(send(false));   // 3
  EXPECT_FALSE(send(false));  // 2: inside the reserve
  EXPECT_TRUE(send(true));    // SUSPICIOUS may take it
  EXPECT_TRUE(send(true));
  EXPECT_FALSE(send(true));   // and the global budget still holds
  std::vector<core::NamedCount> counters;
  sink->append_counters(counters);
  bool reserved = false;
  for (const auto& n : counters) reserved |= n.name == "guard.suppressed.global_budget_reserved" && n.value == 1;
  EXPECT_TRUE(reserved);
}

// A reload (SIGHUP) publishes new limits; the next write takes them whole.
TEST(DeliverySink, UpdateTakesNewListsBudgetsAndEndpointsAtTheNextWrite) {
  DeliveryConfig c = open_config(DeliverTo::dst);
  Sent sent;
  auto sink = make(c, sent);
  const auto f = flow("1.1.1.1", "9.9.9.9");
  const auto r = sign(f);
  sink->write_at(f, r, 0);
  EXPECT_EQ(sent.to, std::vector<std::string>{"9.9.9.9"});

  DeliveryLive next{DeliverTo::src, c.guard};
  next.guard.deny.push_back(*guard::Cidr::parse("1.1.1.0/24"));
  sink->update(next);
  sink->write_at(flow("1.1.1.1", "9.9.9.9", 2), sign(flow("1.1.1.1", "9.9.9.9", 2)), 0);
  EXPECT_EQ(sent.to.size(), 1u);  // to src now, and src is denied
  EXPECT_EQ(sink->guard().counters().count(guard::Verdict::denied), 1u);
  EXPECT_EQ(sink->updates_applied(), 1u);

  // A budget switched on by a reload holds from the next write; the counter says why.
  next.guard.deny.clear();
  next.guard.per_destination = guard::Budget{1e-9, 1};
  sink->update(next);
  for (std::uint16_t port = 3; port < 6; ++port) sink->write_at(flow("1.1.1.1", "9.9.9.9", port), sign(flow("1.1.1.1", "9.9.9.9", port)), 0);
  EXPECT_EQ(sent.to.size(), 2u);
  EXPECT_EQ(sink->guard().counters().count(guard::Verdict::per_destination_budget), 2u);
}

// Workers write while the reload thread publishes: every write sees one whole snapshot (run under
// ThreadSanitizer: delivery_sink_test is labelled threads).
TEST(DeliverySink, UpdatesWhileWorkersWriteAreWhole) {
  DeliveryConfig c = open_config(DeliverTo::dst);
  Sent sent;
  auto sink = make(c, sent);
  std::atomic<bool> done{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w)
    workers.emplace_back([&, w] {
      std::uint16_t port = static_cast<std::uint16_t>(1000 * (w + 1));
      while (!done.load()) {
        const auto f = flow("1.1.1.1", "9.9.9.9", ++port);
        sink->write_at(f, sign(f), 0);
      }
    });
  for (int i = 0; i < 200; ++i) {
    DeliveryLive next{i % 2 ? DeliverTo::src : DeliverTo::dst, c.guard};
    if (i % 3 == 0) next.guard.deny.push_back(*guard::Cidr::parse("9.9.9.0/24"));
    sink->update(next);
  }
  DeliveryLive last{DeliverTo::dst, c.guard};
  last.guard.deny.push_back(*guard::Cidr::parse("9.9.9.0/24"));
  sink->update(last);
  done.store(true);
  for (auto& t : workers) t.join();
  const auto before = sent.to.size();
  const auto f = flow("1.1.1.1", "9.9.9.9", 1);
  sink->write_at(f, sign(f), 0);
  EXPECT_EQ(sent.to.size(), before);  // the last snapshot holds: dst only, and denied
}

// Review (issue 15, item 5): sealing signs each report again with its recipient, once per sealed
// (report, endpoint) and never more; the plain path sends the pipeline's signed report as it is.
class Recording final : public Transport {
public:
  void send(const core::IpAddress&, const report::SignedReport& r) override {
    sealed.push_back(r.sealed);
    datagrams.push_back(r.datagram);
    lines.push_back(r.line);
  }
  void finish() override {}
  void append_counters(std::vector<core::NamedCount>&) const override {}
  std::vector<bool> sealed;
  std::vector<std::string> datagrams, lines;
};

TEST(DeliverySink, SealingSignsOncePerSealedEndpointAndThePlainPathNotAtAll) {
  const auto x = report::generate_x25519();
  auto pins = report::PeerKeys::parse(report::as_bytes("9.9.9.0/24 " + core::to_hex(x.public_key) + "\n"));
  ASSERT_TRUE(pins) << pins.error();
  for (const Encrypt mode : {Encrypt::off, Encrypt::auto_, Encrypt::require}) {
    DeliveryConfig c = open_config(DeliverTo::both);
    c.encryption.mode = mode;
    c.encryption.signing = report::generate_keypair();
    std::vector<std::unique_ptr<Transport>> t;
    t.push_back(std::make_unique<Recording>());
    t.push_back(std::make_unique<Recording>());  // two transports: still one signature per endpoint
    auto* rec = static_cast<Recording*>(t[0].get());
    DeliverySink sink(c, std::move(t));
    sink.set_peer_keys(*pins);
    // One endpoint with a pinned key (9.9.9.9), one without (1.1.1.1), ten reports; fake transports.
    for (std::uint16_t i = 0; i < 10; ++i) {
      const auto f = flow("1.1.1.1", "9.9.9.9", static_cast<std::uint16_t>(i + 1));
      sink.write_at(f, sign(f), 1'000'000'000);
    }
    SCOPED_TRACE(static_cast<int>(mode));
    EXPECT_EQ(sink.signatures(), mode == Encrypt::off ? 0u : 10u);
    const std::size_t sealed = static_cast<std::size_t>(std::count(rec->sealed.begin(), rec->sealed.end(), true));
    EXPECT_EQ(sealed, mode == Encrypt::off ? 0u : 10u);
    EXPECT_EQ(rec->sealed.size(), mode == Encrypt::require ? 10u : 20u);
    for (std::size_t k = 0; k < rec->sealed.size(); ++k) {
      if (!rec->sealed[k]) continue;
      // Transports not known (fakes): both sealed forms are made, from the one signature.
      EXPECT_TRUE(report::looks_sealed_datagram(rec->datagrams[k]));
      EXPECT_TRUE(report::looks_sealed(rec->lines[k]));
      auto opened = report::open_sealed_datagram(report::as_bytes(rec->datagrams[k]), [&] {
        report::Keyring r;
        r.add(x);
        return r;
      }(), 0);
      ASSERT_TRUE(opened);
      EXPECT_NE(opened->report.find("\"key\":\"" + report::public_key_hex(c.encryption.signing)), std::string::npos);
    }
  }
}

// A datagram transport that records what it would send (UdpSender's choice of payload).
class Datagrams final : public Transport {
public:
  void send(const core::IpAddress& to, const report::SignedReport& r) override {
    payloads.push_back({to.to_string(), std::string(r.sealed && !r.datagram.empty() ? std::string_view(r.datagram)
                                                                                       : r.compact())});
  }
  [[nodiscard]] bool datagram() const noexcept override { return true; }
  bool send_bytes(const core::IpAddress& to, std::string_view payload) override {
    statements.push_back({to.to_string(), std::string(payload)});
    return true;
  }
  void finish() override {}
  void append_counters(std::vector<core::NamedCount>&) const override {}
  std::vector<std::pair<std::string, std::string>> payloads, statements;
};

TEST(DeliverySink, ARotationThatDoesNotFitADatagramIsLeftOutThereAndSentOnItsOwn) {
  const auto old_keys = report::generate_keypair(), new_keys = report::generate_keypair();
  const std::string statement = report::build_rotation(old_keys, new_keys, 1'700'000'000);
  const auto member = report::rotation_member(report::as_bytes(statement));
  ASSERT_TRUE(member);
  const auto x = report::generate_x25519();
  auto pins = report::PeerKeys::parse(report::as_bytes("9.9.9.0/24 " + core::to_hex(x.public_key) + "\n"));
  ASSERT_TRUE(pins);
  report::Keyring ring;
  ring.add(x);
  for (const Encrypt mode : {Encrypt::off, Encrypt::require}) {
    SCOPED_TRACE(static_cast<int>(mode));
    DeliveryConfig c = open_config(DeliverTo::dst);
    c.encryption.mode = mode;
    c.encryption.signing = new_keys;
    c.rotation = {statement, new_keys};
    std::vector<std::unique_ptr<Transport>> t;
    t.push_back(std::make_unique<Datagrams>());
    t.push_back(std::make_unique<Recording>());  // HTTP: the report as it is
    auto* udp = static_cast<Datagrams*>(t[0].get());
    auto* http = static_cast<Recording*>(t[1].get());
    DeliverySink sink(c, std::move(t));
    sink.set_peer_keys(*pins);
    // A long contact: with the rotation the datagram passes 1,200 bytes, without it it fits.
    // (Sealed, the datagram holds the message raw: a longer contact passes it.)
    const std::size_t contact = mode == Encrypt::off ? 150 : 200;
    report::ReportConfig rc{{std::string(contact, 'e'), std::string(contact, 'i')}};
    rc.rotation = *member;
    rc.rotation_until_ns = INT64_MAX;
    report::Signer signer(new_keys);
    const std::int64_t hour = DeliverySink::kStatementInterval;
    const std::int64_t times[] = {1, 2, hour / 2, hour + 2, hour + 3};
    for (std::size_t i = 0; i < std::size(times); ++i) {
      const auto f = flow("1.1.1.1", "9.9.9.9", static_cast<std::uint16_t>(i + 1));
      std::string message;
      report::ReportBuilder(rc).build(f, 1'700'000'000'000'000'000, message);
      report::SignedReport r;
      signer.sign(message, r);
      sink.write_at(f, r, times[i]);
    }
    ASSERT_EQ(udp->payloads.size(), 5u);
    ASSERT_EQ(http->lines.size(), 5u);
    for (const auto& [to, payload] : udp->payloads) {
      EXPECT_EQ(to, "9.9.9.9");
      EXPECT_LE(payload.size(), kMaxUdpPayload);
      std::string compact = payload;
      if (mode == Encrypt::require) {
        auto opened = report::open_sealed_datagram(report::as_bytes(payload), ring, 0);
        ASSERT_TRUE(opened);
        compact = opened->report;
      }
      auto v = report::verify_report(compact);
      ASSERT_TRUE(v) << compact;
      EXPECT_EQ(v->key, new_keys.public_key);
      EXPECT_FALSE(v->report["metadata"].contains("rotation"));
      EXPECT_EQ(v->report["metadata"].contains("recipient"), mode == Encrypt::require);
    }
    // HTTP got the report with its rotation (sealed: inside the envelope).
    if (mode == Encrypt::off) {
      for (const auto& line : http->lines) EXPECT_NE(line.find("\"rotation\":{"), std::string::npos);
    }
    // The statement: once at first, not again within the hour, again after it.
    ASSERT_EQ(udp->statements.size(), 2u);
    for (const auto& [to, payload] : udp->statements) {
      EXPECT_EQ(to, "9.9.9.9");
      EXPECT_EQ(payload, statement);
    }
    std::vector<core::NamedCount> counts;
    sink.append_counters(counts);
    auto count = [&](std::string_view name) {
      for (const auto& n : counts)
        if (n.name == name) return n.value;
      return std::uint64_t{99999};
    };
    EXPECT_EQ(count("rotation.udp_left_out"), 5u);
    EXPECT_EQ(count("rotation.udp_statements"), 2u);
  }
}

TEST(DeliverySink, ARotationThatFitsStaysInTheDatagram) {
  const auto old_keys = report::generate_keypair(), new_keys = report::generate_keypair();
  const std::string statement = report::build_rotation(old_keys, new_keys, 1'700'000'000);
  const auto member = report::rotation_member(report::as_bytes(statement));
  ASSERT_TRUE(member);
  DeliveryConfig c = open_config(DeliverTo::dst);
  c.rotation = {statement, new_keys};
  std::vector<std::unique_ptr<Transport>> t;
  t.push_back(std::make_unique<Datagrams>());
  auto* udp = static_cast<Datagrams*>(t[0].get());
  DeliverySink sink(c, std::move(t));
  report::ReportConfig rc{};  // no contact: a plain compact report with the rotation fits
  rc.rotation = *member;
  rc.rotation_until_ns = INT64_MAX;
  const auto f = flow("1.1.1.1", "9.9.9.9");
  std::string message;
  report::ReportBuilder(rc).build(f, 1'700'000'000'000'000'000, message);
  report::SignedReport r;
  report::Signer(new_keys).sign(message, r);
  ASSERT_LE(r.compact().size(), kMaxUdpPayload);
  sink.write_at(f, r, 1);
  ASSERT_EQ(udp->payloads.size(), 1u);
  EXPECT_EQ(udp->payloads[0].second, r.compact());
  EXPECT_TRUE(udp->statements.empty());
}

}  // namespace
}  // namespace overflowd::sink

// Signed reports for the receiver's unit tests, made with the sender's own builder and signer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "core/flow_record.hpp"
#include "receive/ingest.hpp"
#include "receive/item.hpp"
#include "report/keys.hpp"
#include "report/report_builder.hpp"
#include "report/signer.hpp"

namespace overflowd::receive::testing {

inline constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;  // a fixed "now"

inline report::KeyPair key(std::uint8_t n) {
  report::Seed seed{};
  seed.fill(n);
  return report::keypair_from_seed(seed);
}

struct FlowSpec {
  const char* saddr = "192.0.2.1";
  const char* daddr = "198.51.100.7";
  std::uint16_t sport = 40000, dport = 80;
  std::uint8_t protocol = 6;
  const char* exporter = "203.0.113.1";
  std::int64_t stime_ms = kNow / 1'000'000 - 5000;
  std::int64_t etime_ms = kNow / 1'000'000 - 1000;
};

inline report::SignedReport signed_report(const report::KeyPair& k, const std::string& email,
                                          const std::string& identity, const FlowSpec& spec = {},
                                          std::int64_t made_ns = kNow, const std::string& rotation = {}) {
  core::FlowRecord f;
  f.src = *core::IpAddress::parse(spec.saddr);
  f.dst = *core::IpAddress::parse(spec.daddr);
  f.exporter = *core::IpAddress::parse(spec.exporter);
  f.nexthop = core::IpAddress::v4(0);
  f.sport = spec.sport;
  f.dport = spec.dport;
  f.protocol = spec.protocol;
  f.pcount = 10;
  f.bcount = 1000;
  f.stime_ms = spec.stime_ms;
  f.etime_ms = spec.etime_ms;
  f.source_version = 5;
  f.fields = core::kNetflowV5Fields;
  report::ReportConfig config{report::Contact{email, identity}};
  config.rotation = rotation;  // metadata.rotation (report/document.hpp rotation_member), when given
  config.rotation_until_ns = INT64_MAX;
  report::ReportBuilder builder(config);
  std::string message;
  builder.build(f, made_ns, message);
  report::Signer signer(k);
  report::SignedReport out;
  signer.sign(message, out);
  return out;
}

inline Item item(std::string_view raw, Input input = Input::udp, std::int64_t received_ns = kNow) {
  return Item{Arrival{input, "127.0.0.1", received_ns}, ingest(raw, received_ns, SkewPolicy{}), SpoofStatus::not_mine};
}

// A fresh database path in a temporary directory, removed at the end of the test.
struct TempDb {
  std::filesystem::path dir;
  TempDb() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "overflowd-store-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
  [[nodiscard]] std::string path() const { return (dir / "receive.db").string(); }
};

}  // namespace overflowd::receive::testing

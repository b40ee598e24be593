// The sender's configuration: plain structs with defaults, filled from a TOML file and then from
// the command line (flags win), and validated once before anything starts.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "report/report_builder.hpp"
#include "sample/sampler.hpp"
#include "source/udp_source.hpp"

namespace overflowd::app {

struct RunConfig {
  std::string pcap_file;  // empty: live UDP
  source::UdpSourceConfig udp;
  sample::SamplerConfig sampler;
  report::Contact contact;
  std::string key_path;     // empty: an ephemeral key, with a warning
  std::string output_file;  // empty: stdout
  bool quiet = false;
};

// "0.00001", "1e-5", "1": a number in [0, 1]; anything else is an error that says what was given.
[[nodiscard]] std::expected<double, std::string> parse_rate(std::string_view text);
[[nodiscard]] std::expected<std::uint16_t, std::string> parse_port(std::string_view what, std::string_view text);

// Fills `config` from a TOML file:
//   [source]  file = "x.pcap" | udp_port = 7777, bind = "::"
//   [sampler] rate = 1e-5
//   [report]  key = "/var/lib/overflowd/key"
//   [contact] email = "noc@example.net", identity = "Example Net"
//   [output]  file = "/var/log/overflowd/reports.jsonl"
[[nodiscard]] std::expected<void, std::string> load_toml(const std::string& path, RunConfig& config);

[[nodiscard]] std::expected<void, std::string> validate(const RunConfig& config);

}  // namespace overflowd::app

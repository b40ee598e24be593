// The sender's configuration: plain structs with defaults, filled from a TOML file and then from
// the command line (flags win), and validated once before anything starts.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "app/settings.hpp"
#include "decode/template_cache.hpp"
#include "report/report_builder.hpp"
#include "app/log_settings.hpp"
#include "sample/sampler.hpp"
#include "sink/delivery_sink.hpp"
#include "sink/kafka_sink.hpp"
#include "source/kafka_source.hpp"
#include "source/udp_source.hpp"

namespace overflowd::app {

struct RunConfig {
  std::string pcap_file;  // empty: live UDP
  source::UdpSourceConfig udp;
  bool af_packet = false;       // --udp-engine af_packet: an AF_PACKET TPACKET_V3 ring instead of recvmmsg
  std::string udp_interface;    // --udp-interface (af_packet); empty: the --bind address's interface
  unsigned workers = 0;   // live UDP: worker threads, each with its own SO_REUSEPORT socket; a file: signing threads; 0: one per core
  sample::SamplerConfig sampler;
  report::Contact contact;
  std::string key_path;     // empty: an ephemeral key, with a warning
  // metadata.rotation: my latest rotation statement (overflowd rotate-key), carried in my reports
  // for rotation_period_s after the statement's time ([report] rotation, rotation_period).
  std::string rotation_file;
  std::int64_t rotation_period_s = 30 * 86'400;
  std::string output_file;  // empty: stdout
  bool quiet = false;
  sink::DeliveryConfig delivery;  // off unless --deliver (or [delivery] deliver) names a transport
  std::string opt_out_file;       // one prefix per line; read into delivery.guard.opt_out by load_opt_out
  decode::TemplateCacheLimits templates;  // v9 / IPFIX template caps for the whole process ([templates])
  std::string policy_file;        // the suspicion policy (--policy, [sampler] policy); empty: none
  double suspicious_share = 0.25; // with a policy: the Guard's reserve for SUSPICIOUS reports ([delivery])
  std::string user;  // --user: as root, switch to this user once the sockets are bound
  std::optional<std::int64_t> report_time_ns;  // --report-time (tests only): every report's time
  std::string metrics_listen;  // --metrics / [metrics] listen: ADDRESS:PORT serving GET /metrics; empty: off
  source::KafkaSourceConfig kafka;  // --kafka-flows / [source.kafka]: flows from Kafka instead of UDP (brokers set)
  bool deliver_kafka = false;       // --deliver kafka: reports to Kafka (kafka_reports)
  sink::KafkaSinkConfig kafka_reports;  // --kafka-reports, --kafka-reports-topic, ... ([delivery] kafka_reports*)
  LogSettings log;             // [log] format, level (app/log_settings.hpp)
};

// "0.00001", "1e-5", "1": a number in [0, 1]; anything else is an error that says what was given.
[[nodiscard]] std::expected<double, std::string> parse_rate(std::string_view text);
// Path-coherent sampling (sample/sampler.hpp): the share in [0, 1] and the public key (32 hex
// digits). `what` names the flag or TOML key in the message. Set into `config.sampler`.
[[nodiscard]] std::expected<void, std::string> set_coherent_share(sample::SamplerConfig& config, std::string_view what,
                                                                  std::string_view text);
[[nodiscard]] std::expected<void, std::string> set_coherent_key(sample::SamplerConfig& config, std::string_view what,
                                                                std::string_view text);
[[nodiscard]] std::expected<std::uint16_t, std::string> parse_port(std::string_view what, std::string_view text);
// --workers: 1 to kMaxWorkers.
inline constexpr unsigned kMaxWorkers = 256;
[[nodiscard]] std::expected<unsigned, std::string> parse_workers(std::string_view what, std::string_view text);
// --receive-buffer: bytes, 64 KiB to 1 GiB; a K, M or G suffix (binary) is taken.
[[nodiscard]] std::expected<int, std::string> parse_receive_buffer(std::string_view what, std::string_view text);
// The CPUs this process may run on (its affinity mask), at least 1: the default worker count.
[[nodiscard]] unsigned available_cores() noexcept;

// Fills `config` from a TOML file:
//   [source]  file = "x.pcap" | udp_port = 7777, bind = "::", workers = 2, receive_buffer = "32M"
//   [sampler] rate = 1e-5, policy = "/etc/overflowd/policy.toml",
//             coherent_share = 0, coherent_key = "<32 hex digits>"
//   [templates] max_domains = 4096, max_templates = 65536, max_templates_per_domain = 1024,
//             max_fields_per_template = 128, max_record_length = 16384, max_samplers_per_domain = 256,
//             max_domains_per_exporter = 256, max_templates_per_exporter = 4096, template_timeout = 0
//   [report]  key = "/var/lib/overflowd/key"
//   [contact] email = "noc@example.net", identity = "Example Net"
//   [output]  file = "/var/log/overflowd/reports.jsonl"
//   [delivery] deliver = ["udp", "http", "https"], to = "both", report_port = 65535, ...
// (every key of sender_settings(); any other section or key is an error).
// A file over kMaxConfigBytes is refused unread.
[[nodiscard]] std::expected<void, std::string> load_toml(const std::string& path, RunConfig& config);
// The same over TOML text already read; `name` stands for the file in messages. Never throws on
// any text (syntax errors become the error string).
[[nodiscard]] std::expected<void, std::string> load_toml_text(std::string_view text, const std::string& name,
                                                              RunConfig& config);
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

// The sender's settings, one row each (app/settings.hpp): its flag, its section and key in the
// --config file, its help, and how a value is checked and set. The flags, the file's sections and
// keys and the foot of --help (toml_keys_help) all come from this table, so each setting is
// written once. The [delivery] rows are the flags' group "Delivery" in --help.
using SenderSetting = Setting<RunConfig>;
[[nodiscard]] const std::vector<SenderSetting>& sender_settings();
// The file's sections and keys as text, for the foot of `overflowd --help`.
[[nodiscard]] std::string toml_keys_help();

// Sets the [delivery] setting `key` of sender_settings() from one value.
[[nodiscard]] std::expected<void, std::string> set_delivery_option(RunConfig& config, std::string_view key,
                                                                   std::string_view value, std::string_view what);
// Empties a list key (so that flags replace what a config file listed); other keys: nothing.
void clear_delivery_option(RunConfig& config, std::string_view key);

[[nodiscard]] std::expected<void, std::string> validate(const RunConfig& config);

// Reads config.opt_out_file (when set) into config.delivery.guard.opt_out.
[[nodiscard]] std::expected<void, std::string> load_opt_out(RunConfig& config);

}  // namespace overflowd::app

#include "app/config.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <sched.h>
#include <vector>

#include "core/encoding.hpp"
#include "core/parse.hpp"
#include "app/toml.hpp"
#include "io/text_file.hpp"
#include "report/json_writer.hpp"

namespace overflowd::app {

namespace {

std::expected<double, std::string> rate_value(std::string_view what, std::string_view text) {
  const auto v = core::parse_real(text, -HUGE_VAL, HUGE_VAL);
  if (!v)
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a number (want a probability scale in [0, 1], e.g. 0.00001)");
  if (*v < 0 || *v > 1)
    return std::unexpected(std::string(what) + ": " + std::string(text) + " is outside [0, 1] (the chance per packet that a flow is reported)");
  return *v;
}

}  // namespace

std::expected<double, std::string> parse_rate(std::string_view text) { return rate_value("--rate", text); }

std::expected<void, std::string> set_coherent_share(sample::SamplerConfig& config, std::string_view what,
                                                   std::string_view text) {
  const auto v = core::parse_real(text, 0, 1);
  if (!v) return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a number in [0, 1] (the share of the report probability decided by the keyed hash)");
  config.coherent_share = *v;
  return {};
}

std::expected<void, std::string> set_coherent_key(sample::SamplerConfig& config, std::string_view what,
                                                 std::string_view text) {
  std::array<std::uint8_t, 16> key{};
  if (!core::from_hex(text, key))
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not 32 hex digits (a public 16-byte key)");
  std::copy(key.begin(), key.end(), config.coherent_key.begin());
  return {};
}

std::expected<std::uint16_t, std::string> parse_port(std::string_view what, std::string_view text) {
  const auto v = core::parse_whole<std::uint16_t>(text, 0, 65535);
  if (!v) return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a port number (0 to 65535)");
  return *v;
}

std::expected<unsigned, std::string> parse_workers(std::string_view what, std::string_view text) {
  const auto v = core::parse_whole<unsigned>(text, 1, kMaxWorkers);
  if (!v)
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a worker count (1 to " +
                           std::to_string(kMaxWorkers) + ")");
  return *v;
}

std::expected<int, std::string> parse_receive_buffer(std::string_view what, std::string_view text) {
  const auto v = core::parse_size(text, 64ull << 10, 1ull << 30);
  if (!v)
    return std::unexpected(std::string(what) + ": '" + std::string(text) +
                           "' is not a buffer size from 64K to 1G (bytes, or with a K, M or G suffix)");
  return static_cast<int>(*v);
}

unsigned available_cores() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

namespace {

std::string quoted(std::string_view v) { return "'" + std::string(v) + "'"; }

std::expected<std::uint64_t, std::string> parse_count(std::string_view what, std::string_view text, std::uint64_t lo,
                                                      std::uint64_t hi) {
  const auto v = core::parse_whole<std::uint64_t>(text, lo, hi);
  if (!v)
    return std::unexpected(std::string(what) + ": " + quoted(text) + " is not a whole number from " + std::to_string(lo) +
                           " to " + std::to_string(hi));
  return *v;
}

std::expected<double, std::string> parse_positive(std::string_view what, std::string_view text) {
  const auto v = core::parse_real(text, 0, 1e9);
  if (!v || *v <= 0) return std::unexpected(std::string(what) + ": " + quoted(text) + " is not a positive number (or 'off')");
  return *v;
}

std::expected<bool, std::string> parse_bool(std::string_view what, std::string_view text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  return std::unexpected(std::string(what) + ": " + quoted(text) + " is not true or false");
}

}  // namespace

namespace {

using Result = SettingResult;
using V = std::string_view;
constexpr const char* kDelivery = "delivery";

// `what: why`: every message about a delivery setting names the flag or the file's key first.
std::unexpected<std::string> fail(std::string_view what, const std::string& why) {
  return std::unexpected(std::string(what) + ": " + why);
}

std::expected<std::uint16_t, std::string> port_value(std::string_view what, std::string_view value) {
  auto p = parse_count(what, value, 1, 65535);
  if (!p) return std::unexpected(p.error());
  return static_cast<std::uint16_t>(*p);
}

// A budget: reports per second, or "off". Its burst stays as it was (or the default `burst`).
Result set_budget(std::optional<guard::Budget>& budget, double burst, std::string_view value, std::string_view what) {
  if (value == "off") {
    budget.reset();
    return {};
  }
  auto r = parse_positive(what, value);
  if (!r) return std::unexpected(r.error());
  budget = guard::Budget{*r, budget ? budget->burst : burst};
  return {};
}

Result set_burst(std::optional<guard::Budget>& budget, std::string_view value, std::string_view what) {
  auto n = parse_count(what, value, 1, 1'000'000);
  if (!n) return std::unexpected(n.error());
  if (budget) budget->burst = static_cast<double>(*n);  // with the budget off there is nothing to burst
  return {};
}

// A row whose value is a whole number in [lo, hi], handed to `put`.
SenderSetting whole(const char* key, const char* flag, const char* value_name, const char* help, std::uint64_t lo,
                    std::uint64_t hi, void (*put)(RunConfig&, std::uint64_t)) {
  return {flag, kDelivery, key, value_name, help, SettingKind::scalar,
          [lo, hi, put](RunConfig& c, std::string_view value, std::string_view what) -> Result {
            auto n = parse_count(what, value, lo, hi);
            if (!n) return std::unexpected(n.error());
            put(c, *n);
            return {};
          }};
}

// A repeatable row of CIDR blocks appended to the list `of` gives.
SenderSetting cidr_list(const char* key, const char* flag, const char* help, std::vector<guard::Cidr>& (*of)(RunConfig&)) {
  return {flag, kDelivery, key, "CIDR", help, SettingKind::scalars,
          [of](RunConfig& c, std::string_view value, std::string_view what) -> Result {
            auto cidr = guard::Cidr::parse(value);
            if (!cidr) return fail(what, cidr.error());
            of(c).push_back(*cidr);
            return {};
          },
          [of](RunConfig& c) { of(c).clear(); }};
}

constexpr const char* kDeliveryGroup = "Delivery (opt-in; safety limits on by default)";

// The [delivery] rows (the flags' group "Delivery" in --help).
std::vector<SenderSetting> delivery_settings() {
  std::vector<SenderSetting> table = {
      {"--deliver", kDelivery, "deliver", "LIST", "Send reports to the flows' endpoints over udp,http,https, and/or to Kafka (kafka: --kafka-reports; default: none)",
       SettingKind::scalars,
       [](RunConfig& c, V value, V what) -> Result {
         auto& d = c.delivery;
         std::string_view rest = value;
         while (!rest.empty()) {
           const auto comma = rest.find(',');
           std::string_view item = rest.substr(0, comma);
           rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
           while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
           while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
           if (item == "udp") d.udp = true;
           else if (item == "http") d.http = true;
           else if (item == "https") d.https = true;
           else if (item == "kafka") c.deliver_kafka = true;
           else if (item == "none") d.udp = d.http = d.https = c.deliver_kafka = false;
           else return fail(what, quoted(item) + " is not a transport (want udp, http, https, kafka, or none)");
         }
         return {};
       },
       [](RunConfig& c) { c.delivery.udp = c.delivery.http = c.delivery.https = c.deliver_kafka = false; }},
      {"--deliver-to", kDelivery, "to", "src|dst|both", "Which endpoints get the report (default both)", SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         auto& d = c.delivery;
         if (value == "src") d.to = sink::DeliverTo::src;
         else if (value == "dst") d.to = sink::DeliverTo::dst;
         else if (value == "both") d.to = sink::DeliverTo::both;
         else return fail(what, quoted(value) + " is not src, dst or both");
         return {};
       }},
      {"--encrypt", kDelivery, "encrypt", "off|auto|require",
       "Seal reports to the endpoint network's X25519 key (docs/manual.md, Encryption): auto seals where a key is known and sends plain otherwise, require never sends plain (default off)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         auto& e = c.delivery.encryption.mode;
         if (value == "off") e = sink::Encrypt::off;
         else if (value == "auto") e = sink::Encrypt::auto_;
         else if (value == "require") e = sink::Encrypt::require;
         else return fail(what, quoted(value) + " is not off, auto or require");
         return {};
       }},
      {"--peer-keys", kDelivery, "peer_keys", "FILE", "Pinned keys of endpoint networks for --encrypt: lines \"CIDR x25519-hex [identity-hex]\", longest prefix wins",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty()) return fail(what, "empty path");
         c.delivery.encryption.peer_keys_path = std::string(value);
         return {};
       }},
      {"--discovery", kDelivery, "discovery", "off|dns|http|https",
       "With --encrypt: find endpoint networks' keys (docs/manual.md, Discovery): dns reads the _overflowd TXT record of the address's /24 or /48 reverse zone, http/https GET the address's /.well-known/overflowd; bounded by --discovery-budget (default off)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         auto& m = c.delivery.encryption.discovery.lookups.mode;
         if (value == "off") m = discovery::Mode::off;
         else if (value == "dns") m = discovery::Mode::dns;
         else if (value == "http") m = discovery::Mode::http;
         else if (value == "https") m = discovery::Mode::https;
         else return fail(what, quoted(value) + " is not off, dns, http or https");
         return {};
       }},
      whole("discovery_port", "--discovery-port", "PORT", "Port of the document's GET for --discovery http|https (default 80 or 443)", 1,
            65535, [](RunConfig& c, std::uint64_t v) { c.delivery.encryption.discovery.lookups.port = static_cast<std::uint16_t>(v); }),
      {"--discovery-budget", kDelivery, "discovery_budget", "RATE", "Discovery lookups per second at most, a token bucket (default 10)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         auto r = parse_positive(what, value);
         if (!r) return std::unexpected(r.error());
         c.delivery.encryption.discovery.lookups.budget.per_second = *r;
         return {};
       }},
      whole("discovery_burst", "--discovery-burst", "N", "Burst of the discovery budget (default 10)", 1, 1'000'000,
            [](RunConfig& c, std::uint64_t v) { c.delivery.encryption.discovery.lookups.budget.burst = static_cast<double>(v); }),
      whole("discovery_cache", "--discovery-cache", "N",
            "Discovery results kept, least recently used first out (default 10000)", 1, 10'000'000,
            [](RunConfig& c, std::uint64_t v) { c.delivery.encryption.discovery.lookups.cache = v; }),
      whole("discovery_in_flight", "--discovery-in-flight", "N", "Discovery lookups queued or running at most (default 16)", 1, 1024,
            [](RunConfig& c, std::uint64_t v) { c.delivery.encryption.discovery.lookups.max_in_flight = v; }),
      {"--discovery-resolver", kDelivery, "discovery_resolver", "ADDRESS:PORT",
       "DNS server for --discovery dns, e.g. 127.0.0.1:53 or [::1]:53 (default: the system's, /etc/resolv.conf)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty()) return fail(what, "empty address");
         c.delivery.encryption.discovery.resolver = std::string(value);
         return {};
       }},
      {"--discovery-trust", kDelivery, "discovery_trust", "FILE",
       "Keep discovery's trust on first use (prefix, identity, first and last seen) in FILE across restarts; a file that does not parse refuses the start (default: none, in memory only: a restart trusts any identity afresh)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty()) return fail(what, "empty path");
         c.delivery.encryption.discovery.trust_file = std::string(value);
         return {};
       }},
      {"--report-port", kDelivery, "report_port", "PORT", "UDP port reports are sent to; flows of this port are never reported (default 65535)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         auto p = port_value(what, value);
         if (!p) return std::unexpected(p.error());
         c.delivery.udp_sender.port = c.delivery.guard.report_port = c.sampler.report_port = *p;
         return {};
       }},
      {"--source-address", kDelivery, "source_address", "ADDRESS", "Send from this local address (one IPv4 and/or one IPv6; repeatable)",
       SettingKind::scalars,
       [](RunConfig& c, V value, V what) -> Result {
         auto& d = c.delivery;
         const auto a = core::IpAddress::parse(value);
         if (!a) return fail(what, quoted(value) + " is not an IP address");
         auto& slot = a->is_v4() ? d.udp_sender.source_v4 : d.udp_sender.source_v6;
         if (slot && *slot != *a)
           return fail(what, "one source address per family (" + slot->to_string() + " and " + a->to_string() + ")");
         slot = *a;
         d.http_sender.source_v4 = d.udp_sender.source_v4;
         d.http_sender.source_v6 = d.udp_sender.source_v6;
         return {};
       },
       [](RunConfig& c) {
         c.delivery.udp_sender.source_v4.reset();
         c.delivery.udp_sender.source_v6.reset();
       }},
      {"--own-address", kDelivery, "own_address", "ADDRESS",
       "Also this host's (flows of it are never reported; its interfaces' addresses are found at start; repeatable)",
       SettingKind::scalars,
       [](RunConfig& c, V value, V what) -> Result {
         // This host's addresses that its interfaces do not show (NAT, a proxy): flows of them are not reported.
         const auto a = core::IpAddress::parse(value);
         if (!a) return fail(what, quoted(value) + " is not an IP address");
         c.sampler.own_addresses.push_back(*a);
         return {};
       },
       [](RunConfig& c) { c.sampler.own_addresses.clear(); }},
      whole("http_port", "--http-port", "PORT", "Port of the HTTP POST (default 80)", 1, 65535,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.http_port = static_cast<std::uint16_t>(v); }),
      whole("https_port", "--https-port", "PORT", "Port of the HTTPS POST (default 443)", 1, 65535,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.https_port = static_cast<std::uint16_t>(v); }),
      {"--http-path", kDelivery, "path", "PATH", "URL path of the POST (default /.well-known/overflowd)", SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty() || value.front() != '/' || value.size() > 512 ||
             std::any_of(value.begin(), value.end(), [](char ch) {
               return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f || ch == '#' || ch == '?';
             }))
           return fail(what, quoted(value) + " is not a URL path (want printable ASCII starting with /, no spaces, ? or #)");
         c.delivery.http_sender.path = std::string(value);
         return {};
       }},
      {"--https-ca", kDelivery, "https_ca", "FILE", "With --https-verify: trust this PEM file instead of the system store",
       SettingKind::scalar,
       [](RunConfig& c, V value, V) -> Result {
         c.delivery.http_sender.ca_file = std::string(value);
         return {};
       }},
      whole("connect_timeout_ms", "--http-connect-timeout", "MS", "HTTP(S) connect timeout in milliseconds (default 2000)",
            1, 600'000, [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.connect_timeout_ms = static_cast<long>(v); }),
      whole("timeout_ms", "--http-timeout", "MS", "HTTP(S) total timeout per report in milliseconds (default 5000)", 1,
            600'000, [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.timeout_ms = static_cast<long>(v); }),
      whole("max_in_flight", "--http-max-in-flight", "N", "Concurrent HTTP(S) transfers at most (default 16)", 1, 1024,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.max_in_flight = v; }),
      whole("max_per_destination", "--http-max-per-destination", "N",
            "Concurrent HTTP(S) transfers to one address and port at most (default 2)", 1, 1024,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.max_per_destination = v; }),
      whole("queue", "--http-queue", "N",
            "HTTP(S) reports waiting for a transfer at most; more are dropped and counted (default 1024)", 1, 1'000'000,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.queue = v; }),
      whole("log_per_minute", "--http-log-per-minute", "N",
            "HTTP(S) delivery failures logged per minute at most; the rest are counted (default 10)", 0, 1'000'000,
            [](RunConfig& c, std::uint64_t v) { c.delivery.http_sender.log_per_minute = static_cast<std::uint32_t>(v); }),
      {"--budget", kDelivery, "budget", "RATE|off", "Reports per second sent in all, a token bucket (default 100)", SettingKind::scalar,
       [](RunConfig& c, V value, V what) { return set_budget(c.delivery.guard.global, 100.0, value, what); }},
      {"--budget-burst", kDelivery, "budget_burst", "N", "Burst of the global budget (default 100)", SettingKind::scalar,
       [](RunConfig& c, V value, V what) { return set_burst(c.delivery.guard.global, value, what); }},
      {"--suspicious-share", kDelivery, "suspicious_share", "SHARE",
       "With --policy: share of the global budget's burst reserved for SUSPICIOUS reports, in [0, 0.9] (default 0.25)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) -> Result {
         const auto v = core::parse_real(value, 0, 0.9);
         if (!v) return fail(what, "'" + std::string(value) + "' is not a share in [0, 0.9]");
         c.suspicious_share = *v;
         return {};
       }},
      {"--per-destination-budget", kDelivery, "per_destination_budget", "RATE|off", "Reports per second to any one address (default 1)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) { return set_budget(c.delivery.guard.per_destination, 3.0, value, what); }},
      {"--per-destination-burst", kDelivery, "per_destination_burst", "N", "Burst of the per-destination budget (default 3)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V what) { return set_burst(c.delivery.guard.per_destination, value, what); }},
      cidr_list("allow", "--allow-destination", "Allow sending to this special-purpose block (private, loopback, ...; repeatable)",
                [](RunConfig& c) -> std::vector<guard::Cidr>& { return c.delivery.guard.allow; }),
      cidr_list("deny", "--deny-destination", "Never send to this block (repeatable; beats --allow-destination)",
                [](RunConfig& c) -> std::vector<guard::Cidr>& { return c.delivery.guard.deny; }),
      {"--opt-out-file", kDelivery, "opt_out_file", "FILE", "Never send to the prefixes in FILE (one CIDR per line, # comments)",
       SettingKind::scalar,
       [](RunConfig& c, V value, V) -> Result {
         c.opt_out_file = std::string(value);
         return {};
       }},
      {"--https-verify", kDelivery, "https_verify", "",
       "Check HTTPS certificates (chain and IP address); off by default: reports go to bare addresses and are signed",
       SettingKind::boolean,
       [](RunConfig& c, V value, V what) { return set_parsed(parse_bool(what, value), c.delivery.http_sender.verify); }},
      // Reports to Kafka (sink/kafka_sink.hpp): the operator's own pipeline, no Guard.
      {"--kafka-reports", kDelivery, "kafka_reports", "BROKERS", "--deliver kafka: the Kafka brokers (host:port,...) reports are produced to",
       SettingKind::text, [](RunConfig& c, V value, V) -> Result {
         c.kafka_reports.brokers = std::string(value);
         return {};
       }},
      {"--kafka-reports-topic", kDelivery, "kafka_reports_topic", "TOPIC", "--deliver kafka: the topic (each report keyed by its destination's /24 or /48)",
       SettingKind::text, [](RunConfig& c, V value, V) -> Result {
         c.kafka_reports.topic = std::string(value);
         return {};
       }},
      whole("kafka_reports_queue", "--kafka-reports-queue", "N",
            "--deliver kafka: reports waiting for the broker, at most; more are dropped and counted (default 100000)", 1, 10'000'000,
            [](RunConfig& c, std::uint64_t v) { c.kafka_reports.queue = v; }),
      {"--kafka-reports-option", kDelivery, "kafka_reports_option", "KEY=VALUE",
       "--deliver kafka: a librdkafka producer property (repeatable), e.g. security.protocol=ssl", SettingKind::list,
       [](RunConfig& c, V value, V what) -> Result {
         auto o = source::parse_kafka_option(value);
         if (!o) return fail(what, o.error());
         c.kafka_reports.options.push_back(std::move(*o));
         return {};
       },
       [](RunConfig& c) { c.kafka_reports.options.clear(); }},
  };
  for (auto& row : table) row.group = kDeliveryGroup;
  return table;
}

// [source.kafka]: flows from Kafka (source/kafka_source.hpp) instead of UDP or a file.
std::vector<SenderSetting> kafka_source_settings() {
  constexpr const char* kSection = "source.kafka";
  return {
      {"--kafka-flows", kSection, "brokers", "BROKERS",
       "Consume goflow2 flow messages from these Kafka brokers (host:port,...) instead of UDP; with --kafka-topic, --kafka-group",
       SettingKind::text, [](RunConfig& c, V value, V) -> Result {
         c.kafka.brokers = std::string(value);
         return {};
       }},
      {"--kafka-topic", kSection, "topic", "TOPIC", "--kafka-flows: the topic goflow2 publishes to", SettingKind::text,
       [](RunConfig& c, V value, V) -> Result {
         c.kafka.topic = std::string(value);
         return {};
       }},
      {"--kafka-group", kSection, "group", "GROUP",
       "--kafka-flows: the consumer group; instances in one group share the topic's partitions", SettingKind::text,
       [](RunConfig& c, V value, V) -> Result {
         c.kafka.group = std::string(value);
         return {};
       }},
      {"--kafka-format", kSection, "format", "bin|json", "--kafka-flows: goflow2's -format of the messages (default bin: protobuf)",
       SettingKind::text, [](RunConfig& c, V value, V what) -> Result {
         if (value == "bin" || value == "pb" || value == "protobuf") c.kafka.format = core::Protocol::goflow_pb;
         else if (value == "json") c.kafka.format = core::Protocol::goflow_json;
         else return fail(what, quoted(value) + " is not a format (want bin or json)");
         return {};
       }},
      {"--kafka-option", kSection, "option", "KEY=VALUE",
       "--kafka-flows: a librdkafka consumer property (repeatable), e.g. session.timeout.ms=10000", SettingKind::list,
       [](RunConfig& c, V value, V what) -> Result {
         auto o = source::parse_kafka_option(value);
         if (!o) return fail(what, o.error());
         c.kafka.options.push_back(std::move(*o));
         return {};
       },
       [](RunConfig& c) { c.kafka.options.clear(); }},
  };
}

// A text setting that cannot fail: the value is kept as given.
SenderSetting text(const char* flag, const char* section, const char* key, const char* value_name, const char* help,
                   std::string& (*of)(RunConfig&)) {
  return {flag, section, key, value_name, help, SettingKind::text, [of](RunConfig& c, V value, V) -> Result {
            of(c) = std::string(value);
            return {};
          }};
}

// A [templates] cap: a whole number in [lo, hi].
SenderSetting cap(const char* key, std::size_t decode::TemplateCacheLimits::*field, std::uint64_t lo, std::uint64_t hi,
                  const char* unit = "") {
  return {nullptr, "templates", key, "N", "", SettingKind::whole,
          [field, lo, hi](RunConfig& c, V value, V what) { return set_parsed(parse_count(what, value, lo, hi), c.templates.*field); },
          {}, std::string("a whole number") + unit + " from " + std::to_string(lo) + " to " + std::to_string(hi)};
}

}  // namespace

const std::vector<SenderSetting>& sender_settings() {
  using L = decode::TemplateCacheLimits;
  static const std::vector<SenderSetting> table = [] {
    std::vector<SenderSetting> t = {
        text("-f,--file,--pcapfile", "source", "file", "FILE", "Read flow exports from a pcap or pcapng file",
             [](RunConfig& c) -> std::string& { return c.pcap_file; }),
        {"-u,--udp-port,--udpport", "source", "udp_port", "PORT", "Receive flow exports on this UDP port (default 7777)",
         SettingKind::whole,
         [](RunConfig& c, V value, V what) { return set_parsed(parse_port(what, value), c.udp.port); },
         {}, "a port number (0 to 65535)"},
        text("--bind", "source", "bind", "ADDRESS", "Address for -u to listen on (default ::, which takes IPv4 too)",
             [](RunConfig& c) -> std::string& { return c.udp.bind; }),
        {"--workers", "source", "workers", "N", "Live UDP: worker threads, each with its own SO_REUSEPORT socket; a file: signing threads, reports still in input order (default: one per core)",
         SettingKind::whole,
         [](RunConfig& c, V value, V what) { return set_parsed(parse_workers(what, value), c.workers); },
         {}, "a whole number from 1 to " + std::to_string(kMaxWorkers)},
        {"--receive-buffer", "source", "receive_buffer", "BYTES", "Live UDP: socket receive buffer asked for, per worker (default 32M)",
         SettingKind::whole_or_text,
         [](RunConfig& c, V value, V what) { return set_parsed(parse_receive_buffer(what, value), c.udp.receive_buffer); }},
        {"--udp-engine", "source", "udp_engine", "ENGINE",
         "Live UDP: recvmmsg (a UDP socket per worker) or af_packet (an AF_PACKET TPACKET_V3 ring per worker, in a fanout by flow hash; needs CAP_NET_RAW) (default recvmmsg)",
         SettingKind::text,
         [](RunConfig& c, V value, V what) -> Result {
           if (value != "recvmmsg" && value != "af_packet")
             return std::unexpected(std::string(what) + ": '" + std::string(value) + "' is not an engine (recvmmsg or af_packet)");
           c.af_packet = value == "af_packet";
           return {};
         },
         {}, "recvmmsg or af_packet"},
        text("--udp-interface", "source", "udp_interface", "NAME",
             "Live UDP, af_packet: the interface to read (default: the one that has the --bind address; all for an unspecified address)",
             [](RunConfig& c) -> std::string& { return c.udp_interface; }),
        {"-r,--rate", "sampler", "rate", "RATE", "Chance per packet that a flow is reported, in [0, 1] (default 0.00001)",
         SettingKind::number,
         [](RunConfig& c, V value, V what) { return set_parsed(rate_value(what, value), c.sampler.rate); }},
        {"--policy", "sampler", "policy", "FILE", "Suspicion policy (TOML): rules that report sketchy flows more often",
         SettingKind::text,
         [](RunConfig& c, V value, V) -> Result {
           c.policy_file = std::string(value);
           return {};
         },
         {}, "a file name"},
        {"--coherent-share", "sampler", "coherent_share", "X",
         "Path-coherent sampling: share in [0, 1] of the report probability decided by a keyed hash of the flow (default 0)",
         SettingKind::scalar, [](RunConfig& c, V value, V what) { return set_coherent_share(c.sampler, what, value); }},
        {"--coherent-key", "sampler", "coherent_key", "HEX",
         "Path-coherent sampling: the public key, 32 hex digits (default: overflowd's published key)", SettingKind::text,
         [](RunConfig& c, V value, V what) { return set_coherent_key(c.sampler, what, value); }},
        {"--seed", nullptr, nullptr, "N", "FOR TESTS ONLY: seed the sampler so runs repeat; reports become predictable",
         SettingKind::text,
         [](RunConfig& c, V value, V what) -> Result {
           const auto s = core::parse_whole<std::uint64_t>(value, 0, UINT64_MAX);
           if (!s) return fail(what, quoted(value) + " is not a whole number");
           c.sampler.seed = *s;
           return {};
         }},
        {"--report-time", nullptr, nullptr, "SECONDS",
         "FOR TESTS ONLY: every report carries this Unix time, so that with a fixed seed the output repeats byte for byte",
         SettingKind::text,
         [](RunConfig& c, V value, V what) -> Result {
           const auto s = core::parse_whole<std::int64_t>(value, 0, 4'000'000'000);
           if (!s) return fail(what, quoted(value) + " is not a whole number of seconds");
           c.report_time_ns = *s * 1'000'000'000;
           return {};
         }},
        text("--key", "report", "key", "PATH", "Signing key file; created (mode 0600) when absent. Without it: an ephemeral key",
             [](RunConfig& c) -> std::string& { return c.key_path; }),
        text("--rotation", "report", "rotation", "FILE",
             "My latest rotation statement (overflowd rotate-key, to the key of --key), carried in my reports as metadata.rotation for --rotation-period",
             [](RunConfig& c) -> std::string& { return c.rotation_file; }),
        {"--rotation-period", "report", "rotation_period", "DAYS",
         "How long after the statement's time reports carry it (default 30; 0: never)", SettingKind::scalar,
         [](RunConfig& c, V value, V what) -> Result {
           const auto d = core::parse_whole<std::int64_t>(value, 0, 3650);
           if (!d) return fail(what, quoted(value) + " is not a whole number of days from 0 to 3650");
           c.rotation_period_s = *d * 86'400;
           return {};
         }},
        // A template set is at most 65,535 bytes, so at most 16,383 fields; template ids are 256 to 65535.
        cap("max_domains", &L::max_domains, 1, 1'000'000),
        cap("max_templates", &L::max_templates, 1, 10'000'000),
        cap("max_templates_per_domain", &L::max_templates_per_domain, 1, 65'280),
        cap("max_fields_per_template", &L::max_fields_per_template, 1, 16'383),
        cap("max_record_length", &L::max_record_length, 1, 65'535),
        cap("max_samplers_per_domain", &L::max_samplers_per_domain, 1, 65'536),
        // Seconds; 0 (the default) keeps templates until replaced or withdrawn.
        cap("template_timeout", &L::template_timeout_s, 0, 31'536'000, " of seconds"),
        cap("max_domains_per_exporter", &L::max_domains_per_exporter, 1, 1'000'000),
        cap("max_templates_per_exporter", &L::max_templates_per_exporter, 1, 10'000'000),
        text("--email", "contact", "email", "EMAIL", "Contact email put in every report",
             [](RunConfig& c) -> std::string& { return c.contact.email; }),
        text("--identity", "contact", "identity", "NAME", "Contact identity (who you are) put in every report",
             [](RunConfig& c) -> std::string& { return c.contact.identity; }),
        text("--output", "output", "file", "FILE", "Append reports to this file instead of stdout",
             [](RunConfig& c) -> std::string& { return c.output_file; }),
        text("--metrics", "metrics", "listen", "ADDRESS:PORT",
             "Serve GET /metrics (Prometheus text format) on this address, e.g. 127.0.0.1:9558 (port 0: any free one, logged)",
             [](RunConfig& c) -> std::string& { return c.metrics_listen; }),
        text("--user", nullptr, nullptr, "NAME", "Started as root (without systemd): switch to this user once the sockets are bound",
             [](RunConfig& c) -> std::string& { return c.user; }),
        {"-q,--quiet", nullptr, nullptr, "", "No summary of counters on stderr at the end", SettingKind::boolean,
         [](RunConfig& c, V value, V what) { return set_parsed(parse_bool(what, value), c.quiet); }},
    };
    auto kafka = kafka_source_settings();
    t.insert(t.end(), std::make_move_iterator(kafka.begin()), std::make_move_iterator(kafka.end()));
    auto delivery = delivery_settings();
    t.insert(t.end(), std::make_move_iterator(delivery.begin()), std::make_move_iterator(delivery.end()));
    for (auto& row : settings_of_member(log_settings(), &RunConfig::log)) t.push_back(std::move(row));
    return t;
  }();
  return table;
}

void clear_delivery_option(RunConfig& c, std::string_view key) {
  if (const auto* s = find_setting(sender_settings(), kDelivery, key); s && s->clear) s->clear(c);
}

std::expected<void, std::string> set_delivery_option(RunConfig& c, std::string_view key, std::string_view value,
                                                     std::string_view what) {
  const auto* s = find_setting(sender_settings(), kDelivery, key);
  if (!s) return fail(what, "unknown setting");
  return s->set(c, value, what);
}

std::expected<void, std::string> load_opt_out(RunConfig& c) {
  if (c.opt_out_file.empty()) return {};
  // As --config: a FIFO or device there must not hang start-up (io::read_text_file refuses it).
  constexpr std::size_t kMaxOptOutBytes = 64u << 20;
  const auto text = io::read_text_file(c.opt_out_file, kMaxOptOutBytes);
  if (!text) return std::unexpected("--opt-out-file: " + text.error());
  auto set = guard::parse_cidr_list(*text, c.opt_out_file);
  if (!set) return std::unexpected(set.error());
  c.delivery.guard.opt_out = std::move(*set);
  return {};
}

std::expected<void, std::string> load_toml(const std::string& path, RunConfig& c) {
  const auto text = io::read_text_file(path, kMaxConfigBytes);
  if (!text) return std::unexpected(text.error());
  return load_toml_text(*text, path, c);
}

std::string toml_keys_help() { return settings_keys_help(sender_settings()); }

std::expected<void, std::string> load_toml_text(std::string_view text, const std::string& path, RunConfig& c) {
  auto parsed = parse_toml(text, path);
  if (!parsed) return std::unexpected(parsed.error());
  return load_settings(*parsed, path, sender_settings(), {}, c);
}

std::expected<void, std::string> validate(const RunConfig& c) {
  const auto& d = c.delivery;
  if (d.http_sender.verify && !d.http_sender.ca_file.empty() && !std::ifstream(d.http_sender.ca_file))
    return std::unexpected("--https-ca: " + d.http_sender.ca_file + ": cannot open");
  if (d.encryption.discovery.lookups.mode != discovery::Mode::off && d.encryption.mode == sink::Encrypt::off)
    return std::unexpected("--discovery is only used with --encrypt auto or require");
  if (!d.encryption.discovery.resolver.empty() && d.encryption.discovery.lookups.mode != discovery::Mode::dns)
    return std::unexpected("--discovery-resolver is only used with --discovery dns");
  if (!d.encryption.discovery.trust_file.empty() && d.encryption.discovery.lookups.mode == discovery::Mode::off)
    return std::unexpected("--discovery-trust is only used with --discovery dns|http|https");
  if (!d.http_sender.ca_file.empty() && !d.http_sender.verify)
    return std::unexpected("--https-ca is only used with --https-verify");
  if (!(c.sampler.rate >= 0 && c.sampler.rate <= 1))
    return std::unexpected("rate " + std::to_string(c.sampler.rate) + " is outside [0, 1]");
  if (!report::json::valid_utf8(c.contact.email) || !report::json::valid_utf8(c.contact.identity))
    return std::unexpected("contact email and identity must be UTF-8 text");
  if (c.contact.email.size() > 256 || c.contact.identity.size() > 256)
    return std::unexpected("contact email and identity must be at most 256 bytes each");
  if (!c.kafka.brokers.empty()) {
    if (!c.pcap_file.empty()) return std::unexpected(std::string("--kafka-flows and --file are two sources: give one"));
    if (c.kafka.topic.empty() || c.kafka.group.empty())
      return std::unexpected(std::string("--kafka-flows needs --kafka-topic and --kafka-group"));
  } else if (!c.kafka.topic.empty() || !c.kafka.group.empty()) {
    return std::unexpected(std::string("--kafka-topic and --kafka-group are for --kafka-flows, which is not given"));
  }
  if (c.deliver_kafka && (c.kafka_reports.brokers.empty() || c.kafka_reports.topic.empty()))
    return std::unexpected(std::string("--deliver kafka needs --kafka-reports BROKERS and --kafka-reports-topic TOPIC"));
  if (c.pcap_file.empty() && !core::IpAddress::parse(c.udp.bind))
    return std::unexpected("--bind: '" + c.udp.bind + "' is not an IP address");
  return {};
}

}  // namespace overflowd::app

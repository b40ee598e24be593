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

std::expected<double, std::string> parse_rate(std::string_view text) {
  const auto v = core::parse_real(text, -HUGE_VAL, HUGE_VAL);
  if (!v)
    return std::unexpected("--rate: '" + std::string(text) + "' is not a number (want a probability scale in [0, 1], e.g. 0.00001)");
  if (*v < 0 || *v > 1)
    return std::unexpected("--rate: " + std::string(text) + " is outside [0, 1] (the chance per packet that a flow is reported)");
  return *v;
}

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

using Result = std::expected<void, std::string>;

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
DeliveryOption whole(const char* key, const char* flag, const char* value_name, const char* help, std::uint64_t lo,
                     std::uint64_t hi, void (*put)(RunConfig&, std::uint64_t)) {
  return {key, flag, value_name, help, DeliveryOption::Kind::value,
          [lo, hi, put](RunConfig& c, std::string_view value, std::string_view what) -> Result {
            auto n = parse_count(what, value, lo, hi);
            if (!n) return std::unexpected(n.error());
            put(c, *n);
            return {};
          }};
}

// A repeatable row of CIDR blocks appended to the list `of` gives.
DeliveryOption cidr_list(const char* key, const char* flag, const char* help, std::vector<guard::Cidr>& (*of)(RunConfig&)) {
  return {key, flag, "CIDR", help, DeliveryOption::Kind::list,
          [of](RunConfig& c, std::string_view value, std::string_view what) -> Result {
            auto cidr = guard::Cidr::parse(value);
            if (!cidr) return fail(what, cidr.error());
            of(c).push_back(*cidr);
            return {};
          },
          [of](RunConfig& c) { of(c).clear(); }};
}

constexpr const char* kDeliveryGroup = "Delivery (opt-in; safety limits on by default)";

}  // namespace

const std::vector<DeliveryOption>& delivery_options() {
  using V = std::string_view;
  static const std::vector<DeliveryOption> table = {
      {"deliver", "--deliver", "LIST", "Send reports to the flows' endpoints over udp,http,https (any of them; default: none)",
       DeliveryOption::Kind::list,
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
           else if (item == "none") d.udp = d.http = d.https = false;
           else return fail(what, quoted(item) + " is not a transport (want udp, http, https, or none)");
         }
         return {};
       },
       [](RunConfig& c) { c.delivery.udp = c.delivery.http = c.delivery.https = false; }},
      {"to", "--deliver-to", "src|dst|both", "Which endpoints get the report (default both)", DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         auto& d = c.delivery;
         if (value == "src") d.to = sink::DeliverTo::src;
         else if (value == "dst") d.to = sink::DeliverTo::dst;
         else if (value == "both") d.to = sink::DeliverTo::both;
         else return fail(what, quoted(value) + " is not src, dst or both");
         return {};
       }},
      {"encrypt", "--encrypt", "off|auto|require",
       "Seal reports to the endpoint network's X25519 key (docs/manual.md, Encryption): auto seals where a key is known and sends plain otherwise, require never sends plain (default off)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         auto& e = c.delivery.encryption.mode;
         if (value == "off") e = sink::Encrypt::off;
         else if (value == "auto") e = sink::Encrypt::auto_;
         else if (value == "require") e = sink::Encrypt::require;
         else return fail(what, quoted(value) + " is not off, auto or require");
         return {};
       }},
      {"peer_keys", "--peer-keys", "FILE", "Pinned keys of endpoint networks for --encrypt: lines \"CIDR x25519-hex [identity-hex]\", longest prefix wins",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty()) return fail(what, "empty path");
         c.delivery.encryption.peer_keys_path = std::string(value);
         return {};
       }},
      {"report_port", "--report-port", "PORT", "UDP port reports are sent to; flows of this port are never reported (default 65535)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         auto p = port_value(what, value);
         if (!p) return std::unexpected(p.error());
         c.delivery.udp_sender.port = c.delivery.guard.report_port = c.sampler.report_port = *p;
         return {};
       }},
      {"source_address", "--source-address", "ADDRESS", "Send from this local address (one IPv4 and/or one IPv6; repeatable)",
       DeliveryOption::Kind::list,
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
      {"own_address", "--own-address", "ADDRESS",
       "Also this host's (flows of it are never reported; its interfaces' addresses are found at start; repeatable)",
       DeliveryOption::Kind::list,
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
      {"path", "--http-path", "PATH", "URL path of the POST (default /.well-known/overflowd)", DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         if (value.empty() || value.front() != '/' || value.size() > 512 ||
             std::any_of(value.begin(), value.end(), [](char ch) {
               return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f || ch == '#' || ch == '?';
             }))
           return fail(what, quoted(value) + " is not a URL path (want printable ASCII starting with /, no spaces, ? or #)");
         c.delivery.http_sender.path = std::string(value);
         return {};
       }},
      {"https_ca", "--https-ca", "FILE", "With --https-verify: trust this PEM file instead of the system store",
       DeliveryOption::Kind::value,
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
      {"budget", "--budget", "RATE|off", "Reports per second sent in all, a token bucket (default 100)", DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) { return set_budget(c.delivery.guard.global, 100.0, value, what); }},
      {"budget_burst", "--budget-burst", "N", "Burst of the global budget (default 100)", DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) { return set_burst(c.delivery.guard.global, value, what); }},
      {"suspicious_share", "--suspicious-share", "SHARE",
       "With --policy: share of the global budget's burst reserved for SUSPICIOUS reports, in [0, 0.9] (default 0.25)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) -> Result {
         const auto v = core::parse_real(value, 0, 0.9);
         if (!v) return fail(what, "'" + std::string(value) + "' is not a share in [0, 0.9]");
         c.suspicious_share = *v;
         return {};
       }},
      {"per_destination_budget", "--per-destination-budget", "RATE|off", "Reports per second to any one address (default 1)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) { return set_budget(c.delivery.guard.per_destination, 3.0, value, what); }},
      {"per_destination_burst", "--per-destination-burst", "N", "Burst of the per-destination budget (default 3)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V what) { return set_burst(c.delivery.guard.per_destination, value, what); }},
      cidr_list("allow", "--allow-destination", "Allow sending to this special-purpose block (private, loopback, ...; repeatable)",
                [](RunConfig& c) -> std::vector<guard::Cidr>& { return c.delivery.guard.allow; }),
      cidr_list("deny", "--deny-destination", "Never send to this block (repeatable; beats --allow-destination)",
                [](RunConfig& c) -> std::vector<guard::Cidr>& { return c.delivery.guard.deny; }),
      {"opt_out_file", "--opt-out-file", "FILE", "Never send to the prefixes in FILE (one CIDR per line, # comments)",
       DeliveryOption::Kind::value,
       [](RunConfig& c, V value, V) -> Result {
         c.opt_out_file = std::string(value);
         return {};
       }},
      {"https_verify", "--https-verify", "",
       "Check HTTPS certificates (chain and IP address); off by default: reports go to bare addresses and are signed",
       DeliveryOption::Kind::flag,
       [](RunConfig& c, V value, V what) -> Result {
         auto b = parse_bool(what, value);
         if (!b) return std::unexpected(b.error());
         c.delivery.http_sender.verify = *b;
         return {};
       }},
  };
  return table;
}

const char* delivery_group() noexcept { return kDeliveryGroup; }

const DeliveryOption* find_delivery_option(std::string_view key) noexcept {
  const auto& table = delivery_options();
  const auto it = std::find_if(table.begin(), table.end(), [&](const DeliveryOption& o) { return key == o.key; });
  return it == table.end() ? nullptr : &*it;
}

void clear_delivery_option(RunConfig& c, std::string_view key) {
  if (const DeliveryOption* o = find_delivery_option(key); o && o->clear) o->clear(c);
}

std::expected<void, std::string> set_delivery_option(RunConfig& c, std::string_view key, std::string_view value,
                                                     std::string_view what) {
  const DeliveryOption* o = find_delivery_option(key);
  if (!o) {
    // A flag's name used as a key: say which key it is (--allow-destination is [delivery] allow).
    for (const auto& row : delivery_options()) {
      std::string flag(row.flag);
      flag = flag.substr(flag.find_first_not_of('-'));
      std::replace(flag.begin(), flag.end(), '-', '_');
      if (flag == key) return fail(what, "unknown setting (the flag " + std::string(row.flag) + " is the key " + std::string(row.key) + ")");
    }
    return fail(what, "unknown setting");
  }
  return o->set(c, value, what);
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

// The sender's file sections and their keys (besides [delivery], whose keys are the delivery
// table's): what load_toml_text accepts, and what `overflowd --help` lists.
const std::vector<ConfigSection>& known_sections() {
  static const std::vector<ConfigSection> kKnown = {{"source", {"file", "udp_port", "bind", "workers", "receive_buffer"}}, {"sampler", {"rate", "policy", "coherent_share", "coherent_key"}}, {"report", {"key"}},
                                   {"templates",
                                    {"max_domains", "max_templates", "max_templates_per_domain", "max_fields_per_template",
                                     "max_record_length", "max_samplers_per_domain", "template_timeout",
                                     "max_domains_per_exporter", "max_templates_per_exporter"}},
                                   {"contact", {"email", "identity"}},        {"output", {"file"}},
                                   {"metrics", {"listen"}},
                                   {"delivery", {}}};  // the delivery table's keys (delivery_options)
  return kKnown;
}

std::string toml_keys_help() {
  // At column 0 and without a final colon, so that scripts/gen-man takes it as the page's footer.
  std::string out = "Keys of the --config file (TOML; flags override them), by section";
  for (const auto& section : known_sections()) {
    out += "\n[" + std::string(section.name) + "]";
    if (section.name == "delivery") {
      for (const auto& row : delivery_options()) out += " " + std::string(row.key);
      continue;
    }
    for (const auto k : section.keys) out += " " + std::string(k);
  }
  return out;
}

std::expected<void, std::string> load_toml_text(std::string_view text, const std::string& path, RunConfig& c) {
  auto parsed = parse_toml(text, path);
  if (!parsed) return std::unexpected(parsed.error());
  toml::table& t = *parsed;
  auto str = [&](const char* section, const char* key, std::string& into) -> std::expected<void, std::string> {
    const auto node = t[section][key];
    if (!node) return {};
    if (auto v = node.value<std::string>()) {
      into = *v;
      return {};
    }
    return std::unexpected(toml_error(path, section, key, "must be a string"));
  };
  for (auto [s, k, into] : {std::tuple{"source", "file", &c.pcap_file}, std::tuple{"source", "bind", &c.udp.bind},
                            std::tuple{"report", "key", &c.key_path}, std::tuple{"contact", "email", &c.contact.email},
                            std::tuple{"contact", "identity", &c.contact.identity},
                            std::tuple{"output", "file", &c.output_file}, std::tuple{"metrics", "listen", &c.metrics_listen}}) {
    if (auto r = str(s, k, *into); !r) return r;
  }
  if (const auto node = t["source"]["udp_port"]) {
    const auto v = node.value_exact<std::int64_t>();
    if (!v || *v < 0 || *v > 65535) return std::unexpected(toml_error(path, "source", "udp_port", "must be a port number (0 to 65535)"));
    c.udp.port = static_cast<std::uint16_t>(*v);
  }
  if (const auto node = t["source"]["workers"]) {
    const auto v = node.value_exact<std::int64_t>();
    if (!v || *v < 1 || *v > kMaxWorkers)
      return std::unexpected(toml_error(path, "source", "workers", "must be a whole number from 1 to " + std::to_string(kMaxWorkers)));
    c.workers = static_cast<unsigned>(*v);
  }
  if (const auto node = t["source"]["receive_buffer"]) {
    std::string given;
    if (auto v = node.value_exact<std::int64_t>()) given = std::to_string(*v);
    else if (auto s = node.value_exact<std::string>()) given = *s;
    auto b = parse_receive_buffer(path + ": source.receive_buffer", given);
    if (!b) return std::unexpected(b.error());
    c.udp.receive_buffer = *b;
  }
  if (const auto node = t["sampler"]["policy"]) {
    const auto v = node.value_exact<std::string>();
    if (!v) return std::unexpected(toml_error(path, "sampler", "policy", "must be a file name"));
    c.policy_file = *v;
  }
  if (const auto node = t["sampler"]["rate"]) {
    const auto v = node.value<double>();
    if (!v) return std::unexpected(toml_error(path, "sampler", "rate", "must be a number in [0, 1]"));
    c.sampler.rate = *v;
  }
  for (const auto* key : {"coherent_share", "coherent_key"}) {
    const auto node = t["sampler"][key];
    if (!node) continue;
    std::string given;
    if (auto d = node.value<double>(); d && std::string_view(key) == "coherent_share") given = fmt::format("{}", *d);
    else if (auto s = node.value_exact<std::string>()) given = *s;
    auto r = std::string_view(key) == "coherent_share" ? set_coherent_share(c.sampler, path + ": sampler." + key, given)
                                                        : set_coherent_key(c.sampler, path + ": sampler." + key, given);
    if (!r) return std::unexpected(r.error());
  }
  {
    struct Cap {
      const char* key;
      std::size_t* into;
      std::int64_t max;
    };
    decode::TemplateCacheLimits& l = c.templates;
    // A template set is at most 65,535 bytes, so at most 16,383 fields; template ids are 256 to 65535.
    const Cap caps[] = {{"max_domains", &l.max_domains, 1'000'000},
                        {"max_templates", &l.max_templates, 10'000'000},
                        {"max_templates_per_domain", &l.max_templates_per_domain, 65'280},
                        {"max_fields_per_template", &l.max_fields_per_template, 16'383},
                        {"max_record_length", &l.max_record_length, 65'535},
                        {"max_samplers_per_domain", &l.max_samplers_per_domain, 65'536},
                        {"max_domains_per_exporter", &l.max_domains_per_exporter, 1'000'000},
                        {"max_templates_per_exporter", &l.max_templates_per_exporter, 10'000'000}};
    for (const Cap& cap : caps) {
      const auto node = t["templates"][cap.key];
      if (!node) continue;
      const auto v = node.value_exact<std::int64_t>();
      if (!v || *v < 1 || *v > cap.max)
        return std::unexpected(toml_error(path, "templates", cap.key, "must be a whole number from 1 to " + std::to_string(cap.max)));
      *cap.into = static_cast<std::size_t>(*v);
    }
    if (const auto node = t["templates"]["template_timeout"]) {
      // Seconds; 0 (the default) keeps templates until replaced or withdrawn.
      const auto v = node.value_exact<std::int64_t>();
      if (!v || *v < 0 || *v > 31'536'000)
        return std::unexpected(path + ": templates.template_timeout must be a whole number of seconds from 0 to 31536000");
      l.template_timeout_s = static_cast<std::size_t>(*v);
    }
  }
  if (const auto* delivery = t["delivery"].as_table()) {
    for (const auto& [key, node] : *delivery) {
      const std::string what = path + ": delivery." + std::string(key.str());
      auto one = [&](const toml::node& n) -> std::expected<void, std::string> {
        if (auto v = n.value_exact<std::string>()) return set_delivery_option(c, key.str(), *v, what);
        if (auto v = n.value_exact<bool>()) return set_delivery_option(c, key.str(), *v ? "true" : "false", what);
        if (auto v = n.value_exact<std::int64_t>()) return set_delivery_option(c, key.str(), std::to_string(*v), what);
        if (auto v = n.value_exact<double>()) {
          char buf[64];
          const auto r = std::to_chars(buf, buf + sizeof buf, *v);
          return set_delivery_option(c, key.str(), std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), what);
        }
        return std::unexpected(what + ": must be a string, number or boolean (or an array of them)");
      };
      if (const auto* array = node.as_array()) {
        clear_delivery_option(c, key.str());
        for (const auto& element : *array)
          if (auto r = one(element); !r) return r;
      } else if (auto r = one(node); !r) {
        return r;
      }
    }
  }
  // Every other key is a mistake worth hearing about (a typo would otherwise be silently ignored).
  const auto& kKnown = known_sections();
  for (const auto& [section, node] : t) {
    const auto known = std::find_if(kKnown.begin(), kKnown.end(), [&](const auto& k) { return section.str() == k.name; });
    if (known == kKnown.end()) return std::unexpected(path + ": unknown section [" + std::string(section) + "]");
    const auto* table = node.as_table();
    if (!table) return std::unexpected(path + ": " + std::string(section) + " must be a table");
    for (const auto& [key, value] : *table) {
      (void)value;
      const bool listed = known->name == "delivery"
                              ? find_delivery_option(key.str()) != nullptr
                              : std::find_if(known->keys.begin(), known->keys.end(),
                                             [&](std::string_view k) { return key.str() == k; }) != known->keys.end();
      if (!listed)
        return std::unexpected(path + ": unknown key " + std::string(section) + "." + std::string(key));
    }
  }
  return {};
}

std::expected<void, std::string> validate(const RunConfig& c) {
  const auto& d = c.delivery;
  if (d.http_sender.verify && !d.http_sender.ca_file.empty() && !std::ifstream(d.http_sender.ca_file))
    return std::unexpected("--https-ca: " + d.http_sender.ca_file + ": cannot open");
  if (!d.http_sender.ca_file.empty() && !d.http_sender.verify)
    return std::unexpected("--https-ca is only used with --https-verify");
  if (!(c.sampler.rate >= 0 && c.sampler.rate <= 1))
    return std::unexpected("rate " + std::to_string(c.sampler.rate) + " is outside [0, 1]");
  if (!report::json::valid_utf8(c.contact.email) || !report::json::valid_utf8(c.contact.identity))
    return std::unexpected("contact email and identity must be UTF-8 text");
  if (c.contact.email.size() > 256 || c.contact.identity.size() > 256)
    return std::unexpected("contact email and identity must be at most 256 bytes each");
  if (c.pcap_file.empty() && !core::IpAddress::parse(c.udp.bind))
    return std::unexpected("--bind: '" + c.udp.bind + "' is not an IP address");
  return {};
}

}  // namespace overflowd::app

#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <sched.h>
#include <vector>
#include <toml++/toml.h>

#include "io/text_file.hpp"
#include "report/json_writer.hpp"

namespace overflowd::app {

std::expected<double, std::string> parse_rate(std::string_view text) {
  double v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || !std::isfinite(v))
    return std::unexpected("--rate: '" + std::string(text) + "' is not a number (want a probability scale in [0, 1], e.g. 0.00001)");
  if (v < 0 || v > 1)
    return std::unexpected("--rate: " + std::string(text) + " is outside [0, 1] (the chance per packet that a flow is reported)");
  return v;
}

std::expected<std::uint16_t, std::string> parse_port(std::string_view what, std::string_view text) {
  unsigned v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || v > 65535)
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a port number (0 to 65535)");
  return static_cast<std::uint16_t>(v);
}

std::expected<unsigned, std::string> parse_workers(std::string_view what, std::string_view text) {
  unsigned v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || v < 1 || v > kMaxWorkers)
    return std::unexpected(std::string(what) + ": '" + std::string(text) + "' is not a worker count (1 to " +
                           std::to_string(kMaxWorkers) + ")");
  return v;
}

std::expected<int, std::string> parse_receive_buffer(std::string_view what, std::string_view text) {
  std::uint64_t v = 0;
  std::string_view digits = text;
  std::uint64_t scale = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k': case 'K': scale = 1ull << 10; break;
      case 'm': case 'M': scale = 1ull << 20; break;
      case 'g': case 'G': scale = 1ull << 30; break;
      default: break;
    }
    if (scale != 1) digits.remove_suffix(1);
  }
  const auto* end = digits.data() + digits.size();
  const auto r = std::from_chars(digits.data(), end, v);
  constexpr std::uint64_t lo = 64ull << 10, hi = 1ull << 30;
  if (digits.empty() || r.ec != std::errc{} || r.ptr != end || v > hi || v * scale < lo || v * scale > hi)
    return std::unexpected(std::string(what) + ": '" + std::string(text) +
                           "' is not a buffer size from 64K to 1G (bytes, or with a K, M or G suffix)");
  return static_cast<int>(v * scale);
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
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || v < lo || v > hi)
    return std::unexpected(std::string(what) + ": " + quoted(text) + " is not a whole number from " + std::to_string(lo) +
                           " to " + std::to_string(hi));
  return v;
}

std::expected<double, std::string> parse_positive(std::string_view what, std::string_view text) {
  double v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end || !std::isfinite(v) || v <= 0 || v > 1e9)
    return std::unexpected(std::string(what) + ": " + quoted(text) + " is not a positive number (or 'off')");
  return v;
}

std::expected<bool, std::string> parse_bool(std::string_view what, std::string_view text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  return std::unexpected(std::string(what) + ": " + quoted(text) + " is not true or false");
}

}  // namespace

void clear_delivery_option(RunConfig& c, std::string_view key) {
  if (key == "allow") c.delivery.guard.allow.clear();
  if (key == "deny") c.delivery.guard.deny.clear();
  if (key == "source_address") {
    c.delivery.udp_sender.source_v4.reset();
    c.delivery.udp_sender.source_v6.reset();
  }
  if (key == "deliver") c.delivery.udp = c.delivery.http = c.delivery.https = false;
  if (key == "own_address") c.sampler.own_addresses.clear();
}

std::expected<void, std::string> set_delivery_option(RunConfig& c, std::string_view key, std::string_view value,
                                                     std::string_view what) {
  auto& d = c.delivery;
  auto fail = [&](std::string why) -> std::expected<void, std::string> {
    return std::unexpected(std::string(what) + ": " + why);
  };
  if (key == "deliver") {
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
      else return fail(quoted(item) + " is not a transport (want udp, http, https, or none)");
    }
    return {};
  }
  if (key == "to") {
    if (value == "src") d.to = sink::DeliverTo::src;
    else if (value == "dst") d.to = sink::DeliverTo::dst;
    else if (value == "both") d.to = sink::DeliverTo::both;
    else return fail(quoted(value) + " is not src, dst or both");
    return {};
  }
  if (key == "report_port") {
    auto p = parse_count(what, value, 1, 65535);
    if (!p) return std::unexpected(p.error());
    d.udp_sender.port = static_cast<std::uint16_t>(*p);
    d.guard.report_port = static_cast<std::uint16_t>(*p);
    c.sampler.report_port = static_cast<std::uint16_t>(*p);
    return {};
  }
  if (key == "http_port" || key == "https_port") {
    auto p = parse_count(what, value, 1, 65535);
    if (!p) return std::unexpected(p.error());
    (key == "http_port" ? d.http_sender.http_port : d.http_sender.https_port) = static_cast<std::uint16_t>(*p);
    return {};
  }
  if (key == "own_address") {
    // This host's addresses that its interfaces do not show (NAT, a proxy): flows of them are not reported.
    const auto a = core::IpAddress::parse(value);
    if (!a) return fail(quoted(value) + " is not an IP address");
    c.sampler.own_addresses.push_back(*a);
    return {};
  }
  if (key == "source_address") {
    const auto a = core::IpAddress::parse(value);
    if (!a) return fail(quoted(value) + " is not an IP address");
    auto& slot = a->is_v4() ? d.udp_sender.source_v4 : d.udp_sender.source_v6;
    if (slot && *slot != *a) return fail("one source address per family (" + slot->to_string() + " and " + a->to_string() + ")");
    slot = *a;
    d.http_sender.source_v4 = d.udp_sender.source_v4;
    d.http_sender.source_v6 = d.udp_sender.source_v6;
    return {};
  }
  if (key == "path") {
    if (value.empty() || value.front() != '/' || value.size() > 512 ||
        std::any_of(value.begin(), value.end(), [](char ch) {
          return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f || ch == '#' || ch == '?';
        }))
      return fail(quoted(value) + " is not a URL path (want printable ASCII starting with /, no spaces, ? or #)");
    d.http_sender.path = std::string(value);
    return {};
  }
  if (key == "https_verify") {
    auto b = parse_bool(what, value);
    if (!b) return std::unexpected(b.error());
    d.http_sender.verify = *b;
    return {};
  }
  if (key == "https_ca") {
    d.http_sender.ca_file = std::string(value);
    return {};
  }
  if (key == "connect_timeout_ms" || key == "timeout_ms") {
    auto ms = parse_count(what, value, 1, 600'000);
    if (!ms) return std::unexpected(ms.error());
    (key == "timeout_ms" ? d.http_sender.timeout_ms : d.http_sender.connect_timeout_ms) = static_cast<long>(*ms);
    return {};
  }
  if (key == "max_in_flight") {
    auto n = parse_count(what, value, 1, 1024);
    if (!n) return std::unexpected(n.error());
    d.http_sender.max_in_flight = *n;
    return {};
  }
  if (key == "queue") {
    auto n = parse_count(what, value, 1, 1'000'000);
    if (!n) return std::unexpected(n.error());
    d.http_sender.queue = *n;
    return {};
  }
  if (key == "budget" || key == "per_destination_budget") {
    auto& budget = key == "budget" ? d.guard.global : d.guard.per_destination;
    if (value == "off") {
      budget.reset();
      return {};
    }
    auto r = parse_positive(what, value);
    if (!r) return std::unexpected(r.error());
    const double burst = budget ? budget->burst : (key == "budget" ? 100.0 : 3.0);
    budget = guard::Budget{*r, burst};
    return {};
  }
  if (key == "budget_burst" || key == "per_destination_burst") {
    auto& budget = key == "budget_burst" ? d.guard.global : d.guard.per_destination;
    auto n = parse_count(what, value, 1, 1'000'000);
    if (!n) return std::unexpected(n.error());
    if (budget) budget->burst = static_cast<double>(*n);  // with the budget off there is nothing to burst
    return {};
  }
  if (key == "allow" || key == "deny") {
    auto cidr = guard::Cidr::parse(value);
    if (!cidr) return fail(cidr.error());
    (key == "allow" ? d.guard.allow : d.guard.deny).push_back(*cidr);
    return {};
  }
  if (key == "opt_out_file") {
    c.opt_out_file = std::string(value);
    return {};
  }
  return fail("unknown setting");
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

std::expected<void, std::string> load_toml_text(std::string_view text, const std::string& path, RunConfig& c) {
  toml::table t;
  try {
    t = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return std::unexpected(path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                           std::string(e.description()));
  }
  auto str = [&](const char* section, const char* key, std::string& into) -> std::expected<void, std::string> {
    const auto node = t[section][key];
    if (!node) return {};
    if (auto v = node.value<std::string>()) {
      into = *v;
      return {};
    }
    return std::unexpected(path + ": " + section + "." + key + " must be a string");
  };
  for (auto [s, k, into] : {std::tuple{"source", "file", &c.pcap_file}, std::tuple{"source", "bind", &c.udp.bind},
                            std::tuple{"report", "key", &c.key_path}, std::tuple{"contact", "email", &c.contact.email},
                            std::tuple{"contact", "identity", &c.contact.identity},
                            std::tuple{"output", "file", &c.output_file}}) {
    if (auto r = str(s, k, *into); !r) return r;
  }
  if (const auto node = t["source"]["udp_port"]) {
    const auto v = node.value<std::int64_t>();
    if (!v || *v < 0 || *v > 65535) return std::unexpected(path + ": source.udp_port must be a port number (0 to 65535)");
    c.udp.port = static_cast<std::uint16_t>(*v);
  }
  if (const auto node = t["source"]["workers"]) {
    const auto v = node.value<std::int64_t>();
    if (!v || *v < 1 || *v > kMaxWorkers)
      return std::unexpected(path + ": source.workers must be a whole number from 1 to " + std::to_string(kMaxWorkers));
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
  if (const auto node = t["sampler"]["rate"]) {
    const auto v = node.value<double>();
    if (!v) return std::unexpected(path + ": sampler.rate must be a number in [0, 1]");
    c.sampler.rate = *v;
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
        return std::unexpected(path + ": templates." + cap.key + " must be a whole number from 1 to " +
                               std::to_string(cap.max));
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
  struct Section {
    std::string_view name;
    std::vector<std::string_view> keys;
  };
  static const Section kKnown[] = {{"source", {"file", "udp_port", "bind", "workers", "receive_buffer"}}, {"sampler", {"rate"}}, {"report", {"key"}},
                                   {"templates",
                                    {"max_domains", "max_templates", "max_templates_per_domain", "max_fields_per_template",
                                     "max_record_length", "max_samplers_per_domain", "template_timeout",
                                     "max_domains_per_exporter", "max_templates_per_exporter"}},
                                   {"contact", {"email", "identity"}},        {"output", {"file"}},
                                   {"delivery",
                                    {"deliver", "to", "report_port", "source_address", "http_port", "https_port", "path",
                                     "https_verify", "https_ca", "connect_timeout_ms", "timeout_ms", "max_in_flight",
                                     "queue", "budget", "budget_burst", "per_destination_budget",
                                     "per_destination_burst", "allow", "deny", "opt_out_file", "own_address"}}};
  for (const auto& [section, node] : t) {
    const auto* known = std::find_if(std::begin(kKnown), std::end(kKnown), [&](const auto& k) { return section.str() == k.name; });
    if (known == std::end(kKnown)) return std::unexpected(path + ": unknown section [" + std::string(section) + "]");
    const auto* table = node.as_table();
    if (!table) return std::unexpected(path + ": " + std::string(section) + " must be a table");
    for (const auto& [key, value] : *table) {
      (void)value;
      if (std::find_if(known->keys.begin(), known->keys.end(), [&](std::string_view k) { return key.str() == k; }) ==
          known->keys.end())
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

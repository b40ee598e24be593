#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <vector>
#include <cmath>
#include <toml++/toml.h>

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

std::expected<void, std::string> load_toml(const std::string& path, RunConfig& c) {
  toml::table t;
  try {
    t = toml::parse_file(path);
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
  if (const auto node = t["sampler"]["rate"]) {
    const auto v = node.value<double>();
    if (!v) return std::unexpected(path + ": sampler.rate must be a number in [0, 1]");
    c.sampler.rate = *v;
  }
  // Every other key is a mistake worth hearing about (a typo would otherwise be silently ignored).
  struct Section {
    std::string_view name;
    std::vector<std::string_view> keys;
  };
  static const Section kKnown[] = {{"source", {"file", "udp_port", "bind"}}, {"sampler", {"rate"}}, {"report", {"key"}},
                                   {"contact", {"email", "identity"}},        {"output", {"file"}}};
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

#include "app/policy_file.hpp"

#include <algorithm>
#include <filesystem>

#include "app/toml.hpp"
#include "core/clock.hpp"
#include "io/text_file.hpp"
#include "policy/lists.hpp"

namespace overflowd::app {

namespace {

using policy::PolicySpec;
using Result = std::expected<void, std::string>;

struct Reader {
  const std::string& file;
  std::string where;  // "policy.max_multiplier", "rule 'x'.src_port"

  [[nodiscard]] std::unexpected<std::string> fail(std::string_view key, std::string_view what) const {
    return std::unexpected(file + ": " + where + (where.empty() ? "" : ".") + std::string(key) + " " + std::string(what));
  }

  std::expected<double, std::string> number(const toml::node& n, std::string_view key) const {
    if (auto v = n.value_exact<double>()) return *v;
    if (auto v = n.value_exact<std::int64_t>()) return static_cast<double>(*v);
    return fail(key, "must be a number");
  }
  std::expected<std::int64_t, std::string> whole(const toml::node& n, std::string_view key, std::int64_t lo,
                                                 std::int64_t hi) const {
    const auto v = n.value_exact<std::int64_t>();
    if (!v || *v < lo || *v > hi)
      return fail(key, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    return *v;
  }
  std::expected<std::string, std::string> text(const toml::node& n, std::string_view key) const {
    if (auto v = n.value_exact<std::string>()) return *v;
    return fail(key, "must be a string");
  }
  std::expected<bool, std::string> boolean(const toml::node& n, std::string_view key) const {
    if (auto v = n.value_exact<bool>()) return *v;
    return fail(key, "must be true or false");
  }
  // A value or an array of values, each through `one`.
  template <typename F>
  Result each(const toml::node& n, F&& one) const {
    if (const auto* a = n.as_array()) {
      for (const auto& e : *a)
        if (auto r = one(e); !r) return r;
      return {};
    }
    return one(n);
  }
  Result cidrs(const toml::node& n, std::string_view key, std::vector<guard::Cidr>& out) const {
    return each(n, [&](const toml::node& e) -> Result {
      auto t = text(e, key);
      if (!t) return std::unexpected(t.error());
      auto c = guard::Cidr::parse(*t);
      if (!c) return fail(key, "'" + *t + "': " + c.error());
      out.push_back(*c);
      return {};
    });
  }
};

Result parse_ports(const Reader& rd, const toml::node& n, std::string_view key, std::vector<policy::PortRange>& out) {
  return rd.each(n, [&](const toml::node& e) -> Result {
    if (auto v = e.value_exact<std::int64_t>()) {
      if (*v < 0 || *v > 65535) return rd.fail(key, "has a port outside 0 to 65535");
      out.push_back({static_cast<std::uint16_t>(*v), static_cast<std::uint16_t>(*v)});
      return {};
    }
    auto t = e.value_exact<std::string>();
    if (!t) return rd.fail(key, "must be port numbers, \"lo-hi\" ranges or \"amplification\"");
    if (*t == "amplification") {
      for (std::uint16_t p : policy::amplification_ports()) out.push_back({p, p});
      return {};
    }
    const auto dash = t->find('-');
    auto port = [](std::string_view s) -> std::optional<std::uint16_t> {
      unsigned v = 0;
      if (s.empty() || s.size() > 5) return std::nullopt;
      for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
      }
      if (v > 65535) return std::nullopt;
      return static_cast<std::uint16_t>(v);
    };
    const auto lo = port(std::string_view(*t).substr(0, dash));
    const auto hi = dash == std::string::npos ? lo : port(std::string_view(*t).substr(dash + 1));
    if (!lo || !hi || *lo > *hi) return rd.fail(key, "'" + *t + "' is not a port, a \"lo-hi\" range or \"amplification\"");
    out.push_back({*lo, *hi});
    return {};
  });
}

std::expected<std::uint8_t, std::string> parse_flags(const Reader& rd, const toml::node& n, std::string_view key) {
  static constexpr std::pair<std::string_view, std::uint8_t> kNames[] = {
      {"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08}, {"ACK", 0x10}, {"URG", 0x20}, {"ECE", 0x40}, {"CWR", 0x80}};
  std::uint8_t flags = 0;
  auto r = rd.each(n, [&](const toml::node& e) -> Result {
    auto t = e.value_exact<std::string>();
    if (!t) return rd.fail(key, "must be flag names (\"SYN\", \"ACK\", ...)");
    std::string up = *t;
    std::transform(up.begin(), up.end(), up.begin(), [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
    for (const auto& [name, bit] : kNames)
      if (up == name) {
        flags |= bit;
        return {};
      }
    return rd.fail(key, "'" + *t + "' is not a TCP flag (FIN SYN RST PSH ACK URG ECE CWR)");
  });
  if (!r) return std::unexpected(r.error());
  return flags;
}

Result parse_protocols(const Reader& rd, const toml::node& n, std::vector<std::uint8_t>& out) {
  static constexpr std::pair<std::string_view, std::uint8_t> kNames[] = {
      {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"gre", 47}, {"esp", 50}, {"icmpv6", 58}, {"sctp", 132}};
  return rd.each(n, [&](const toml::node& e) -> Result {
    if (auto v = e.value_exact<std::int64_t>()) {
      if (*v < 0 || *v > 255) return rd.fail("protocol", "has a number outside 0 to 255");
      out.push_back(static_cast<std::uint8_t>(*v));
      return {};
    }
    if (auto t = e.value_exact<std::string>())
      for (const auto& [name, number] : kNames)
        if (*t == name) {
          out.push_back(number);
          return {};
        }
    return rd.fail("protocol", "must be protocol numbers or icmp, tcp, udp, gre, esp, icmpv6, sctp");
  });
}

template <typename T>
Result known_keys(const Reader& rd, const toml::table& t, std::initializer_list<std::string_view> keys, T) {
  for (const auto& [k, v] : t) {
    (void)v;
    if (std::find(keys.begin(), keys.end(), k.str()) == keys.end()) return rd.fail(k.str(), "is not a known key");
  }
  return {};
}

Result parse_rule(const std::string& file, const toml::table& t, std::size_t index, policy::RuleSpec& r) {
  Reader rd{file, "rule " + std::to_string(index + 1)};
  if (const auto n = t["name"]) {
    auto v = rd.text(*n.node(), "name");
    if (!v) return std::unexpected(v.error());
    if (v->empty() || v->size() > 64) return rd.fail("name", "must be 1 to 64 characters");
    r.name = *v;
    rd.where = "rule '" + r.name + "'";
  } else {
    return rd.fail("name", "is missing (reports carry it)");
  }
  if (auto r2 = known_keys(rd, t,
                           {"name", "class", "multiplier", "probability", "src_list", "dst_list", "src_cidr", "dst_cidr",
                            "src_special", "dst_special", "protocol", "src_port", "dst_port", "tcp_flags_set",
                            "tcp_flags_unset", "bytes_per_packet", "exporter", "input", "spoofed", "dst_pps", "dst_bps",
                            "dst_sources"},
                           0);
      !r2)
    return r2;
  const auto cls = t["class"].value_exact<std::string>();
  if (!cls) return rd.fail("class", "is missing (one of spoofed-source, bogon-source, listed-source, reflection-trigger, reflection-response, syn-flood, volumetric)");
  const auto rc = policy::parse_reason_class(*cls);
  if (!rc) return rd.fail("class", "'" + *cls + "' is not one of spoofed-source, bogon-source, listed-source, reflection-trigger, reflection-response, syn-flood, volumetric");
  r.reason = *rc;
  for (auto [key, into] : {std::pair{"multiplier", &r.multiplier}, std::pair{"probability", &r.probability},
                           std::pair{"dst_pps", &r.dst_pps}, std::pair{"dst_bps", &r.dst_bps},
                           std::pair{"dst_sources", &r.dst_sources}}) {
    if (const auto n = t[key]) {
      auto v = rd.number(*n.node(), key);
      if (!v) return std::unexpected(v.error());
      *into = *v;
    }
  }
  for (auto [key, into] : {std::pair{"src_list", &r.src_list}, std::pair{"dst_list", &r.dst_list}}) {
    if (const auto n = t[key]) {
      auto res = rd.each(*n.node(), [&, k = key, list = into](const toml::node& e) -> Result {
        auto v = rd.text(e, k);
        if (!v) return std::unexpected(v.error());
        list->push_back(*v);
        return {};
      });
      if (!res) return res;
    }
  }
  for (auto [key, into] : {std::pair{"src_cidr", &r.src_cidr}, std::pair{"dst_cidr", &r.dst_cidr}})
    if (const auto n = t[key])
      if (auto res = rd.cidrs(*n.node(), key, *into); !res) return res;
  for (auto [key, into] : {std::pair{"src_special", &r.src_special}, std::pair{"dst_special", &r.dst_special},
                           std::pair{"spoofed", &r.spoofed}}) {
    if (const auto n = t[key]) {
      auto v = rd.boolean(*n.node(), key);
      if (!v) return std::unexpected(v.error());
      *into = *v;
    }
  }
  if (const auto n = t["protocol"])
    if (auto res = parse_protocols(rd, *n.node(), r.protocol); !res) return res;
  for (auto [key, into] : {std::pair{"src_port", &r.src_port}, std::pair{"dst_port", &r.dst_port}})
    if (const auto n = t[key])
      if (auto res = parse_ports(rd, *n.node(), key, *into); !res) return res;
  for (auto [key, into] : {std::pair{"tcp_flags_set", &r.tcp_flags_set}, std::pair{"tcp_flags_unset", &r.tcp_flags_unset}}) {
    if (const auto n = t[key]) {
      auto v = parse_flags(rd, *n.node(), key);
      if (!v) return std::unexpected(v.error());
      *into = *v;
    }
  }
  if (const auto n = t["bytes_per_packet"]) {
    const auto* a = n.as_array();
    if (!a || a->size() != 2) return rd.fail("bytes_per_packet", "must be [min, max]");
    auto lo = rd.number(*a->get(0), "bytes_per_packet");
    auto hi = rd.number(*a->get(1), "bytes_per_packet");
    if (!lo || !hi || *lo < 0 || *hi < *lo) return rd.fail("bytes_per_packet", "must be [min, max] with 0 <= min <= max");
    r.bytes_per_packet_min = *lo;
    r.bytes_per_packet_max = *hi;
  }
  if (const auto n = t["exporter"]) {
    auto res = rd.each(*n.node(), [&](const toml::node& e) -> Result {
      auto v = rd.text(e, "exporter");
      if (!v) return std::unexpected(v.error());
      auto a = core::IpAddress::parse(*v);
      if (!a) return rd.fail("exporter", "'" + *v + "' is not an IP address");
      r.exporter.push_back(a->unmapped());
      return {};
    });
    if (!res) return res;
  }
  if (const auto n = t["input"]) {
    auto res = rd.each(*n.node(), [&](const toml::node& e) -> Result {
      auto v = rd.whole(e, "input", 0, UINT32_MAX);
      if (!v) return std::unexpected(v.error());
      r.input.push_back(static_cast<std::uint32_t>(*v));
      return {};
    });
    if (!res) return res;
  }
  return {};
}

std::string resolve(const std::string& policy_file, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(policy_file).parent_path() / p).string();
}

}  // namespace

std::expected<PolicySpec, std::string> parse_policy_text(std::string_view text, const std::string& name,
                                                         const ListReader& read) {
  auto parsed = parse_toml(text, name);
  if (!parsed) return std::unexpected(parsed.error());
  const toml::table& t = *parsed;
  PolicySpec spec;
  Reader top{name, ""};
  if (auto r = known_keys(top, t, {"policy", "lists", "rule", "urpf", "volume"}, 0); !r) return std::unexpected(r.error());

  if (const auto* p = t["policy"].as_table()) {
    Reader rd{name, "policy"};
    if (auto r = known_keys(rd, *p, {"combine", "max_multiplier", "max_probability"}, 0); !r) return std::unexpected(r.error());
    if (const auto n = (*p)["combine"]) {
      auto v = rd.text(*n.node(), "combine");
      if (!v || (*v != "max" && *v != "first")) return rd.fail("combine", "must be \"max\" or \"first\"");
      spec.combine = *v == "max" ? policy::Combine::max : policy::Combine::first;
    }
    for (auto [key, into] : {std::pair{"max_multiplier", &spec.max_multiplier}, std::pair{"max_probability", &spec.max_probability}})
      if (const auto n = (*p)[key]) {
        auto v = rd.number(*n.node(), key);
        if (!v) return std::unexpected(v.error());
        *into = *v;
      }
  } else if (t.contains("policy")) {
    return std::unexpected(name + ": policy must be a table");
  }

  if (const auto* lists = t["lists"].as_table()) {
    for (const auto& [key, node] : *lists) {
      Reader rd{name, "lists." + std::string(key.str())};
      const auto* l = node.as_table();
      if (!l) return std::unexpected(name + ": lists." + std::string(key.str()) + " must be a table");
      if (auto r = known_keys(rd, *l, {"file", "format", "refresh", "prefixes"}, 0); !r) return std::unexpected(r.error());
      policy::ListSpec ls;
      ls.name = std::string(key.str());
      if (const auto n = (*l)["format"]) {
        auto v = rd.text(*n.node(), "format");
        if (!v || !policy::parse_list_format(*v)) return rd.fail("format", "must be \"plain\", \"spamhaus\" or \"cymru\"");
        ls.format = *v;
      }
      if (const auto n = (*l)["refresh"]) {
        auto v = rd.whole(*n.node(), "refresh", 10, 31'536'000);
        if (!v) return std::unexpected(v.error());
        ls.refresh_s = static_cast<double>(*v);
      }
      if (const auto n = (*l)["prefixes"])
        if (auto r = rd.cidrs(*n.node(), "prefixes", ls.prefixes); !r) return std::unexpected(r.error());
      if (const auto n = (*l)["file"]) {
        auto v = rd.text(*n.node(), "file");
        if (!v || v->empty()) return rd.fail("file", "must be a path");
        ls.file = resolve(name, *v);
        auto content = read(ls.file);
        if (!content) return std::unexpected(name + ": lists." + ls.name + ": " + content.error());
        auto cidrs = policy::parse_list(*content, ls.file, *policy::parse_list_format(ls.format));
        if (!cidrs) return std::unexpected(cidrs.error());
        ls.prefixes.insert(ls.prefixes.end(), cidrs->begin(), cidrs->end());
      } else if (ls.refresh_s > 0) {
        return rd.fail("refresh", "needs a file to re-read");
      }
      spec.lists.push_back(std::move(ls));
    }
  } else if (t.contains("lists")) {
    return std::unexpected(name + ": lists must be a table of lists");
  }

  if (const auto* u = t["urpf"].as_table()) {
    Reader rd{name, "urpf"};
    if (auto r = known_keys(rd, *u, {"own_prefixes", "interface"}, 0); !r) return std::unexpected(r.error());
    if (const auto n = (*u)["own_prefixes"])
      if (auto r = rd.cidrs(*n.node(), "own_prefixes", spec.own_prefixes); !r) return std::unexpected(r.error());
    if (const auto n = (*u)["interface"]) {
      const auto* a = n.as_array();
      if (!a) return rd.fail("interface", "must be [[urpf.interface]] tables");
      for (std::size_t i = 0; i < a->size(); ++i) {
        const auto* it = a->get(i)->as_table();
        Reader ri{name, "urpf.interface " + std::to_string(i + 1)};
        if (!it) return ri.fail("", "must be a table");
        if (auto r = known_keys(ri, *it, {"exporter", "index", "role", "allowed"}, 0); !r) return std::unexpected(r.error());
        policy::InterfaceSpec is;
        const auto ex = (*it)["exporter"].value_exact<std::string>();
        const auto addr = ex ? core::IpAddress::parse(*ex) : std::nullopt;
        if (!addr) return ri.fail("exporter", "must be the exporter's IP address");
        is.exporter = addr->unmapped();
        const auto idx = (*it)["index"];
        if (!idx) return ri.fail("index", "is missing (the interface's ifIndex)");
        auto iv = ri.whole(*idx.node(), "index", 0, UINT32_MAX);
        if (!iv) return std::unexpected(iv.error());
        is.index = static_cast<std::uint32_t>(*iv);
        const auto role = (*it)["role"].value_exact<std::string>();
        const auto rv = role ? policy::parse_interface_role(*role) : std::nullopt;
        if (!rv) return ri.fail("role", "must be \"customer\", \"peer\" or \"transit\"");
        is.role = *rv;
        if (const auto al = (*it)["allowed"])
          if (auto r = ri.cidrs(*al.node(), "allowed", is.allowed); !r) return std::unexpected(r.error());
        spec.interfaces.push_back(std::move(is));
      }
    }
  }

  if (const auto* v = t["volume"].as_table()) {
    Reader rd{name, "volume"};
    if (auto r = known_keys(rd, *v, {"window", "width", "depth", "pair_bits"}, 0); !r) return std::unexpected(r.error());
    if (const auto n = (*v)["window"]) {
      auto w = rd.number(*n.node(), "window");
      if (!w) return std::unexpected(w.error());
      spec.volume.window_s = *w;
    }
    for (auto [key, into, lo, hi] : {std::tuple{"width", &spec.volume.width, 64, 1 << 24},
                                     std::tuple{"depth", &spec.volume.depth, 1, 8},
                                     std::tuple{"pair_bits", &spec.volume.pair_bits, 4096, 1 << 30}})
      if (const auto n = (*v)[key]) {
        auto w = rd.whole(*n.node(), key, lo, hi);
        if (!w) return std::unexpected(w.error());
        *into = static_cast<std::size_t>(*w);
      }
  }

  if (const auto n = t["rule"]) {
    const auto* a = n.as_array();
    if (!a) return std::unexpected(name + ": rule must be [[rule]] tables");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const auto* rt = a->get(i)->as_table();
      if (!rt) return std::unexpected(name + ": rule " + std::to_string(i + 1) + " must be a table");
      policy::RuleSpec r;
      if (auto res = parse_rule(name, *rt, i, r); !res) return std::unexpected(res.error());
      spec.rules.push_back(std::move(r));
    }
  }
  return spec;
}

std::expected<std::shared_ptr<const policy::Policy>, std::string> load_policy(const std::string& path) {
  const auto text = io::read_text_file(path, kMaxPolicyBytes);
  if (!text) return std::unexpected(text.error());
  auto spec = parse_policy_text(*text, path, [](const std::string& list) { return io::read_text_file(list, kMaxListBytes); });
  if (!spec) return std::unexpected(spec.error());
  auto built = policy::Policy::build(std::move(*spec));
  if (!built) return std::unexpected(path + ": " + built.error());
  return built;
}

PolicyHolder::PolicyHolder(std::string path, Loader loader) : path_(std::move(path)), loader_(std::move(loader)) {}

std::expected<void, std::string> PolicyHolder::load() { return reload(); }

void PolicyHolder::schedule(const policy::Policy& p, double now_s) {
  double every = -1;
  for (const auto& l : p.spec().lists)
    if (l.refresh_s > 0 && (every < 0 || l.refresh_s < every)) every = l.refresh_s;
  next_refresh_s_ = every < 0 ? -1 : now_s + every;
}

std::expected<void, std::string> PolicyHolder::reload() {
  auto loaded = loader_(path_);
  const double now_s = static_cast<double>(core::system_clock().monotonic_ns()) * 1e-9;
  std::lock_guard lock(mutex_);
  if (!loaded) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    if (const auto kept = live_.current()) {
      schedule(*kept, now_s);  // try again one interval later
      return std::unexpected(loaded.error() + " (keeping the policy loaded before)");
    }
    return std::unexpected(loaded.error());
  }
  schedule(**loaded, now_s);
  last_load_s_ = now_s;
  live_.publish(std::move(*loaded));
  return {};
}

std::expected<bool, std::string> PolicyHolder::refresh_if_due(double now_s) {
  {
    std::lock_guard lock(mutex_);
    if (next_refresh_s_ < 0 || now_s < next_refresh_s_) return false;
  }
  if (auto r = reload(); !r) return std::unexpected(r.error());
  return true;
}

}  // namespace overflowd::app

namespace overflowd::app {
extern const std::string_view kPolicyToml;  // generated/policy_example.cpp (cmake/embed.cmake)
std::string_view example_policy() noexcept { return kPolicyToml; }
}  // namespace overflowd::app

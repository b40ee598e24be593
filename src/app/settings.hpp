// One settings type for every command: a row names a setting's flag, its section and key in a TOML
// file, its value name and help, what kind of value it takes, and one function that checks and
// sets it. The command line (app/settings_cli.hpp), the file (load_settings below), --help and the
// file's list of known keys all come from the rows, so each setting is written once.
//   The sender's table: app/config.cpp (sender_settings); the receiver's: app/receive_config.cpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/toml.hpp"

namespace overflowd::app {

using SettingResult = std::expected<void, std::string>;

// What a setting takes: its TOML type in a file, and its form on the command line.
enum class SettingKind {
  text,           // file: a string;                           flag: one value, the last wins
  whole,          // file: an integer;                         flag: one value
  number,         // file: an integer or a float;              flag: one value
  whole_or_text,  // file: an integer or a string ("off", "32M"); flag: one value
  scalar,         // file: a string, number or boolean;        flag: one value
  boolean,        // file: true or false;                      flag: without a value
  list,           // file: an array of strings;                flag: repeatable, values append
  scalars,        // file: one scalar or an array of them;     flag: repeatable, values append
};

template <class Config>
struct Setting {
  const char* flag = nullptr;     // "-u,--udp-port"; nullptr: only in a file
  const char* section = nullptr;  // "source"; nullptr: only on the command line
  const char* key = nullptr;      // "udp_port"
  const char* value_name = "";    // "PORT"
  const char* help = "";
  SettingKind kind = SettingKind::text;
  // Checks and sets one value; `what` names the setting in errors ("--udp-port", "x.toml: source.udp_port").
  std::function<SettingResult(Config&, std::string_view value, std::string_view what)> set;
  std::function<void(Config&)> clear = {};  // a list: empties it (flags and a file's array replace, not append)
  // What a file's value must be ("a port number (0 to 65535)"), said instead of the parser's message
  // when the file's value is refused; empty: the kind's type, then the parser's own message.
  std::string expect = {};
  const char* group = nullptr;  // the flag's group in --help (nullptr: the command's options)
};

// A row's usual setter body: a parser's value into a config member, or the parser's message.
template <class T, class Member>
[[nodiscard]] SettingResult set_parsed(std::expected<T, std::string> parsed, Member& into) {
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  into = static_cast<Member>(*parsed);
  return {};
}

namespace settings_detail {

inline const char* kind_expect(SettingKind k) noexcept {
  switch (k) {
    case SettingKind::text: return "a string";
    case SettingKind::whole: return "a whole number";
    case SettingKind::number: return "a number";
    case SettingKind::whole_or_text: return "a whole number or a string";
    case SettingKind::scalar: return "a string, number or boolean";
    case SettingKind::boolean: return "true or false";
    case SettingKind::list: return "an array of strings";
    case SettingKind::scalars: return "a string, number or boolean (or an array of them)";
  }
  return "a value";
}

// One TOML scalar as the text a setter takes; nullopt when its type is not among those allowed.
inline std::optional<std::string> scalar_text(const toml::node& n, bool strings, bool integers, bool floats, bool booleans) {
  if (const auto* s = n.as_string(); s && strings) return **s;
  if (const auto* i = n.as_integer(); i && integers) return std::to_string(**i);
  if (const auto* f = n.as_floating_point(); f && floats) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, **f);  // shortest form that reads back the same
    return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  if (const auto* b = n.as_boolean(); b && booleans) return std::string(**b ? "true" : "false");
  return std::nullopt;
}

// A file's value as the texts the setter takes, one call each; nullopt: the wrong type.
inline std::optional<std::vector<std::string>> values_of(const toml::node& n, SettingKind k) {
  using V = std::vector<std::string>;
  auto one = [](std::optional<std::string> s) { return s ? std::optional<V>(V{std::move(*s)}) : std::nullopt; };
  switch (k) {
    case SettingKind::text: return one(scalar_text(n, true, false, false, false));
    case SettingKind::whole: return one(scalar_text(n, false, true, false, false));
    case SettingKind::number: return one(scalar_text(n, false, true, true, false));
    case SettingKind::whole_or_text: return one(scalar_text(n, true, true, false, false));
    case SettingKind::scalar:
    case SettingKind::boolean: return one(scalar_text(n, true, true, true, true));
    case SettingKind::list:
    case SettingKind::scalars: {
      const auto* array = n.as_array();
      if (!array) return k == SettingKind::scalars ? one(scalar_text(n, true, true, true, true)) : std::nullopt;
      V out;
      for (const auto& x : *array) {
        auto s = scalar_text(x, true, k == SettingKind::scalars, k == SettingKind::scalars, k == SettingKind::scalars);
        if (!s) return std::nullopt;
        out.push_back(std::move(*s));
      }
      return out;
    }
  }
  return std::nullopt;
}

// "--allow-destination" -> "allow_destination": how a flag would look as a key.
inline std::string flag_as_key(std::string_view flag) {
  flag = flag.substr(flag.rfind(',') + 1);
  std::string out(flag.substr(std::min(flag.find_first_not_of('-'), flag.size())));
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

}  // namespace settings_detail

// The row of `section`.`key`, or nullptr.
template <class Config>
[[nodiscard]] const Setting<Config>* find_setting(const std::vector<Setting<Config>>& table, std::string_view section,
                                                  std::string_view key) noexcept {
  const auto it = std::find_if(table.begin(), table.end(), [&](const Setting<Config>& s) {
    return s.section && s.key && section == s.section && key == s.key;
  });
  return it == table.end() ? nullptr : &*it;
}

// Sets one row from the file's value `node`; `file` names the file in messages.
template <class Config>
[[nodiscard]] SettingResult set_from_toml(const Setting<Config>& s, const toml::node& node, const std::string& file,
                                          Config& config) {
  const std::string name = std::string(s.section) + "." + s.key;
  const std::string must = "must be " + (s.expect.empty() ? std::string(settings_detail::kind_expect(s.kind)) : s.expect);
  const auto values = settings_detail::values_of(node, s.kind);
  if (!values) return std::unexpected(toml_error(file, s.section, s.key, must));
  if (s.clear) s.clear(config);
  for (const auto& v : *values) {
    if (auto r = s.set(config, v, file + ": " + name); !r)
      return std::unexpected(s.expect.empty() ? r.error() : toml_error(file, s.section, s.key, must));
  }
  return {};
}

// Reads every section of `parsed` that a row of `table` names; sections in `others` (another
// command's) are skipped, any other section or key is an error (a typo would otherwise be silently
// ignored). A key that is a flag's name is told which key it is.
template <class Config>
[[nodiscard]] SettingResult load_settings(const toml::table& parsed, const std::string& file,
                                          const std::vector<Setting<Config>>& table,
                                          const std::vector<std::string_view>& others, Config& config) {
  for (const auto& [section, node] : parsed) {
    const bool ours = std::any_of(table.begin(), table.end(),
                                  [&](const Setting<Config>& s) { return s.section && section.str() == s.section; });
    if (!ours) {
      if (std::find(others.begin(), others.end(), section.str()) != others.end()) continue;
      return std::unexpected(file + ": unknown section [" + std::string(section) + "]");
    }
    const auto* keys = node.as_table();
    if (!keys) return std::unexpected(file + ": " + std::string(section) + " must be a table");
    for (const auto& [key, value] : *keys) {
      // A table inside a section is a sub-section whose rows name it "section.key" ([source.kafka]).
      const std::string sub = std::string(section.str()) + "." + std::string(key.str());
      if (const auto* inner = value.as_table();
          inner && std::any_of(table.begin(), table.end(), [&](const Setting<Config>& r) { return r.section && sub == r.section; })) {
        for (const auto& [k, v] : *inner) {
          const Setting<Config>* s = find_setting(table, sub, k.str());
          if (!s) return std::unexpected(file + ": unknown key " + sub + "." + std::string(k));
          if (auto r = set_from_toml(*s, v, file, config); !r) return r;
        }
        continue;
      }
      const Setting<Config>* s = find_setting(table, section.str(), key.str());
      if (!s) {
        std::string why = file + ": unknown key " + std::string(section) + "." + std::string(key);
        for (const auto& row : table)
          if (row.flag && row.section && row.key && section.str() == row.section &&
              settings_detail::flag_as_key(row.flag) == key.str())
            why += " (the flag " + std::string(row.flag).substr(std::string_view(row.flag).rfind(',') + 1) + " is the key " +
                   row.key + ")";
        return std::unexpected(why);
      }
      if (auto r = set_from_toml(*s, value, file, config); !r) return r;
    }
  }
  return {};
}

// The sections the rows name, in the table's order, once each.
template <class Config>
[[nodiscard]] std::vector<std::string_view> setting_sections(const std::vector<Setting<Config>>& table) {
  std::vector<std::string_view> out;
  for (const auto& s : table)
    if (s.section && std::find(out.begin(), out.end(), std::string_view(s.section)) == out.end()) out.emplace_back(s.section);
  return out;
}

// The rows of a table shared by several commands (the logger's), acting on one member of Config.
template <class Config, class Part>
[[nodiscard]] std::vector<Setting<Config>> settings_of_member(const std::vector<Setting<Part>>& rows, Part Config::*member) {
  std::vector<Setting<Config>> out;
  for (const auto& r : rows) {
    Setting<Config> s{r.flag, r.section, r.key, r.value_name, r.help, r.kind,
                      [set = r.set, member](Config& c, std::string_view v, std::string_view what) { return set(c.*member, v, what); },
                      {}, r.expect, r.group};
    if (r.clear) s.clear = [clear = r.clear, member](Config& c) { clear(c.*member); };
    out.push_back(std::move(s));
  }
  return out;
}

// "Keys of the --config file ..., by section" and a line per section: the foot of --help.
template <class Config>
[[nodiscard]] std::string settings_keys_help(const std::vector<Setting<Config>>& table) {
  // At column 0 and without a final colon, so that scripts/gen-man takes it as the page's footer.
  std::string out = "Keys of the --config file (TOML; flags override them), by section";
  for (const auto section : setting_sections(table)) {
    out += "\n[" + std::string(section) + "]";
    for (const auto& s : table)
      if (s.section && s.key && section == s.section) out += " " + std::string(s.key);
  }
  return out;
}

}  // namespace overflowd::app

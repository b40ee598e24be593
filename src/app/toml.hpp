// The configuration file's TOML, read the same way for the sender's sections and the receiver's
// [receive]: one parser call and one format for every error about the file,
//   <file>:<line>:<column>: <what toml++ says>     (a syntax error)
//   <file>: <section>.<key> <what is wrong>         (a value; see toml_error)
//   <file>: unknown section [<name>] / unknown key <section>.<key>
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace overflowd::app {

// Never throws on any text: a syntax error becomes the message above.
[[nodiscard]] inline std::expected<toml::table, std::string> parse_toml(std::string_view text, const std::string& file) {
  try {
    return toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return std::unexpected(file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                           std::string(e.description()));
  }
}

// "<file>: <section>.<key> <what>", e.g. toml_error(path, "source", "workers", "must be a whole number").
[[nodiscard]] inline std::string toml_error(const std::string& file, std::string_view section, std::string_view key,
                                            std::string_view what) {
  return file + ": " + std::string(section) + "." + std::string(key) + " " + std::string(what);
}

}  // namespace overflowd::app

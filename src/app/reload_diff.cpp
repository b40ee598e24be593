#include "app/reload_diff.hpp"

#include <sstream>

namespace overflowd::app {

std::vector<FileKey> changed_keys(const toml::table* before, const toml::table& now) {
  const auto text = [](const toml::node* n) {
    if (!n) return std::string();
    std::ostringstream o;
    n->visit([&o](const auto& v) { o << v; });
    return o.str();
  };
  std::vector<FileKey> out;
  const auto walk = [&](const toml::table& a, const toml::table* b, bool only_missing) {
    for (const auto& [section, node] : a) {
      const toml::table* sa = node.as_table();
      const toml::node* other = b ? b->get(section.str()) : nullptr;
      const toml::table* sb = other ? other->as_table() : nullptr;
      if (!sa) continue;  // not a section: the settings loader refuses such a file
      for (const auto& [key, value] : *sa) {
        const toml::node* was = sb ? sb->get(key.str()) : nullptr;
        if (only_missing ? !was : text(&value) != text(was))
          out.push_back({std::string(section.str()), std::string(key.str())});
      }
    }
  };
  walk(now, before, false);
  if (before) walk(*before, &now, true);
  return out;
}

}  // namespace overflowd::app

// SIGHUP reload (issue 14): which keys of a --config file changed between two readings, so that
// each is said once in the log: applied live, or named as needing a restart.
#pragma once

#include <string>
#include <vector>

#include "app/toml.hpp"

namespace overflowd::app {

struct FileKey {
  std::string section, key;
};

// The keys whose value differs between `before` (none: the file could not be read at start) and
// `now`, added and removed keys included: `now`'s in its order, then those only `before` has.
[[nodiscard]] std::vector<FileKey> changed_keys(const toml::table* before, const toml::table& now);

}  // namespace overflowd::app

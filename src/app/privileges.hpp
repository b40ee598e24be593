// Dropping root after binding (issue 14 item 2): when overflowd starts as root outside systemd
// (the units use DynamicUser instead), --user NAME makes it give up root once its sockets are bound
// and its files open: supplementary groups, then group, then user; checked by trying to get root
// back. Root without --user is allowed but warned about.
#pragma once

#include <expected>
#include <string>

namespace overflowd::app {

// Nothing when not root. As root: with `user`, switches to it (an error says why it could not);
// without, a warning (not under systemd, which sets INVOCATION_ID).
[[nodiscard]] std::expected<void, std::string> drop_privileges(const std::string& user, const char* program);

}  // namespace overflowd::app

// systemd readiness (Type=notify): sd_notify(3) from libsystemd, loaded at run time only when NOTIFY_SOCKET is set. Without NOTIFY_SOCKET (not run by
// systemd) every call does nothing.
#pragma once

#include <string_view>

namespace overflowd::app::systemd {

// READY=1 with a STATUS= line: once every socket is bound and the threads run.
void ready(std::string_view status);
// RELOADING=1 before a SIGHUP's re-read of the configuration, then READY=1 again with `status`.
void reloading();
void reloaded(std::string_view status);
// STOPPING=1 when the stop begins.
void stopping();

}  // namespace overflowd::app::systemd

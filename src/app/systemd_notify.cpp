#include "app/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace overflowd::app::systemd {

namespace {
void send(const std::string& state) { (void)sd_notify(0, state.c_str()); }
}  // namespace

void ready(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void reloading() { send("RELOADING=1"); }
void reloaded(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void stopping() { send("STOPPING=1"); }

}  // namespace overflowd::app::systemd

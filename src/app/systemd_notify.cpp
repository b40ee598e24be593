#include "app/systemd_notify.hpp"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <string>

#include "app/log.hpp"

namespace overflowd::app::systemd {

namespace {

// libsystemd's sd_notify, loaded with dlopen the first time there is something to tell systemd
// (NOTIFY_SOCKET set), the way sink/curl_api loads libcurl. Linked, libsystemd and its six
// dependencies (libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap) were loaded at every
// start of the process, `--help` and file runs included (issue 17, start-up); a process not run by
// systemd now never loads it.
using NotifyFn = decltype(&::sd_notify);

NotifyFn load() {
  void* lib = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  auto* fn = lib ? reinterpret_cast<NotifyFn>(::dlsym(lib, "sd_notify")) : nullptr;
  if (!fn) {
    const char* why = ::dlerror();
    log::warning("overflowd", std::string("NOTIFY_SOCKET is set but libsystemd (Debian package libsystemd0) could not be loaded, "
                                          "so systemd is not told of readiness: ") + (why ? why : "sd_notify not found"));
  }
  return fn;  // the library stays loaded for the life of the process
}

void send(const std::string& state) {
  if (!std::getenv("NOTIFY_SOCKET")) return;  // not run by systemd: sd_notify would do nothing
  static const NotifyFn notify = load();
  if (notify) (void)notify(0, state.c_str());
}

}  // namespace

void ready(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void reloading() { send("RELOADING=1"); }
void reloaded(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }
void stopping() { send("STOPPING=1"); }

}  // namespace overflowd::app::systemd

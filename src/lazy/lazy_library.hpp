// Shared libraries loaded on first use (issue 17, start-up).
//
// Linking librdkafka, c-ares, SQLite, libpq and OpenSSL made every overflowd process map them and
// what they pull in (libpq alone brings Kerberos, LDAP and GnuTLS: 32 objects), so `--help` and a
// capture file's run spent most of their start-up in the dynamic loader resolving symbols of
// libraries they never call. cmake/lazy_libraries.cmake therefore links, in place of each such
// library, a stub for every function it exports: the first call of a stub loads the library with
// dlopen, looks the function up, keeps it in a table and jumps to it; later calls jump through the
// table. Call sites and headers are unchanged (the library's own header still declares and checks
// every call). A process that never calls into a library never maps it.
//
// The feature that needs a library calls `load()` before its first call, so that a missing library
// is an ordinary error naming it and its Debian package; a stub reached without that (a test, a
// path that forgot) prints the same message and exits with status 2.
//
// On a processor without stubs (anything but x86-64) the libraries are linked as before and
// `load()` always succeeds.
#pragma once

#include <atomic>
#include <expected>
#include <mutex>
#include <string>

namespace overflowd::lazy {

// One lazily loaded library: what the generated file for it (build/generated/lazy_<id>.cpp) fills
// in. Constant-initialized: no code runs for it at start-up.
struct Library {
  const char* soname;           // what dlopen is given: "libpq.so.5"
  const char* env;              // a variable naming another file instead: "OVERFLOWD_LIBPQ"
  const char* package;          // the Debian package that installs soname: "libpq5"
  const char* needed_by;        // who needs it, for the error: "the PostgreSQL store (--db postgresql://)"
  const char* const* names;     // the exported functions, in stub order
  unsigned long count;          // of names and table
  void** table;                 // the functions found so far (nullptr: not yet looked up)
  bool stubbed;                 // false where the library is linked as usual
  std::mutex mutex{};
  std::atomic<void*> handle{nullptr};
  bool failed = false;
  char error[480] = {};
};

// Loads `library` now, once per process (thread-safe; a failure is remembered). The file is the
// variable `library.env` when set (read with secure_getenv: ignored in a set-user-ID or
// file-capability process), else `library.soname`; it stays loaded for the life of the process.
// The error reads "<needed_by> needs <soname> (Debian package <package>): <dlerror's reason>".
[[nodiscard]] std::expected<void, std::string> load(Library& library);

// Whether `library` is mapped by this process through load() or a stub (for tests and logs).
[[nodiscard]] bool loaded(const Library& library);

// The libraries, one accessor each (defined in the generated files).
Library& librdkafka();  // the Kafka source and sink
Library& libcares();    // key discovery's DNS lookups
Library& libsqlite3();  // the receiver's SQLite store
Library& libpq();       // the receiver's PostgreSQL store
Library& libssl();      // the receiver's HTTPS listener (Boost.Asio's ssl over OpenSSL)
Library& libcrypto();   // the same

}  // namespace overflowd::lazy

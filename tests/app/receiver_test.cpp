// The receiver's phased start (app/receiver.hpp): open, bind, start; whatever fails unwinds what
// was made, and a stopped receiver leaves no thread, socket or lock behind.
#include "app/receiver.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "receive/receive_test_util.hpp"
#include "store/store.hpp"

namespace overflowd::app {
namespace {

using receive::testing::TempDb;

// The process's threads. A sanitizer's runtime may start a helper thread of its own at the first
// thread the process makes (ThreadSanitizer does): one thread made and joined first lets it.
std::size_t threads_now() {
  static const bool runtime_settled = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)runtime_settled;
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The process's threads once they are back to `want` (or after 60 s). A joined thread can still be
// listed in /proc/self/task for a moment: pthread_join returns when the kernel clears the thread's
// id, before the task is released, which a loaded machine can stretch (TSan at load 30 saw it).
std::size_t threads_settled_at(std::size_t want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::size_t n = threads_now();
  while (n != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    n = threads_now();
  }
  return n;
}

// A socket bound to 127.0.0.1 (port 0: any free one); its port; -1 when it cannot bind.
struct Socket {
  int fd = -1;
  int port = -1;
  Socket(int type, int want_port, bool listening) {
    fd = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(want_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return;
    if (listening && ::listen(fd, 4) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Socket() { ::close(fd); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
};

// The sockets this process holds: a receiver gone leaves as many as there were before it. (Counted
// rather than bound again: another process may take a port as soon as it is free.)
std::size_t sockets_now() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string().starts_with("socket:")) ++n;
  }
  return n;
}

// The port of the receiver's UDP input, from what it says it listens on ("udp [127.0.0.1]:PORT").
int udp_port_of(const Receiver& r) {
  for (const auto& l : r.listening())
    if (l.starts_with("udp ")) return std::stoi(l.substr(l.rfind(':') + 1));
  return -1;
}

// Ports 0: the receiver binds free ones (a port picked free and bound later may be taken meanwhile).
ReceiveConfig loopback_config(const TempDb& db) {
  ReceiveConfig c;
  c.db = db.path();
  c.bind = "127.0.0.1";
  c.http_bind = "127.0.0.1";
  c.udp_port = 0;
  c.http_port = 0;
  c.quiet = true;
  c.verify_threads = 2;
  return c;
}

// The database takes a writer at once (nobody holds it) and stores a batch.
void expect_database_free(const std::string& path) {
  store::StoreConfig sc;
  sc.path = path;
  auto s = store::SqliteStore::open(sc);
  ASSERT_TRUE(s) << s.error();
  sqlite3_busy_timeout((*s)->db().handle(), 0);
  auto w = (*s)->write({});
  EXPECT_TRUE(w) << w.error();
}

TEST(Receiver, ABindFailureAfterTheDatabaseOpenedLeavesNoThreadNoSocketAndNoLock) {
  TempDb db;
  Socket taken(SOCK_STREAM, 0, true);  // the HTTP port is in use
  ASSERT_GT(taken.port, 0);
  ReceiveConfig c = loopback_config(db);
  c.http_port = taken.port;
  const std::size_t before = threads_now();
  const std::size_t sockets_before = sockets_now();
  {
    auto r = Receiver::open(c);
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(std::filesystem::exists(db.path()));  // the database is open
    EXPECT_EQ(threads_now(), before) << "open() starts no thread";
    auto bound = (*r)->bind();
    ASSERT_FALSE(bound);
    EXPECT_NE(bound.error().find(std::to_string(taken.port)), std::string::npos) << bound.error();
    EXPECT_GT(udp_port_of(**r), 0) << "the UDP input was bound before the HTTP port failed";
    EXPECT_EQ(threads_now(), before) << "bind() starts no thread";
  }
  EXPECT_EQ(threads_settled_at(before), before);
  EXPECT_EQ(sockets_now(), sockets_before) << "the UDP socket the receiver had bound is closed";
  expect_database_free(db.path());
}

TEST(Receiver, AStartedReceiverStopsEveryThreadAndFreesItsPortsAndDatabase) {
  TempDb db;
  ReceiveConfig c = loopback_config(db);
  const std::size_t before = threads_now();
  const std::size_t sockets_before = sockets_now();
  {
    auto r = Receiver::open(c);
    ASSERT_TRUE(r) << r.error();
    ASSERT_TRUE((*r)->bind());
    ASSERT_EQ((*r)->listening().size(), 2u);  // udp and http
    EXPECT_GT(udp_port_of(**r), 0);
    EXPECT_GE(sockets_now(), sockets_before + 2);
    (*r)->start();
    EXPECT_GT(threads_now(), before + 3) << "writer, verifiers, UDP input, HTTP listener";
  }
  EXPECT_EQ(threads_settled_at(before), before);
  EXPECT_EQ(sockets_now(), sockets_before);
  expect_database_free(db.path());
}

TEST(Receiver, AConfigurationThatCannotOpenLeavesNothing) {
  TempDb db;
  ReceiveConfig c = loopback_config(db);
  c.db = (db.dir / "missing-folder" / "receive.db").string();
  const std::size_t before = threads_now();
  auto r = Receiver::open(c);
  EXPECT_FALSE(r);
  EXPECT_EQ(threads_settled_at(before), before);
}

}  // namespace
}  // namespace overflowd::app

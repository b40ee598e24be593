#include "io/key_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/encoding.hpp"

namespace {

namespace fs = std::filesystem;
using overflowd::io::create_key;
using overflowd::io::load_key;
using overflowd::io::load_or_create_key;

class KeyFile : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-key-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] std::string path(const char* name = "key") const { return (dir_ / name).string(); }

  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void write(const std::string& p, const std::string& text, mode_t mode = 0600) {
    std::ofstream(p, std::ios::binary) << text;
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
  }
  static mode_t mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

constexpr const char* kSeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

TEST_F(KeyFile, CreateWritesMode0600EvenUnderAPermissiveUmask) {
  const mode_t old = ::umask(0);
  const auto k = create_key(path());
  ::umask(old);
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(mode_of(path()), 0600u);
}

TEST_F(KeyFile, CreateWritesTheSeedAsHexAndANewline) {
  const auto k = create_key(path());
  ASSERT_TRUE(k) << k.error();
  const std::string text = read(path());
  ASSERT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.substr(0, 64), overflowd::core::to_hex(k->seed));
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef\n"), std::string::npos);
}

TEST_F(KeyFile, LoadRoundTrip) {
  const auto created = create_key(path());
  ASSERT_TRUE(created) << created.error();
  const auto loaded = load_key(path());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->seed, created->seed);
  EXPECT_EQ(loaded->public_key, created->public_key);
  EXPECT_EQ(loaded->secret_key, created->secret_key);
}

TEST_F(KeyFile, LoadDerivesThePublicKeyFromTheSeed) {
  // RFC 8032 section 7.1 TEST 1: this seed's public key.
  write(path(), std::string(kSeedHex) + "\n");
  const auto k = load_key(path());
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(overflowd::core::to_hex(k->public_key), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
}

TEST_F(KeyFile, LoadAcceptsUpperCaseNoNewlineAndCrLf) {
  std::string upper = kSeedHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& text : {upper + "\n", std::string(kSeedHex), std::string(kSeedHex) + "\r\n"}) {
    write(path(), text);
    const auto k = load_key(path());
    ASSERT_TRUE(k) << k.error();
    EXPECT_EQ(overflowd::core::to_hex(k->seed), kSeedHex);
  }
}

TEST_F(KeyFile, LoadAcceptsReadOnlyForTheOwner) {
  write(path(), std::string(kSeedHex) + "\n", 0400);
  EXPECT_TRUE(load_key(path()));
}

TEST_F(KeyFile, GroupOrWorldAccessIsRefusedWithAChmodHint) {
  for (mode_t mode : {0640u, 0604u, 0660u, 0644u, 0620u, 0602u, 0610u, 0601u, 0666u}) {
    write(path(), std::string(kSeedHex) + "\n", mode);
    const auto k = load_key(path());
    ASSERT_FALSE(k) << std::oct << mode;
    EXPECT_NE(k.error().find("chmod 600 " + path()), std::string::npos) << k.error();
    char m[8];
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(k.error().find(m), std::string::npos) << k.error();
  }
}

TEST_F(KeyFile, CorruptFileIsRefused) {
  for (const std::string& text :
       {std::string(""), std::string("\n"), std::string("hello"), std::string(kSeedHex).substr(0, 63) + "\n",
        std::string(kSeedHex) + "00\n", "zz" + std::string(kSeedHex).substr(2) + "\n", std::string(kSeedHex) + " \n",
        " " + std::string(kSeedHex), std::string(kSeedHex) + "\n" + std::string(kSeedHex) + "\n",
        std::string(1000, 'a')}) {
    write(path(), text);
    const auto k = load_key(path());
    ASSERT_FALSE(k) << "accepted " << ::testing::PrintToString(text);
    EXPECT_NE(k.error().find("corrupt"), std::string::npos) << k.error();
  }
}

TEST_F(KeyFile, MissingFileSymlinkAndDirectoryAreRefused) {
  EXPECT_FALSE(load_key(path("absent")));
  write(path(), std::string(kSeedHex) + "\n");
  fs::create_symlink(path(), path("link"));
  EXPECT_FALSE(load_key(path("link")));
  fs::create_directory(path("dir"));
  ::chmod(path("dir").c_str(), 0700);
  EXPECT_FALSE(load_key(path("dir")));
}

TEST_F(KeyFile, CreateRefusesToOverwrite) {
  write(path(), "precious\n");
  const auto k = create_key(path());
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find(path()), std::string::npos) << k.error();
  EXPECT_EQ(read(path()), "precious\n");
  // Nor through a symlink to another file.
  fs::create_symlink(path(), path("link"));
  EXPECT_FALSE(create_key(path("link")));
  EXPECT_EQ(read(path()), "precious\n");
}

TEST_F(KeyFile, CreateMakesDifferentKeys) {
  const auto a = create_key(path("a"));
  const auto b = create_key(path("b"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->seed, b->seed);
}

TEST_F(KeyFile, LoadOrCreateCreatesOnceThenLoads) {
  const auto first = load_or_create_key(path());
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(mode_of(path()), 0600u);
  const auto second = load_or_create_key(path());
  ASSERT_TRUE(second) << second.error();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->keys.public_key, first->keys.public_key);
}

// Two daemons started at once with the same absent key (a sender and its unit's restart, or a
// test starting two) must end with one key, both using it; neither may read a half-written file.
TEST_F(KeyFile, LoadOrCreateRacingProcessesAgreeOnOneKey) {
  for (int round = 0; round < 20; ++round) {
    const std::string p = path(("race" + std::to_string(round)).c_str());
    std::vector<std::expected<overflowd::io::LoadedKey, std::string>> got(8, std::unexpected(std::string("not run")));
    {
      std::vector<std::jthread> threads;
      for (auto& g : got) threads.emplace_back([&g, &p] { g = load_or_create_key(p); });
    }
    int created = 0;
    for (const auto& g : got) {
      ASSERT_TRUE(g) << g.error();
      created += g->created ? 1 : 0;
      EXPECT_EQ(g->keys.public_key, got.front()->keys.public_key);
    }
    EXPECT_EQ(created, 1);
  }
  // No temporary file is left next to the keys.
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find('.'), std::string::npos) << entry.path();
}

TEST_F(KeyFile, LoadOrCreateDoesNotReplaceABadKey) {
  write(path(), std::string(kSeedHex) + "\n", 0644);
  const auto k = load_or_create_key(path());
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find("chmod"), std::string::npos);
  EXPECT_EQ(read(path()), std::string(kSeedHex) + "\n");
}

}  // namespace

// Issue 13 item 6: a FIFO at the key path must be refused at once, not block start-up waiting
// for a writer. The alarm turns a hang into a failure (SIGALRM ends the test binary).
TEST_F(KeyFile, FifoAndDeviceAreRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  ::alarm(10);
  const auto k = load_key(path("fifo"));
  const auto k2 = load_or_create_key(path("fifo"));
  const auto k3 = load_key("/dev/null");
  ::alarm(0);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find("not a regular file"), std::string::npos) << k.error();
  ASSERT_FALSE(k2);
  EXPECT_NE(k2.error().find("not a regular file"), std::string::npos) << k2.error();
  EXPECT_FALSE(k3);
}

TEST_F(KeyFile, AFolderWritableByOthersIsRefusedUnlessSticky) {
  write(path(), std::string(kSeedHex) + "\n");
  for (mode_t mode : {0777u, 0770u, 0730u, 0703u}) {
    ASSERT_EQ(::chmod(dir_.c_str(), mode), 0);
    const auto k = load_key(path());
    ASSERT_FALSE(k) << std::oct << mode;
    EXPECT_NE(k.error().find("chmod go-w"), std::string::npos) << k.error();
    const auto c = load_or_create_key(path("new"));
    ASSERT_FALSE(c) << std::oct << mode;
    EXPECT_FALSE(fs::exists(path("new"))) << "a key was created in a folder others may write";
  }
  // Sticky (as /tmp): others cannot rename or remove our file there.
  ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);
  EXPECT_TRUE(load_key(path()));
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  EXPECT_TRUE(load_key(path()));
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
}

TEST_F(KeyFile, AKeyOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  write(path(), std::string(kSeedHex) + "\n");
  ASSERT_EQ(::chown(path().c_str(), 4242, 4242), 0);
  const auto k = load_key(path());
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find("owned by uid 4242"), std::string::npos) << k.error();
  // The folder, too: its owner could replace the key.
  ASSERT_EQ(::chown(path().c_str(), 0, 0), 0);
  ASSERT_EQ(::chown(dir_.c_str(), 4242, 4242), 0);
  const auto k2 = load_key(path());
  ASSERT_FALSE(k2);
  EXPECT_NE(k2.error().find("owned by uid 4242"), std::string::npos) << k2.error();
  ASSERT_EQ(::chown(dir_.c_str(), 0, 0), 0);
}

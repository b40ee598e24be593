#include "io/text_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;
using overflowd::io::read_text_file;

class TextFile : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "overflowd-text-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  [[nodiscard]] std::string path(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TextFile, ReadsARegularFileUpToTheLimit) {
  std::ofstream(path("a.toml")) << "key = 1\n";
  const auto t = read_text_file(path("a.toml"), 8);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, "key = 1\n");
  const auto big = read_text_file(path("a.toml"), 7);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().find("larger than 7 bytes"), std::string::npos) << big.error();
}

// Issue 13 item 6: `--config` naming a FIFO hung start-up (opened blocking before any type check).
TEST_F(TextFile, FifoDeviceFolderAndSymlinkAreRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  std::ofstream(path("real")) << "x\n";
  fs::create_symlink(path("real"), path("link"));
  ::alarm(10);  // a hang becomes a failure
  const auto fifo = read_text_file(path("fifo"), 100);
  const auto dev = read_text_file("/dev/zero", 100);
  const auto folder = read_text_file(dir_.string(), 100);
  const auto link = read_text_file(path("link"), 100);
  ::alarm(0);
  for (const auto* r : {&fifo, &dev, &folder}) {
    ASSERT_FALSE(*r);
    EXPECT_NE(r->error().find("not a regular file"), std::string::npos) << r->error();
  }
  ASSERT_FALSE(link);
  EXPECT_NE(link.error().find("symbolic link"), std::string::npos) << link.error();
  EXPECT_FALSE(read_text_file(path("absent"), 100));
}

}  // namespace

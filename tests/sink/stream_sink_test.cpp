#include "sink/stream_sink.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace overflowd::sink {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string all, line;
  while (std::getline(in, line)) all += line + "\n";
  return all;
}

report::SignedReport line(std::string text) {
  report::SignedReport r;
  r.line = std::move(text);
  return r;
}

TEST(StreamSink, ReopenAfterARenameWritesANewFileAtTheOldName) {
  const auto dir = std::filesystem::temp_directory_path() / ("overflowd-sink-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "reports.jsonl";
  {
    auto s = StreamSink::file(path.string(), true);
    ASSERT_TRUE(s);
    (*s)->write({}, line("{\"a\":1}"));
    std::filesystem::rename(path, dir / "reports.jsonl.1");
    (*s)->write({}, line("{\"a\":2}"));  // still the open (renamed) file
    (*s)->reopen();
    (*s)->write({}, line("{\"a\":3}"));
    std::vector<core::NamedCount> counts;
    (*s)->append_counters(counts);
    EXPECT_EQ(counts, (std::vector<core::NamedCount>{{"output.reopened", 1}}));
    EXPECT_FALSE((*s)->failed());
  }
  EXPECT_EQ(slurp(dir / "reports.jsonl.1"), "{\"a\":1}\n{\"a\":2}\n");
  EXPECT_EQ(slurp(path), "{\"a\":3}\n");
  std::filesystem::remove_all(dir);
}

TEST(StreamSink, AFailedReopenKeepsTheOldFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("overflowd-sink2-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  const auto path = dir / "sub" / "reports.jsonl";
  {
    auto s = StreamSink::file(path.string(), true);
    ASSERT_TRUE(s);
    std::filesystem::rename(dir / "sub", dir / "moved");  // the folder is gone: reopening fails
    (*s)->reopen();
    EXPECT_FALSE((*s)->reopen_error().empty());
    (*s)->write({}, line("{\"b\":1}"));
  }
  EXPECT_EQ(slurp(dir / "moved" / "reports.jsonl"), "{\"b\":1}\n");
  std::filesystem::remove_all(dir);
}

TEST(StreamSink, RetargetMovesToAnotherFileAndABadOneKeepsTheOld) {
  const auto dir = std::filesystem::temp_directory_path() / ("overflowd-sink3-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    auto s = StreamSink::file((dir / "a.jsonl").string(), true);
    ASSERT_TRUE(s);
    (*s)->write({}, line("{\"c\":1}"));
    ASSERT_TRUE((*s)->retarget((dir / "b.jsonl").string()));
    (*s)->write({}, line("{\"c\":2}"));
    EXPECT_FALSE((*s)->retarget((dir / "no" / "c.jsonl").string()));
    (*s)->write({}, line("{\"c\":3}"));
    (*s)->reopen();  // at the new name
    (*s)->write({}, line("{\"c\":4}"));
    EXPECT_FALSE((*s)->failed());
  }
  EXPECT_EQ(slurp(dir / "a.jsonl"), "{\"c\":1}\n");
  EXPECT_EQ(slurp(dir / "b.jsonl"), "{\"c\":2}\n{\"c\":3}\n{\"c\":4}\n");
  EXPECT_FALSE(StreamSink::standard_output(false)->retarget((dir / "d.jsonl").string()));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace overflowd::sink

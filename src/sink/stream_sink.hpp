// JSON lines on stdout or in a file (appended). In live mode each report is flushed as it is made.
// Thread-safe: several pipeline workers share one sink, and each line is written whole under a lock.
// A file sink reopens its file by name on reopen() (SIGHUP), for log rotation: after `mv` the new
// lines go to a new file at the old name.
#pragma once

#include <cstdio>
#include <expected>
#include <memory>
#include <mutex>
#include <string>

#include "sink/sink.hpp"

namespace overflowd::sink {

class StreamSink final : public Sink {
public:
  // Writes to stdout (not closed at the end).
  [[nodiscard]] static std::unique_ptr<StreamSink> standard_output(bool flush_each);
  // Appends to `path`, created with mode 0644 when absent.
  [[nodiscard]] static std::expected<std::unique_ptr<StreamSink>, std::string> file(const std::string& path, bool flush_each);
  ~StreamSink() override;

  void write(const core::FlowRecord& flow, const report::SignedReport& report) override;
  void write_line(const report::SignedReport& report);
  void flush() override;
  // Reopens a file sink at its path (nothing for stdout). When the file cannot be opened, the old
  // one is kept and the failure is remembered (reopen_error()).
  void reopen() override;
  // A reload (SIGHUP) naming another output file: a file sink appends to `path` from now on (the
  // old file is flushed and closed). When `path` cannot be opened the old file is kept and the
  // error returned. A stdout sink cannot become a file one (nor the reverse): restart for that.
  [[nodiscard]] std::expected<void, std::string> retarget(const std::string& path);
  [[nodiscard]] bool is_file() const noexcept { return owned_; }
  void append_counters(std::vector<core::NamedCount>& out) const override;
  // Read these once the workers are done.
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] const std::string& reopen_error() const noexcept { return reopen_error_; }

private:
  StreamSink(std::FILE* f, bool owned, bool flush_each, std::string path);
  void flush_locked();
  mutable std::mutex mutex_;
  std::FILE* file_;
  bool owned_;
  bool flush_each_;
  std::string path_;  // empty for stdout
  bool failed_ = false;
  std::uint64_t reopened_ = 0;
  std::string reopen_error_;
};

}  // namespace overflowd::sink

// JSON lines on stdout or in a file (appended). In live mode each report is flushed as it is made.
#pragma once

#include <cstdio>
#include <expected>
#include <memory>
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

  void write(const report::SignedReport& report) override;
  void flush() override;
  [[nodiscard]] bool failed() const noexcept { return failed_; }

private:
  StreamSink(std::FILE* f, bool owned, bool flush_each);
  std::FILE* file_;
  bool owned_;
  bool flush_each_;
  bool failed_ = false;
};

}  // namespace overflowd::sink

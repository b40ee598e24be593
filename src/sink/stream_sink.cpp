#include "sink/stream_sink.hpp"

#include <cerrno>
#include <cstring>

namespace overflowd::sink {

std::unique_ptr<StreamSink> StreamSink::standard_output(bool flush_each) {
  static char buffer[1 << 16];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  return std::unique_ptr<StreamSink>(new StreamSink(stdout, false, flush_each, {}));
}

std::expected<std::unique_ptr<StreamSink>, std::string> StreamSink::file(const std::string& path, bool flush_each) {
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return std::unexpected(path + ": " + std::strerror(errno));
  return std::unique_ptr<StreamSink>(new StreamSink(f, true, flush_each, path));
}

StreamSink::StreamSink(std::FILE* f, bool owned, bool flush_each, std::string path)
    : file_(f), owned_(owned), flush_each_(flush_each), path_(std::move(path)) {}

StreamSink::~StreamSink() {
  std::fflush(file_);
  if (owned_) std::fclose(file_);
}

void StreamSink::write(const core::FlowRecord& flow, const report::SignedReport& report) {
  (void)flow;
  write_line(report);
}

void StreamSink::write_line(const report::SignedReport& report) {
  const std::string& line = report.line;
  std::lock_guard lock(mutex_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF)
    failed_ = true;
  if (flush_each_) flush_locked();
}

void StreamSink::flush() {
  std::lock_guard lock(mutex_);
  flush_locked();
}

void StreamSink::flush_locked() {
  if (std::fflush(file_) != 0) failed_ = true;
}

void StreamSink::reopen() {
  if (!owned_) return;
  std::lock_guard lock(mutex_);
  if (path_.empty()) return;
  std::fflush(file_);
  std::FILE* f = std::fopen(path_.c_str(), "ae");
  if (!f) {
    reopen_error_ = path_ + ": " + std::strerror(errno);  // keep writing to the old file
    return;
  }
  if (std::fclose(file_) != 0) failed_ = true;
  file_ = f;
  reopen_error_.clear();
  ++reopened_;
}

std::expected<void, std::string> StreamSink::retarget(const std::string& path) {
  if (!owned_) return std::unexpected("reports go to stdout; restart to write them to a file");
  if (path.empty()) return std::unexpected("no file named; restart to write reports to stdout");
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return std::unexpected(path + ": " + std::strerror(errno));
  std::lock_guard lock(mutex_);
  if (std::fflush(file_) != 0 || std::fclose(file_) != 0) failed_ = true;
  file_ = f;
  path_ = path;
  return {};
}

void StreamSink::append_counters(std::vector<core::NamedCount>& out) const {
  std::lock_guard lock(mutex_);
  if (reopened_) out.push_back({"output.reopened", reopened_});
}

}  // namespace overflowd::sink

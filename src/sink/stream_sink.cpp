#include "sink/stream_sink.hpp"

#include <cerrno>
#include <cstring>

namespace overflowd::sink {

std::unique_ptr<StreamSink> StreamSink::standard_output(bool flush_each) {
  static char buffer[1 << 16];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  return std::unique_ptr<StreamSink>(new StreamSink(stdout, false, flush_each));
}

std::expected<std::unique_ptr<StreamSink>, std::string> StreamSink::file(const std::string& path, bool flush_each) {
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return std::unexpected(path + ": " + std::strerror(errno));
  return std::unique_ptr<StreamSink>(new StreamSink(f, true, flush_each));
}

StreamSink::StreamSink(std::FILE* f, bool owned, bool flush_each) : file_(f), owned_(owned), flush_each_(flush_each) {}

StreamSink::~StreamSink() {
  std::fflush(file_);
  if (owned_) std::fclose(file_);
}

void StreamSink::write(const report::SignedReport& report) {
  const std::string& line = report.line;
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF) failed_ = true;
  if (flush_each_) flush();
}

void StreamSink::flush() {
  if (std::fflush(file_) != 0) failed_ = true;
}

}  // namespace overflowd::sink

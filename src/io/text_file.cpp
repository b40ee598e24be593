#include "io/text_file.hpp"

#include <fstream>

namespace overflowd::io {

std::expected<std::string, std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(path + ": cannot open");
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return std::unexpected(path + ": cannot read");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) return std::unexpected(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

}  // namespace overflowd::io

// Reads a whole text file of at most `max_bytes` (config files): never more than that is read.
#pragma once

#include <cstddef>
#include <expected>
#include <string>

namespace overflowd::io {

// The file's bytes; an error naming the path when it cannot be opened or read, or is larger.
[[nodiscard]] std::expected<std::string, std::string> read_text_file(const std::string& path, std::size_t max_bytes);

}  // namespace overflowd::io

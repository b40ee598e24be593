// Reads a whole text file of at most `max_bytes` (config files): never more than that is read.
// Only a regular file is read: a FIFO, device or symbolic link at the path is refused at once
// rather than hanging start-up or reading something else.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <expected>
#include <string>

namespace overflowd::io {

struct OpenedFile {
  int fd = -1;  // the caller closes it
  struct stat st {};
};

// Opens `path` read-only without blocking and without following a final symbolic link, and
// refuses anything but a regular file. Errors start with `what` (e.g. "key file ") and the path.
[[nodiscard]] std::expected<OpenedFile, std::string> open_regular_file(const std::string& path,
                                                                       const std::string& what);

// The file's bytes; an error naming the path when it cannot be opened or read, is not a regular
// file, or is larger.
[[nodiscard]] std::expected<std::string, std::string> read_text_file(const std::string& path, std::size_t max_bytes);

}  // namespace overflowd::io

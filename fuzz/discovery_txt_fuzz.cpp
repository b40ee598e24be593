// Discovery's TXT record text (discovery/names.hpp): any bytes give a URL or a coded error; a URL
// read back is printable, bounded, and names a scheme, a host and a path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "discovery/names.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = std::as_bytes(std::span(data, size));
  const auto url = overflowd::discovery::parse_txt(text);
  if (url) {
    if (url->url.size() > overflowd::discovery::kMaxUrlBytes) std::abort();
    if (url->host.empty() || url->path.empty() || url->path.front() != '/') std::abort();
    for (char c : url->url)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
    (void)url->address();
  } else {
    (void)overflowd::discovery::to_string(url.error());
  }
  return 0;
}

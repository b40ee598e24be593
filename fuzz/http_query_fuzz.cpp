// The HTTP server's own parsers of what a client sends besides the header block (which Beast's
// parser reads): the query of a target (split, percent-decoded) and the Host header (port and
// brackets taken off, lower-cased). Must never crash; a host, when one is found, is only the
// characters of a name or an address, lower case, and reading it again gives it back.
// The first byte picks: even, a query; odd, a Host value. Seeds: fuzz/corpus/http_query/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/http_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    std::size_t total = 0;
    for (const auto& [k, v] : overflowd::api::parse_query(text)) total += k.size() + v.size();
    if (total > text.size()) std::abort();  // decoding never grows the text
  } else {
    const std::string host = overflowd::api::host_of(text);
    for (const char c : host)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':')) std::abort();
    if (!host.empty() && host.find(':') == std::string::npos && overflowd::api::host_of(host) != host) std::abort();
  }
  return 0;
}

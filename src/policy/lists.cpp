#include "policy/lists.hpp"

namespace overflowd::policy {

std::optional<ListFormat> parse_list_format(std::string_view name) noexcept {
  if (name == "plain") return ListFormat::plain;
  if (name == "spamhaus") return ListFormat::spamhaus;
  if (name == "cymru") return ListFormat::cymru;
  return std::nullopt;
}

const char* to_string(ListFormat f) noexcept {
  switch (f) {
    case ListFormat::plain:
      return "plain";
    case ListFormat::spamhaus:
      return "spamhaus";
    case ListFormat::cymru:
      return "cymru";
  }
  return "unknown";
}

namespace {
std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 60) out += "...";
  return out;
}
}  // namespace

std::expected<std::vector<guard::Cidr>, std::string> parse_list(std::string_view text, std::string_view origin,
                                                                ListFormat format) {
  std::vector<guard::Cidr> out;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& what) {
    return std::unexpected(std::string(origin) + ":" + std::to_string(line_no) + ": " + what);
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.find('\0') != std::string_view::npos) return fail("a NUL byte (not a text file?)");
    std::string_view entry = line;
    if (format == ListFormat::spamhaus) {
      // "1.10.16.0/20 ; SBL256894"; a line starting with ';' is a comment.
      if (const auto semi = entry.find(';'); semi != std::string_view::npos) entry = entry.substr(0, semi);
    } else if (const auto hash = entry.find('#'); hash != std::string_view::npos) {
      entry = entry.substr(0, hash);
    }
    entry = trim(entry);
    if (entry.empty()) continue;
    if (entry.find_first_of(" \t") != std::string_view::npos)
      return fail("'" + printable(line) + "' is not one CIDR per line" +
                  (format == ListFormat::plain ? " (a Spamhaus list? say format = \"spamhaus\")" : ""));
    auto cidr = guard::Cidr::parse(entry);
    if (!cidr) return fail("'" + printable(entry) + "': " + cidr.error());
    if (out.size() == kMaxListEntries) return fail("more than " + std::to_string(kMaxListEntries) + " entries");
    out.push_back(*cidr);
  }
  return out;
}

}  // namespace overflowd::policy

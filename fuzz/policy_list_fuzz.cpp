// Fuzz target: the policy's list file parser (policy::parse_list) in its three formats (plain,
// Spamhaus DROP/EDROP, Team Cymru) on any bytes, and the prefix table over what it takes: a lookup
// of every prefix's first and last address must find its set. Every refusal says why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/lists.hpp"
#include "policy/prefix_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto format : {policy::ListFormat::plain, policy::ListFormat::spamhaus, policy::ListFormat::cymru}) {
    const auto list = policy::parse_list(text, "fuzz.txt", format);
    if (!list) {
      if (list.error().rfind("fuzz.txt:", 0) != 0) __builtin_trap();  // names the file and line
      continue;
    }
    policy::PrefixTable table;
    for (std::size_t i = 0; i < list->size(); ++i) table.add((*list)[i], static_cast<unsigned>(i % 3));
    table.build();
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::uint64_t bit = std::uint64_t{1} << (i % 3);
      if (!(table.lookup((*list)[i].first()) & bit) || !(table.lookup((*list)[i].last()) & bit)) __builtin_trap();
    }
  }
  return 0;
}

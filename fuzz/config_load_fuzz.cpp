// Fuzz target: the configuration loaders on any text. The same bytes go to the sender's loader
// (app::load_toml_text: every section of the sender's settings table) and, if it
// takes them, to validate(); to the receiver's (app::load_receive_toml_text: [receive]) and
// check(); and to the opt-out list parser (one CIDR per line). No exception may escape any of them
// (toml++ throws on syntax errors; the loaders turn that into an error message): libFuzzer reports
// an escaped exception as a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/config.hpp"
#include "guard/cidr.hpp"
#include "app/receive_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string name = "fuzz.toml";

  app::RunConfig run;
  if (const auto r = app::load_toml_text(text, name, run)) {
    run.delivery.http_sender.ca_file.clear();  // validate() would open it: no file access here
    (void)app::validate(run);
  } else if (r.error().empty()) {
    __builtin_trap();  // every refusal says why
  }

  app::ReceiveConfig rc;
  if (const auto r = app::load_receive_toml_text(text, name, rc)) {
    (void)app::check(rc);
  } else if (r.error().empty()) {
    __builtin_trap();
  }

  (void)guard::parse_cidr_list(text, "fuzz-opt-out");
  return 0;
}

// Fuzz target: the published document and the rotation statement (report::parse_document,
// report::verify_rotation). The first byte picks what the rest is:
//   0 mod 3: a document as fetched, verified at a fixed time;
//   1 mod 3: a rotation statement as received;
//   2 mod 3: an unsigned document body, signed here with a fixed test key (seed 0x2a x 32) so the
//            fuzzer reaches the member checks behind a valid signature.
// Seeds: fuzz/corpus/document_parse/ (a document and a statement made by the unit test's keys).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "report/document.hpp"
#include "report/signer.hpp"

namespace {

overflowd::report::Signer& test_signer() {
  static overflowd::report::Signer signer = [] {
    overflowd::report::Seed seed{};
    seed.fill(0x2a);
    return overflowd::report::Signer(overflowd::report::keypair_from_seed(seed));
  }();
  return signer;
}

constexpr std::int64_t kNow = 1'800'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::report;
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      if (const auto doc = parse_document(as_bytes(rest), kNow)) {
        if (doc->expires <= kNow || !doc->current_key(kNow)) __builtin_trap();
      }
      break;
    }
    case 1: {
      if (const auto rot = verify_rotation(as_bytes(rest))) {
        if (rot->old_key == rot->new_key) __builtin_trap();
      }
      break;
    }
    default: {
      if (rest.empty() || rest.back() != '}') return 0;
      SignedReport line;
      test_signer().sign(rest, line);
      if (const auto doc = parse_document(as_bytes(line.line), kNow)) {
        if (doc->identity != keypair_from_seed([] {
              Seed s{};
              s.fill(0x2a);
              return s;
            }()).public_key)
          __builtin_trap();
      }
      break;
    }
  }
  return 0;
}

// Fuzz target: report parsing and verification (report::verify_report), in both wire forms.
// The first byte picks what the rest is:
//   even: a report line as it arrives (full or compact form), verified as it is;
//   odd:  a signed message (an unsigned report), signed here with a fixed test key and verified in
//         both wire forms, so the fuzzer reaches everything behind a valid signature (the message's
//         own parsing, its limits and the full form's comparison) and the results can be checked:
//         a compact report verifies to exactly its message, and a full report built from a message
//         that verifies compact, with no "signature" member, verifies too.
// Seeds: fuzz/corpus/report_verify/ (a full and a compact report signed by the same fixed key,
// made with overflowd itself; and the unsigned report).
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "report/signer.hpp"
#include "report/verify.hpp"

namespace {

overflowd::report::Signer& test_signer() {
  static overflowd::report::Signer signer = [] {
    overflowd::report::Seed seed{};
    seed.fill(0x2a);  // the fixed test key of the seed corpus (key file: 2a x 32, hex)
    return overflowd::report::Signer(overflowd::report::keypair_from_seed(seed));
  }();
  return signer;
}

void check_verified(const overflowd::report::VerifiedReport& v) {
  if (v.message.empty() || !v.report.is_object()) __builtin_trap();
  // The signature returned is the one over the message returned, by the key returned.
  if (crypto_sign_verify_detached(v.signature.data(), reinterpret_cast<const unsigned char*>(v.message.data()),
                                  v.message.size(), v.key.data()) != 0)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace overflowd::report;
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    if (const auto v = verify_report(rest)) check_verified(*v);
    return 0;
  }
  // Signer::sign wants a message that ends with '}' (a JSON object).
  if (rest.empty() || rest.back() != '}') return 0;
  SignedReport signed_report;
  test_signer().sign(rest, signed_report);

  const auto compact = verify_report(signed_report.compact());
  const auto full = verify_report(signed_report.line);
  if (compact) {
    check_verified(*compact);
    if (!compact->compact || compact->message != rest) __builtin_trap();
    const bool has_signature_member = compact->report.contains("signature");
    const bool empty_object = compact->report.empty();  // "{}" makes "{,"signature":..}": not JSON
    const bool fits = signed_report.line.size() <= kMaxReportBytes;
    if (!has_signature_member && !empty_object && fits && !full) __builtin_trap();
  }
  if (full) {
    if (!compact) __builtin_trap();  // the full form never verifies where the compact one does not
    if (full->compact || full->message != rest || !full->report.is_object()) __builtin_trap();
    // The same signed bytes as the compact form's, whose signature check_verified has just
    // checked over the same message: equal key and signature say as much as a second check would.
    if (full->key != compact->key || full->signature != compact->signature) __builtin_trap();
  }
  return 0;
}

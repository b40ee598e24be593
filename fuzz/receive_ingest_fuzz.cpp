// The receiver's first step on untrusted bytes: verify a report in either wire form, pull out its
// indexed fields, and name the reason for a refusal. Must never crash, whatever arrives; and when
// the fast path (ingest_fast) answers, its verdict is the reference's (ingest_reference), field by
// field, with or without the cache of checked signatures.
// The first byte picks what the input is:
//   0x01: a signed message (an unsigned report), the rest of the input, signed here with a fixed
//         test key as the sender's signer lays it out, and ingested in both wire forms. Mutated but
//         validly signed reports so reach the fast path's scan of the message, and its fields are
//         held to the reference's; a report the reference accepts is exactly the message signed,
//         by the test key, in the form sent.
//   anything else: the whole input is a report line as it arrives (full or compact form), verified
//         as it is (reports start with '{' or white space, so the seeds of this mode are the lines).
// Seeds: fuzz/corpus/receive_ingest/ (a full and a compact report made by overflowd, and unsigned
// reports, 0x01 first, for the signing mode).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "receive/ingest.hpp"
#include "report/seal.hpp"
#include "report/signer.hpp"

namespace {

using namespace overflowd::receive;

constexpr std::int64_t kNow = 1'750'000'000LL * 1'000'000'000;
constexpr std::uint8_t kSignHere = 0x01;

const overflowd::report::KeyPair& test_keys() {
  static const overflowd::report::KeyPair keys = [] {
    overflowd::report::Seed seed{};
    seed.fill(0x2a);  // the fixed test key of report_verify's seed corpus
    return overflowd::report::keypair_from_seed(seed);
  }();
  return keys;
}

overflowd::report::Signer& test_signer() {
  static overflowd::report::Signer signer(test_keys());
  return signer;
}

// ingest, ingest_fast (with the cache) and ingest_reference on one line; the fast path's verdicts
// are the reference's, field by field. Returns the reference's verdict.
Verdict check_line(std::string_view raw) {
  const Verdict v = ingest(raw, kNow, SkewPolicy{});
  if (const auto* a = std::get_if<Accepted>(&v)) {
    if (a->message.empty()) __builtin_trap();  // a verified report always has a signed message
  }
  const Verdict reference = ingest_reference(raw, kNow, SkewPolicy{});
  // ingest is the reference's verdict, but for what looks sealed (the reference reads plain reports
  // only; ingest opens a sealed envelope first and names its refusals sealed.*).
  if (overflowd::report::looks_sealed(raw) || overflowd::report::looks_sealed_datagram(raw)) {
    if (const auto* r = std::get_if<Rejected>(&v); r && !r->reason.starts_with("sealed.")) __builtin_trap();
  } else if (!verdict_difference(v, reference).empty()) {
    __builtin_trap();
  }
  // ingest_fast, called directly (an exception escapes it, where ingest would catch one) with the
  // cache of checked signatures kept from input to input: a signature not seen before (a miss) is
  // checked as without the cache, so this is also the uncached fast path held to the reference
  // (a second call without the cache repeated that work); a hit never changes a verdict.
  static VerifiedCache cache(64);  // 16 sets of 4: entries come and go
  if (const auto cached = ingest_fast(raw, kNow, SkewPolicy{}, &cache)) {
    if (!verdict_difference(*cached, reference).empty()) __builtin_trap();
  }
  return reference;
}

// A report the reference accepts is the message signed here, by the test key, in the form sent.
void check_signed_here(const Verdict& v, std::string_view message, bool compact) {
  const auto* a = std::get_if<Accepted>(&v);
  if (a == nullptr) return;  // a message the reference refuses (not JSON, too deep, ...)
  if (a->message != message || a->compact != compact) __builtin_trap();
  if (a->key != test_keys().public_key) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size == 0 || data[0] != kSignHere) {
    check_line(input);
    return 0;
  }
  const std::string_view message = input.substr(1);
  // Signer::sign wants a message that ends with '}' (a JSON object).
  if (message.empty() || message.back() != '}') return 0;
  overflowd::report::SignedReport signed_report;
  test_signer().sign(message, signed_report);
  check_signed_here(check_line(signed_report.compact()), message, true);
  check_signed_here(check_line(signed_report.line), message, false);
  return 0;
}

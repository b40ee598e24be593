// The receiver's first step for every input: verify one report (either wire form), pull out the
// fields it is indexed by, flag a claimed time far from ours, and name the reason for a refusal.
// No I/O: the result goes to the writer (writer.hpp), which stores it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/ip_address.hpp"
#include "receive/prefix.hpp"
#include "receive/verified_cache.hpp"
#include "report/seal.hpp"
#include "report/report_schema.hpp"
#include "report/verify.hpp"

namespace overflowd::receive {

class RotationBook;

enum class Input : std::uint8_t { udp, http, https, capture, api };
[[nodiscard]] const char* to_string(Input i) noexcept;

// How metadata.time compares with the receive time.
enum class TimeFlag : std::uint8_t { ok = 0, future = 1, past = 2, missing = 3 };
[[nodiscard]] const char* to_string(TimeFlag f) noexcept;

// The fields of a report that the store indexes and the API filters on (report/report_schema.hpp).
using report::ReportFields;

[[nodiscard]] ReportFields extract_fields(const nlohmann::json& report);

// A whole-number field (report_schema's FieldType::integer: ports, counts, times, AS numbers) is
// stored as a signed 64-bit integer. A report that gives one a number beyond that range (from 2^63
// up, as an integer or a float; below -2^63) could not be stored as signed, so it is refused:
// kIntegerOutOfRange. (A float in range, or a value of another type, is not a count and is ignored:
// the field keeps its default, as before.)
inline constexpr const char* kIntegerOutOfRange = "integer_out_of_range";
[[nodiscard]] bool integers_fit(const nlohmann::json& report);
// The same test for a float found where a whole number is expected: false from 2^63 up and from
// -2^63 down (a float that rounds to -2^63 may stand for a smaller integer: refused too).
[[nodiscard]] constexpr bool integer_float_fits(double v) noexcept {
  return v < 9223372036854775808.0 && v > -9223372036854775808.0;
}

// What ingest checks a report against besides its signature: the time skew allowed and, for the
// encryption mode (report/seal.hpp), the keys sealed reports are opened with and the prefixes their
// `metadata.recipient` must fall in. Both pointers outlive every ingest call; a null keyring refuses
// sealed input (sealed.no_key); with no prefixes the recipient is not checked.
struct SkewPolicy {
  double max_future_s = 86'400;       // 1 day
  double max_past_s = 30 * 86'400.0;  // 30 days
  const report::Keyring* keyring = nullptr;
  const std::vector<Cidr>* my_prefixes = nullptr;
  // Rotation statements taken as datagrams of their own (rotation_book.hpp): a report of a key
  // found there, carrying no metadata.rotation, gets that statement's claim. Null: none.
  const class RotationBook* rotations = nullptr;
};

// A verified report, ready to store.
struct Accepted {
  report::PublicKey key{};
  std::array<std::uint8_t, 64> signature{};
  std::array<std::uint8_t, 32> digest{};  // BLAKE2b-256 of key || message: the duplicate test
  std::string message;                    // the signed bytes, kept for re-verification
  bool compact = false;
  std::string kid;  // the encryption mode: the kid a sealed report was opened with; empty: it came plain
  // metadata.rotation (report/document.hpp, verify_rotation_member): none; a statement that verifies
  // for this report's key (rotated_from is its old key); or one that does not (refused as a link,
  // the report itself is stored as any other).
  enum class RotationClaim : std::uint8_t { none, valid, invalid } rotation = RotationClaim::none;
  report::PublicKey rotated_from{};
  std::int64_t rotation_time = 0;  // the statement's time (Unix s)
  ReportFields fields;
  TimeFlag time_flag = TimeFlag::ok;
};

// A refused input, kept apart with its raw bytes (cut to kMaxRawKept).
struct Rejected {
  std::string reason;  // a counter name: "bad_signature", "not_json", ...
  std::string raw;
};

inline constexpr std::size_t kMaxRawKept = 4096;

struct Arrival {
  Input input = Input::udp;
  std::string peer;             // the sender's address as text
  std::int64_t received_ns = 0;  // Unix nanoseconds
};

using Verdict = std::variant<Accepted, Rejected>;

// Never throws on any input. Tries ingest_fast, and takes ingest_reference when it is not sure.
// With a cache, a report whose key, message and signature passed the check before is not checked
// again (verified_cache.hpp); the verdict is the same.
[[nodiscard]] Verdict ingest(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew,
                             VerifiedCache* cache = nullptr);

// The reference: report::verify_report (nlohmann's DOM of the line and of the signed message,
// compared) and extract_fields over the DOM.
[[nodiscard]] Verdict ingest_reference(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew);

// The fast path for reports laid out as the sender's signer lays them out (either wire form): the
// signed message is decoded once and scanned once (report_scan.hpp), with no DOM; for the full form
// the line must be that message with the signature block spliced in before its closing brace, byte
// for byte, which stands for the reference's comparison of the two parsed objects. Its verdict is
// the reference's verdict; nullopt when it is not sure (any other layout, any refusal except a bad
// signature on an otherwise well-formed line), and then ingest asks the reference.
// It consults and fills `cache` when given.
[[nodiscard]] std::optional<Verdict> ingest_fast(std::string_view raw, std::int64_t received_ns, const SkewPolicy& skew,
                                                 VerifiedCache* cache = nullptr);

// Same verdict, field by field: a description of the first difference, empty when equal (for the
// tests and the fuzz target that hold ingest_fast to ingest_reference).
[[nodiscard]] std::string verdict_difference(const Verdict& a, const Verdict& b);

// The stable counter name of a verification failure ("bad_signature", ...).
[[nodiscard]] const char* reason_name(report::VerifyErrc e) noexcept;

}  // namespace overflowd::receive

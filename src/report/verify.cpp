#include "report/verify.hpp"

#include <sodium.h>

#include <algorithm>
#include <set>
#include <vector>

#include "core/encoding.hpp"
#include "core/enum_names.hpp"
#include "core/sodium.hpp"

namespace overflowd::report {

const char* to_string(VerifyErrc e) noexcept {
  static constexpr const char* kNames[] = {
      "report too large",
      "JSON nested too deeply",
      "not JSON",
      "not a JSON object",
      "a JSON object names a member twice",
      "no signature block",
      "signature.key is not 64 hex digits",
      "signature.signature is not base64",
      "signature.signature is shorter than 64 bytes",
      "bad signature",
      "the signed message is not a JSON object",
      "the signed message differs from the report",
      "a byte-order mark before the JSON text",
  };
  static_assert(std::size(kNames) == static_cast<std::size_t>(VerifyErrc::byte_order_mark) + 1);
  return core::enum_name(e, kNames);
}

namespace {

// nlohmann's parser recurses per nesting level; refuse deep input before it does.
bool depth_ok(std::string_view s) noexcept {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

}  // namespace

std::expected<nlohmann::json, VerifyErrc> parse_strict(std::string_view s, VerifyErrc not_json) {
  if (s.size() > kMaxReportBytes) return std::unexpected(VerifyErrc::too_large);
  // nlohmann's lexer takes a NUL byte for the end of the input, so "{...}\0anything" would parse
  // as the object alone: the bytes after it would be signed but never seen, and a stricter parser
  // would refuse the message or read it otherwise. JSON text never holds a raw NUL.
  if (s.find('\0') != std::string_view::npos) return std::unexpected(not_json);
  // nlohmann skips a UTF-8 byte-order mark at the start; JSON text sent over a network carries none
  // (RFC 8259 8.1), and a mark before the signed message would be signed but never seen.
  if (s.starts_with("\xEF\xBB\xBF")) return std::unexpected(VerifyErrc::byte_order_mark);
  if (!depth_ok(s)) return std::unexpected(VerifyErrc::too_deep);
  // nlohmann keeps the last of duplicate members, other parsers the first: a value that one reader
  // sees would not be the signed one. Track the names of every open object and refuse repeats.
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  const auto check = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  auto j = nlohmann::json::parse(s, check, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected(not_json);
  if (duplicate) return std::unexpected(VerifyErrc::duplicate_key);
  return j;
}

std::expected<VerifiedReport, VerifyErrc> verify_report(std::string_view line) {
  auto outer = parse_strict(line, VerifyErrc::not_json);
  if (!outer) return std::unexpected(outer.error());
  if (!outer->is_object()) return std::unexpected(VerifyErrc::not_an_object);

  VerifiedReport v;
  const nlohmann::json* block = nullptr;
  core::init_sodium();
  const auto it = outer->find("signature");
  if (it != outer->end() && it->is_object()) {
    if (it->size() != 2) return std::unexpected(VerifyErrc::no_signature_block);  // nothing unsigned rides along
    block = &*it;
  } else if (outer->size() == 2 && outer->contains("key") && it != outer->end() && it->is_string()) {
    block = &*outer;
    v.compact = true;
  } else {
    return std::unexpected(VerifyErrc::no_signature_block);
  }
  const auto key_it = block->find("key");
  const auto sig_it = block->find("signature");
  if (key_it == block->end() || !key_it->is_string() ||
      !core::from_hex(key_it->get_ref<const std::string&>(), v.key))
    return std::unexpected(VerifyErrc::bad_key);
  if (sig_it == block->end() || !sig_it->is_string()) return std::unexpected(VerifyErrc::bad_signature_encoding);
  auto signed_message = core::from_base64(sig_it->get_ref<const std::string&>());
  if (!signed_message) return std::unexpected(VerifyErrc::bad_signature_encoding);
  if (signed_message->size() < crypto_sign_BYTES) return std::unexpected(VerifyErrc::signature_too_short);

  const std::uint8_t* msg = signed_message->data() + crypto_sign_BYTES;
  const std::size_t msg_len = signed_message->size() - crypto_sign_BYTES;
  if (crypto_sign_verify_detached(signed_message->data(), msg, msg_len, v.key.data()) != 0)
    return std::unexpected(VerifyErrc::bad_signature);
  v.message.assign(reinterpret_cast<const char*>(msg), msg_len);
  std::copy_n(signed_message->data(), crypto_sign_BYTES, v.signature.begin());

  auto inner = parse_strict(v.message, VerifyErrc::message_not_json);
  if (!inner) return std::unexpected(inner.error() == VerifyErrc::not_json ? VerifyErrc::message_not_json : inner.error());
  if (!inner->is_object()) return std::unexpected(VerifyErrc::message_not_json);
  if (!v.compact) {
    outer->erase("signature");
    if (*outer != *inner) return std::unexpected(VerifyErrc::message_mismatch);
  }
  v.report = std::move(*inner);
  return v;
}

}  // namespace overflowd::report

#include "report/signer.hpp"

#include <sodium.h>

#include <cstring>

#include "core/encoding.hpp"

namespace overflowd::report {

Signer::Signer(const KeyPair& keys) : keys_(keys), key_hex_(report::public_key_hex(keys)) {}

void Signer::sign(std::string_view message, SignedReport& out) {
  scratch_.resize(crypto_sign_BYTES + message.size());
  std::memcpy(scratch_.data() + crypto_sign_BYTES, message.data(), message.size());
  crypto_sign_detached(scratch_.data(), nullptr, scratch_.data() + crypto_sign_BYTES, message.size(),
                       keys_.secret_key.data());

  std::string& line = out.line;
  line.clear();
  line.reserve(message.size() + 110 + sodium_base64_encoded_len(scratch_.size(), sodium_base64_VARIANT_ORIGINAL));
  line.append(message.substr(0, message.size() - 1));  // without the closing brace
  line += ",\"signature\":";
  out.signature_at = line.size();
  line += "{\"key\":\"";
  line += key_hex_;
  line += "\",\"signature\":\"";
  core::append_base64(line, scratch_);
  line += "\"}}";
}

}  // namespace overflowd::report

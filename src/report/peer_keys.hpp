// Pinned peer keys for the encryption mode (--peer-keys FILE): one line per peer,
//   CIDR x25519-hex [identity-hex]
// with '#' comments and blank lines; the longest prefix holding an address wins. Pure: the caller
// reads the file.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"
#include "guard/cidr.hpp"
#include "report/keys.hpp"
#include "report/seal.hpp"

namespace overflowd::report {

struct PeerKey {
  guard::Cidr prefix;
  X25519Public x25519{};
  std::optional<PublicKey> identity;
};

inline constexpr std::size_t kMaxPeerKeys = 10'000;

class PeerKeys {
public:
  // The error names the line ("line 3: ...").
  [[nodiscard]] static std::expected<PeerKeys, std::string> parse(std::span<const std::byte> text);
  // The longest prefix holding `address`, or null.
  [[nodiscard]] const PeerKey* find(const core::IpAddress& address) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }

private:
  std::vector<PeerKey> keys_;  // longest prefix first
};

}  // namespace overflowd::report

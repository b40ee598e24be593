// Writes test inputs field by field, in network byte order, so a test shows the layout it builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace overflowd::test {

class ByteBuilder {
public:
  ByteBuilder& u8(std::uint8_t v) {
    bytes_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  ByteBuilder& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v)); }
  ByteBuilder& u32(std::uint32_t v) {
    return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v));
  }
  ByteBuilder& u32le(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  ByteBuilder& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v));
  }
  ByteBuilder& raw(std::initializer_list<std::uint8_t> list) {
    for (auto b : list) u8(b);
    return *this;
  }
  ByteBuilder& append(std::span<const std::byte> more) {
    bytes_.insert(bytes_.end(), more.begin(), more.end());
    return *this;
  }
  ByteBuilder& zeros(std::size_t n) {
    bytes_.insert(bytes_.end(), n, std::byte{0});
    return *this;
  }
  // Overwrites a big-endian 16-bit value already written (lengths and checksums filled in later).
  ByteBuilder& patch16(std::size_t at, std::uint16_t v) {
    bytes_.at(at) = static_cast<std::byte>(v >> 8);
    bytes_.at(at + 1) = static_cast<std::byte>(v);
    return *this;
  }

  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] const std::vector<std::byte>& bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::vector<std::byte>& bytes() noexcept { return bytes_; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return bytes_; }

private:
  std::vector<std::byte> bytes_;
};

// The shared captures (../shared/data), read in place; empty when the file is absent.
inline std::string shared_data_file(const char* name) {
  const char* env = std::getenv("OVERFLOWD_SHARED_DATA");
  std::string dir = env && *env ? env : OVERFLOWD_SHARED_DATA;
  return dir + "/" + name;
}

}  // namespace overflowd::test

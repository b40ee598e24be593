// The one checked reader every decoder reads through.
//
// A ByteReader is a view over bytes with a cursor. Every read checks the length first; a read past
// the end returns zero and makes the reader fail for good (the cursor moves to the end), so a
// decoder can read a whole fixed-size structure and test ok() once. Nothing here allocates.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace overflowd::core {

using Bytes = std::span<const std::byte>;

class ByteReader {
public:
  constexpr ByteReader() noexcept = default;
  constexpr explicit ByteReader(Bytes bytes) noexcept : data_(bytes) {}

  [[nodiscard]] constexpr std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] constexpr std::size_t offset() const noexcept { return pos_; }
  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] constexpr bool has(std::size_t n) const noexcept { return ok_ && n <= remaining(); }
  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return remaining() == 0; }
  [[nodiscard]] constexpr Bytes rest() const noexcept { return data_.subspan(pos_); }

  [[nodiscard]] std::uint8_t u8() noexcept { return read<std::uint8_t>(); }
  [[nodiscard]] std::uint16_t u16() noexcept { return read<std::uint16_t>(); }
  [[nodiscard]] std::uint32_t u32() noexcept { return read<std::uint32_t>(); }
  [[nodiscard]] std::uint64_t u64() noexcept { return read<std::uint64_t>(); }

  // An unsigned big-endian integer of 1 to 8 bytes (IPFIX reduced-size encoding).
  [[nodiscard]] std::uint64_t uint_n(std::size_t n) noexcept {
    if (n == 0 || n > 8 || !has(n)) {
      fail();
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(data_[pos_ + i]);
    pos_ += n;
    return v;
  }

  // n bytes as a span, or an empty span and failure.
  [[nodiscard]] Bytes bytes(std::size_t n) noexcept {
    if (!has(n)) {
      fail();
      return {};
    }
    Bytes out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  // A reader over the next n bytes; this reader moves past them.
  [[nodiscard]] ByteReader take(std::size_t n) noexcept { return ByteReader(bytes(n)).inherit(ok_); }

  void skip(std::size_t n) noexcept {
    if (!has(n)) {
      fail();
      return;
    }
    pos_ += n;
  }

  void fail() noexcept {
    ok_ = false;
    pos_ = data_.size();
  }

private:
  constexpr ByteReader inherit(bool parent_ok) noexcept {
    if (!parent_ok) fail();
    return *this;
  }

  template <class T>
  [[nodiscard]] T read() noexcept {
    if (!has(sizeof(T))) {
      fail();
      return 0;
    }
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    if constexpr (sizeof(T) > 1 && std::endian::native == std::endian::little) v = std::byteswap(v);
    return v;
  }

  Bytes data_{};
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Bytes from a string or array of chars/uint8_t, for tests and tools.
template <class T>
[[nodiscard]] inline Bytes as_bytes(const T& container) noexcept {
  return std::as_bytes(std::span(container));
}

}  // namespace overflowd::core

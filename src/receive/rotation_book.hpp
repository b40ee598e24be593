// Rotation statements a receiver took as datagrams of their own (docs/manual.md, "Rotation over
// UDP"): a sender whose report cannot carry metadata.rotation within the UDP cap sends the
// statement itself. The book keeps each verified statement by its new key (bounded, oldest out);
// ingest gives a report of that key the rotation claim as if the report had carried it, so the
// store links the keys once (key_rotated) through the same path. Thread-safe: the UDP and capture
// threads add, the verifying threads look up (one atomic load while the book is empty).
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "report/document.hpp"

namespace overflowd::receive {

class RotationBook {
public:
  static constexpr std::size_t kDefaultCapacity = 4096;
  explicit RotationBook(std::size_t capacity = kDefaultCapacity) : capacity_(capacity ? capacity : 1) {}

  // A datagram that is a rotation statement (it starts with {"rotate":, as rotate-key writes it).
  [[nodiscard]] static bool looks_like_statement(std::string_view raw) noexcept;

  // Verifies `raw` as a statement (both signatures, report::verify_rotation) and keeps it.
  [[nodiscard]] std::expected<report::Rotation, report::RotationErrc> take(std::span<const std::byte> raw);
  void add(const report::Rotation& r);
  [[nodiscard]] std::optional<report::Rotation> find(const report::PublicKey& new_key) const;
  [[nodiscard]] std::size_t size() const;

private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::atomic<bool> any_{false};
  std::map<report::PublicKey, report::Rotation> by_new_;
  std::deque<report::PublicKey> order_;  // oldest first
};

}  // namespace overflowd::receive

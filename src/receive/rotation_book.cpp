#include "receive/rotation_book.hpp"

namespace overflowd::receive {

bool RotationBook::looks_like_statement(std::string_view raw) noexcept {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\n' || raw.front() == '\r' || raw.front() == '\t'))
    raw.remove_prefix(1);
  return raw.starts_with("{\"rotate\":");
}

std::expected<report::Rotation, report::RotationErrc> RotationBook::take(std::span<const std::byte> raw) {
  auto r = report::verify_rotation(raw);
  if (r) add(*r);
  return r;
}

void RotationBook::add(const report::Rotation& r) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = by_new_.insert_or_assign(r.new_key, r);
  (void)it;
  if (fresh) {
    order_.push_back(r.new_key);
    while (order_.size() > capacity_) {
      by_new_.erase(order_.front());
      order_.pop_front();
    }
  }
  any_.store(true, std::memory_order_release);
}

std::optional<report::Rotation> RotationBook::find(const report::PublicKey& new_key) const {
  if (!any_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(mutex_);
  const auto it = by_new_.find(new_key);
  if (it == by_new_.end()) return std::nullopt;
  return it->second;
}

std::size_t RotationBook::size() const {
  std::lock_guard lock(mutex_);
  return by_new_.size();
}

}  // namespace overflowd::receive

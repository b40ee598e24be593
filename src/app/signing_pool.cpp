#include "app/signing_pool.hpp"
#include "core/clock.hpp"

#include <exception>
#include <optional>
#include <utility>

namespace overflowd::app {

SigningPool::SigningPool(SignerFactory factory, unsigned threads, Emit emit, std::size_t window,
                         sink::DeliverySink* sealer)
    : factory_(std::move(factory)), emit_(std::move(emit)), sealer_(sealer && sealer->sealing() ? sealer : nullptr) {
  if (threads == 0) threads = 1;
  if (window == 0) window = 4 * static_cast<std::size_t>(threads);
  if (window < 2) window = 2;
  wanted_ = threads;
  slots_.resize(window);
  for (Slot& s : slots_) s.items.reserve(kBatchReports);
}

void SigningPool::start_threads() {
  threads_.reserve(wanted_);
  for (unsigned i = 0; i < wanted_; ++i) threads_.emplace_back([this, i] { sign_loop(i); });
}

SigningPool::SigningPool(const report::KeyPair& keys, unsigned threads, Emit emit, std::size_t window,
                         sink::DeliverySink* sealer)
    : SigningPool([keys](unsigned) -> std::expected<report::Signer, std::string> { return report::Signer(keys); },
                  threads, std::move(emit), window, sealer) {}

SigningPool::~SigningPool() { stop_threads(); }

void SigningPool::stop_threads() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  threads_.clear();  // jthread joins
}

void SigningPool::fail(std::string why) {
  {
    std::lock_guard lock(mutex_);
    if (!failed_) {
      failed_ = true;
      error_ = std::move(why);
    }
  }
  work_.notify_all();
  signed_.notify_all();
}

std::string SigningPool::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

bool SigningPool::make_signers(unsigned index, Signers& out) {
  try {
    auto made = factory_(index);
    if (!made) {
      fail("signing thread " + std::to_string(index) + ": " + made.error());
      return false;
    }
    out.signer.emplace(std::move(*made));
    if (sealer_) out.sealing.emplace(sealer_->sealing_keys());
  } catch (const std::exception& e) {
    fail("signing thread " + std::to_string(index) + ": " + e.what());
    return false;
  }
  return true;
}

bool SigningPool::sign_batch(unsigned index, Slot& s, Signers& signers) {
  try {
    for (std::size_t i = 0; i < s.used; ++i) {
      Item& item = s.items[i];
      signers.signer->sign(item.message, item.signed_report);
      item.signed_report.suspicious = item.suspicious;
      if (sealer_ && item.plan.needs_seal()) sealer_->seal(item.message, *signers.sealing, item.plan);
    }
  } catch (const std::exception& e) {
    fail("signing thread " + std::to_string(index) + ": " + e.what());
    return false;
  }
  return true;
}

void SigningPool::sign_loop(unsigned index) {
  Signers signers;
  if (!make_signers(index, signers)) return;
  for (;;) {
    std::size_t slot = 0;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return failed_ || stopping_ || !queue_.empty(); });
      if (failed_ || queue_.empty()) return;  // failed, or stopping with nothing left
      slot = queue_.front();
      queue_.pop_front();
      slots_[slot].state = State::signing;
    }
    Slot& s = slots_[slot];
    if (!sign_batch(index, s, signers)) return;
    {
      std::lock_guard lock(mutex_);
      s.state = State::done;
    }
    signed_.notify_all();
  }
}

bool SigningPool::add(const core::FlowRecord& flow, std::string_view message, bool suspicious) {
  if (!filling_) {  // a new batch: its slot must have been emitted first when the ring is full
    if (in_flight_ == slots_.size() && !drain()) return false;
    slots_[fill_].used = 0;
    filling_ = true;
  }
  Slot* s = &slots_[fill_];
  if (s->used == s->items.size()) s->items.emplace_back();
  Item& item = s->items[s->used++];
  item.flow = flow;
  item.message.assign(message);
  item.suspicious = suspicious;
  if (sealer_) sealer_->plan(flow, suspicious, core::system_clock().monotonic_ns(), item.plan);
  if (s->used == kBatchReports) {
    submit(fill_);
    if (failed_now()) return false;
  }
  return true;
}

bool SigningPool::failed_now() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

void SigningPool::submit(std::size_t slot) {
  if (threads_.empty()) start_threads();
  {
    std::lock_guard lock(mutex_);
    slots_[slot].state = State::queued;
    queue_.push_back(slot);
  }
  work_.notify_one();
  filling_ = false;
  ++in_flight_;
  fill_ = (fill_ + 1) % slots_.size();
  emit_ready();
}

bool SigningPool::drain() {
  Slot& s = slots_[oldest_];
  {
    std::unique_lock lock(mutex_);
    signed_.wait(lock, [&] { return failed_ || s.state == State::done; });
    if (failed_) return false;
    s.state = State::free;
  }
  for (std::size_t i = 0; i < s.used; ++i) emit_(s.items[i]);
  --in_flight_;
  oldest_ = (oldest_ + 1) % slots_.size();
  return true;
}

void SigningPool::emit_ready() {
  while (in_flight_ > 0) {
    {
      std::lock_guard lock(mutex_);
      if (failed_ || slots_[oldest_].state != State::done) return;
    }
    if (!drain()) return;
  }
}

bool SigningPool::finish() {
  if (threads_.empty() && in_flight_ == 0) {  // one batch at most, never submitted: signed here
    Slot& s = slots_[fill_];
    bool ok = true;
    if (filling_ && s.used > 0) {
      Signers signers;
      ok = make_signers(0, signers) && sign_batch(0, s, signers);
      if (ok)
        for (std::size_t i = 0; i < s.used; ++i) emit_(s.items[i]);
    }
    filling_ = false;
    return ok && !failed_now();
  }
  if (filling_) {
    if (slots_[fill_].used > 0) submit(fill_);
    filling_ = false;
  }
  bool ok = true;
  while (in_flight_ > 0)
    if (!drain()) {
      ok = false;
      break;
    }
  stop_threads();
  return ok && !failed_now();
}

}  // namespace overflowd::app

// Signing on several threads, reports out in input order (issue 17).
//
// The pipeline's reader thread decodes, samples and builds each unsigned report, then add()s it
// here. Reports are gathered into batches of kBatchReports; a full batch is handed to one of N
// signing threads. Batches live in a ring of `window` slots (the bounded reorder window): before
// the reader fills a slot again, it waits for that slot's batch to be signed and emits it. Every
// report is emitted on the reader's thread, in the order it was added, so the output (and every
// sink) sees exactly the sequence a single thread would have written: with a fixed seed and time,
// the bytes are the same for any number of threads.
//
// Sealing (issue 17): given the DeliverySink (when it seals, --encrypt), the reader also plans
// each report's delivery in add() (the Guard and the keys, in input order), the signing threads
// sign and seal it for each target with a key (DeliverySink::seal: a signature naming the recipient
// and the box), and the emit callback hands the plan on to DeliverySink::write_planned. So the
// sealing, seven times a plain signature, runs on every thread too, and what is sent, to whom and in
// which order is what a single thread would have sent.
//
// The threads start with the first full batch: a run with fewer than kBatchReports reports (the
// default rate on a capture file) signs them on the reader's thread in finish() and starts none
// (issue 17, start-up: no thread to create, wake and join). The output is the same either way.
//
// A signing thread that fails (its signer cannot be made, or signing throws) marks the pool
// failed: add() and finish() return false from then on, error() says why, and no thread waits
// for work that will never come (finish() and the destructor stop and join every thread).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/flow_record.hpp"
#include "report/signer.hpp"
#include "sink/delivery_sink.hpp"

namespace overflowd::app {

class SigningPool {
public:
  struct Item {
    core::FlowRecord flow;
    std::string message;          // the unsigned report
    report::SignedReport signed_report;
    bool suspicious = false;
    sink::DeliveryPlan plan;      // with a sealer: the report's delivery (sealed forms included)
  };
  // Makes the signer of signing thread `index` (on that thread). Tests inject failures here.
  using SignerFactory = std::function<std::expected<report::Signer, std::string>(unsigned index)>;
  // Called on the reader's thread for each signed report, in input order.
  using Emit = std::function<void(const Item&)>;

  static constexpr std::size_t kBatchReports = 64;

  // `threads` >= 1 signing threads; `window` >= 2 batches in flight at most (0: 4 per thread);
  // `sealer`: the DeliverySink whose sealing the threads do (see above), or none.
  SigningPool(SignerFactory factory, unsigned threads, Emit emit, std::size_t window = 0,
              sink::DeliverySink* sealer = nullptr);
  // With the key pair: every thread signs with a Signer(keys).
  SigningPool(const report::KeyPair& keys, unsigned threads, Emit emit, std::size_t window = 0,
              sink::DeliverySink* sealer = nullptr);
  ~SigningPool();
  SigningPool(const SigningPool&) = delete;
  SigningPool& operator=(const SigningPool&) = delete;

  // Queues one report (the message is copied). False when the pool has failed.
  bool add(const core::FlowRecord& flow, std::string_view message, bool suspicious);
  // Signs and emits everything added, then stops the threads. False when the pool failed.
  bool finish();

  [[nodiscard]] std::string error() const;
  [[nodiscard]] unsigned threads() const noexcept { return wanted_; }

private:
  enum class State { free, queued, signing, done };  // a slot's state; changed under mutex_
  struct Slot {
    std::vector<Item> items;
    std::size_t used = 0;
    State state = State::free;
  };

  struct Signers {
    std::optional<report::Signer> signer;
    std::optional<report::Signer> sealing;  // signs the reports that name their recipient
  };
  void start_threads();
  void sign_loop(unsigned index);
  // Each false after fail(): the signers of thread `index`; one batch signed (and sealed).
  bool make_signers(unsigned index, Signers& out);
  bool sign_batch(unsigned index, Slot& slot, Signers& signers);
  void submit(std::size_t slot);
  // Waits for the oldest batch in flight to be signed (or the pool to fail) and emits it. Reader only.
  bool drain();
  void emit_ready();  // emits, in order, whatever is signed already (never waits)
  void fail(std::string why);
  [[nodiscard]] bool failed_now() const;
  void stop_threads();

  SignerFactory factory_;
  Emit emit_;
  unsigned wanted_;  // signing threads, started with the first full batch
  sink::DeliverySink* sealer_;  // set before the threads start, never changed
  std::vector<Slot> slots_;
  std::size_t fill_ = 0;    // the slot the reader fills
  std::size_t oldest_ = 0;  // the oldest slot not yet emitted
  std::size_t in_flight_ = 0;  // slots queued, signing or done but not emitted (reader-owned)
  bool filling_ = false;       // the reader is filling slots_[fill_]

  mutable std::mutex mutex_;
  std::condition_variable work_;   // signers wait for queued slots
  std::condition_variable signed_; // the reader waits for a done slot
  std::deque<std::size_t> queue_;
  bool stopping_ = false;
  bool failed_ = false;
  std::string error_;
  std::vector<std::jthread> threads_;
};

}  // namespace overflowd::app

// Flows from Kafka: a consumer in a consumer group (librdkafka's high-level consumer), so that N
// overflowd instances with one group share a topic's partitions, and take over the partitions of
// one that stops (its session ends: at once when it leaves, after session.timeout.ms when it dies).
//
// Each Kafka message is handed on as one Datagram whose `format` says what it holds (goflow2's
// protobuf or JSON, decode/goflow.hpp); the dispatcher decodes it, the sampler and the sinks take
// its flows as they take a UDP datagram's.
//
// At-least-once. Offsets are committed by librdkafka's auto-commit (auto.commit.interval.ms), but
// only offsets this source *stored*, and it stores a message's offset only when the pipeline asks
// for the next batch, that is, after every flow of the message was sampled and its reports handed
// to the sinks (enable.auto.offset.store=false). Partitions that are revoked have their stored
// offsets committed first (synchronously, in the rebalance callback), and closing the consumer
// commits the rest. What a crash repeats: the messages after the last commit (at most
// auto.commit.interval.ms of them, default 5 s, plus the batch in hand) are read again by whoever
// gets the partition; their flows are sampled again (a fresh draw: some reports sent twice, others
// not sent the second time). A message is never skipped before its flows were handed on.
//
// Batches. Messages are taken from the consumer queue a batch at a time
// (rd_kafka_consume_batch_queue: one call, not one rd_kafka_consumer_poll per message); the
// rebalance callback runs inside that call, on this thread. A batch taken in a call during which
// a partition was revoked may hold messages of that partition fetched under the old assignment
// (librdkafka drops them only if its version barrier is reached in the same call), so the offsets
// of such a batch are not stored for the partitions revoked during it, even when they came back
// in the same call: their messages are handed on (repeated by the next owner, at-least-once) and
// an offset from an older assignment never overwrites a newer owner's. A partition no longer held
// refuses the store anyway (librdkafka >= 1.9).
//
// Bounded: librdkafka's prefetch queue is bounded by queued.max.messages.kbytes (default 64 MiB);
// a batch holds at most kMaxBatch messages. Consumer errors are counted (source.rejected.kafka_error)
// and told to on_event; the source keeps polling (librdkafka reconnects by itself).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/counters.hpp"
#include "source/source.hpp"

struct rd_kafka_s;
struct rd_kafka_message_s;
struct rd_kafka_queue_s;

namespace overflowd::source {

struct KafkaSourceConfig {
  std::string brokers;  // bootstrap.servers: host:port[,host:port...]
  std::string topic;
  std::string group;    // group.id
  core::Protocol format = core::Protocol::goflow_pb;  // goflow_pb or goflow_json
  // librdkafka properties, set after ours (so they can change any of them: security.protocol,
  // sasl.*, session.timeout.ms, auto.commit.interval.ms, auto.offset.reset, ...).
  std::vector<std::pair<std::string, std::string>> options;
  // Assignments, revocations and consumer errors, one line each (the app logs them; errors rate-limited there).
  std::function<void(const std::string&)> on_event;
};

// Parses "key=value" (a --kafka-option); the key must be non-empty.
[[nodiscard]] std::expected<std::pair<std::string, std::string>, std::string> parse_kafka_option(std::string_view text);

class KafkaSource final : public Source {
public:
  static constexpr int kIdleMs = 100;  // next_batch returns empty after this long without messages
  static constexpr std::size_t kMaxBatch = 256;  // messages taken from librdkafka per call, at most

  [[nodiscard]] static std::expected<std::unique_ptr<KafkaSource>, std::string> open(const KafkaSourceConfig& config,
                                                                                     const std::atomic<bool>* stop);
  ~KafkaSource() override;  // commits what was stored (not a batch still held), leaves the group
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  [[nodiscard]] bool next(core::Datagram& out) override;
  [[nodiscard]] bool next_batch(std::span<core::Datagram> out, std::size_t& n) override;
  [[nodiscard]] bool live() const noexcept override { return true; }
  [[nodiscard]] const std::string& warning() const noexcept override { return warning_; }
  [[nodiscard]] const SourceCounters& counters() const noexcept override { return counters_; }

  // For tests: partitions held now; messages whose offsets were stored so far; messages of
  // partitions revoked while their batch was being taken, whose offsets were not stored; commits
  // at a revocation that the broker refused.
  [[nodiscard]] std::size_t assigned() const noexcept { return assigned_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t offsets_stored() const noexcept { return offsets_stored_; }
  [[nodiscard]] std::uint64_t stores_withheld() const noexcept { return stores_withheld_; }
  [[nodiscard]] std::uint64_t revocation_commits_failed() const noexcept { return revocation_commits_failed_; }

private:
  KafkaSource(rd_kafka_s* rk, KafkaSourceConfig config, const std::atomic<bool>* stop);
  [[nodiscard]] bool stopped() const noexcept { return stop_ && stop_->load(std::memory_order_relaxed); }
  void release_held() noexcept;  // the previous batch is done: store its offsets, free its messages
  [[nodiscard]] std::size_t take(rd_kafka_message_s** into, std::size_t want);  // from the consumer queue
  void close() noexcept;
  void event(const std::string& line) const;
  friend struct KafkaCallbacks;  // librdkafka's rebalance and error callbacks (kafka_source.cpp)

  struct Last {  // a partition's last message in the batch released (release_held)
    const void* handle;  // the message's topic handle (rkt), compared first
    const char* topic;   // its name, valid while the batch's messages are
    std::int32_t partition;
    std::int64_t offset;
    std::uint64_t messages;
  };
  struct Revoked {
    std::string topic;
    std::int32_t partition;
  };

  rd_kafka_s* rk_;
  rd_kafka_queue_s* queue_ = nullptr;  // the consumer queue (a reference, released before closing)
  KafkaSourceConfig config_;
  const std::atomic<bool>* stop_;
  bool closed_ = false;
  std::vector<rd_kafka_message_s*> held_;   // the batch handed out, freed at the next call
  std::vector<Last> last_;                  // release_held's scratch, one entry per partition
  std::vector<Revoked> revoked_;            // revoked while the held batch was being taken
  std::atomic<std::size_t> assigned_{0};
  std::uint64_t offsets_stored_ = 0;
  std::uint64_t stores_withheld_ = 0;
  std::uint64_t revocation_commits_failed_ = 0;
  std::string warning_;
  SourceCounters counters_;
};

}  // namespace overflowd::source

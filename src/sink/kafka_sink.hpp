// Reports to Kafka (`--deliver kafka`): the operator's own pipeline, so no Guard (the sampler's
// rate and policy still decide what is reported). Each report is one message: its value the exact
// signed report line as the stdout sink writes it (no newline), its key the destination's /24
// (IPv4) or /48 (IPv6) as text ("203.0.113.0/24", "2001:db8:1::/48"), so that with the default
// partitioner every report about one network lands in one partition, in order, for one consumer.
//
// Bounded: the producer's queue holds at most `queue` messages (queue.buffering.max.messages) and
// `queue_kbytes`; a report that does not fit is dropped and counted (kafka.dropped.queue_full),
// never waited for, so a slow or absent broker costs neither memory beyond the caps nor the
// pipeline's time. Delivery reports are counted (kafka.delivered, kafka.failed.<reason>) as
// librdkafka serves them (on write and flush). flush() waits at most `flush_timeout_ms`; what is
// still queued then is counted as kafka.dropped.at_exit.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sink/sink.hpp"

struct rd_kafka_s;

namespace overflowd::sink {

struct KafkaSinkConfig {
  std::string brokers;
  std::string topic;
  std::size_t queue = 100'000;      // messages waiting for the broker, at most
  std::size_t queue_kbytes = 65'536;  // and their KiB, at most
  int flush_timeout_ms = 5'000;
  std::vector<std::pair<std::string, std::string>> options;  // librdkafka properties, after ours
};

// "203.0.113.0/24" or "2001:db8:1::/48": the key of a report about `dst`.
[[nodiscard]] std::string network_key(const core::IpAddress& dst);

class KafkaSink final : public Sink {
public:
  [[nodiscard]] static std::expected<std::unique_ptr<KafkaSink>, std::string> open(const KafkaSinkConfig& config);
  ~KafkaSink() override;
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  void write(const core::FlowRecord& flow, const report::SignedReport& report) override;
  void flush() override;
  void append_counters(std::vector<core::NamedCount>& out) const override;

  [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

private:
  KafkaSink(rd_kafka_s* rk, KafkaSinkConfig config) : rk_(rk), config_(std::move(config)) {}
  friend struct KafkaSinkCallbacks;

  rd_kafka_s* rk_;
  KafkaSinkConfig config_;
  std::atomic<std::uint64_t> produced_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> dropped_queue_full_{0};
  std::atomic<std::uint64_t> dropped_at_exit_{0};
  std::atomic<std::uint64_t> produce_errors_{0};
  mutable std::mutex failed_mutex_;
  std::map<std::string, std::uint64_t> failed_;  // delivery failures by librdkafka's error name
};

}  // namespace overflowd::sink

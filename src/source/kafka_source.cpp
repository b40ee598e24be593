#include "source/kafka_source.hpp"

#include "lazy/lazy_library.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/clock.hpp"

namespace overflowd::source {

std::expected<std::pair<std::string, std::string>, std::string> parse_kafka_option(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return std::unexpected("'" + std::string(text) + "' is not KEY=VALUE (a librdkafka property, e.g. session.timeout.ms=10000)");
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

struct KafkaCallbacks {
  static void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    std::string list;
    for (int i = 0; i < parts->cnt; ++i) list += (i ? "," : "") + std::to_string(parts->elems[i].partition);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
        self->assigned_.fetch_add(static_cast<std::size_t>(parts->cnt), std::memory_order_relaxed);
      } else {
        rd_kafka_assign(rk, parts);
        self->assigned_.store(static_cast<std::size_t>(parts->cnt), std::memory_order_relaxed);
      }
      self->event("kafka: assigned partitions [" + list + "] of " + self->config_.topic + "; " +
                  std::to_string(self->assigned()) + " held" + (cooperative ? " (cooperative)" : " (eager)"));
      return;
    }
    // Revoked (or lost): what was stored for these partitions is committed before they go, so
    // their next owner starts after the messages whose flows were handed on here. The batch being
    // taken now will not store offsets for them (kafka_source.hpp, "Batches").
    for (int i = 0; i < parts->cnt; ++i) self->revoked_.push_back({parts->elems[i].topic, parts->elems[i].partition});
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) {
      // A broker may refuse it while the group is rebalancing (librdkafka's mock cluster does, with
      // the eager protocol): nothing is lost, the next owner repeats since the last commit.
      const rd_kafka_resp_err_t c = rd_kafka_commit(rk, nullptr, 0);
      if (c != RD_KAFKA_RESP_ERR_NO_ERROR && c != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        ++self->revocation_commits_failed_;
        self->counters_.reject(core::Errc::kafka_error);
        self->event(std::string("kafka: committing before a revocation: ") + rd_kafka_err2str(c) +
                    " (their next owner repeats what was handed on since the last commit)");
      }
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
      const std::size_t held = self->assigned();
      self->assigned_.store(held > static_cast<std::size_t>(parts->cnt) ? held - static_cast<std::size_t>(parts->cnt) : 0,
                            std::memory_order_relaxed);
    } else {
      rd_kafka_assign(rk, nullptr);
      self->assigned_.store(0, std::memory_order_relaxed);
    }
    self->event("kafka: revoked partitions [" + list + "] of " + self->config_.topic + "; " +
                std::to_string(self->assigned()) + " held" + (cooperative ? " (cooperative)" : " (eager)"));
  }

  static void error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    self->counters_.reject(core::Errc::kafka_error);
    self->event(std::string("kafka: ") + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ": " + reason);
  }
};

namespace {

std::expected<void, std::string> set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char why[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK)
    return std::unexpected("kafka: " + key + "=" + value + ": " + why);
  return {};
}

}  // namespace

std::expected<std::unique_ptr<KafkaSource>, std::string> KafkaSource::open(const KafkaSourceConfig& config,
                                                                           const std::atomic<bool>* stop) {
  if (config.brokers.empty() || config.topic.empty() || config.group.empty())
    return std::unexpected(std::string("--kafka-flows needs --kafka-topic and --kafka-group"));
  if (auto loaded = lazy::load(lazy::librdkafka()); !loaded) return std::unexpected(loaded.error());
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<std::string, std::string> ours[] = {
      {"bootstrap.servers", config.brokers},
      {"group.id", config.group},
      {"client.id", "overflowd"},
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "false"},  // stored by us, after the flows were handed on
      {"auto.offset.reset", "earliest"},      // a new group misses nothing retained
      {"log.connection.close", "false"},
  };
  for (const auto& [k, v] : ours)
    if (auto r = set(conf, k, v); !r) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(r.error());
    }
  for (const auto& [k, v] : config.options) {
    if (k == "enable.auto.offset.store" || k == "enable.auto.commit") {
      rd_kafka_conf_destroy(conf);
      return std::unexpected("--kafka-option " + k + ": overflowd manages offsets itself (at-least-once)");
    }
    if (auto r = set(conf, k, v); !r) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(r.error());
    }
  }
  auto self = std::unique_ptr<KafkaSource>(new KafkaSource(nullptr, config, stop));
  rd_kafka_conf_set_opaque(conf, self.get());
  rd_kafka_conf_set_rebalance_cb(conf, KafkaCallbacks::rebalance);
  rd_kafka_conf_set_error_cb(conf, KafkaCallbacks::error);
  char why[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);  // owns conf when it succeeds
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return std::unexpected(std::string("kafka: ") + why);
  }
  self->rk_ = rk;
  rd_kafka_poll_set_consumer(rk);  // the rebalance and error callbacks are served where messages are taken
  self->queue_ = rd_kafka_queue_get_consumer(rk);
  if (!self->queue_) return std::unexpected(std::string("kafka: no consumer queue"));
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, config.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) return std::unexpected("kafka: subscribing to " + config.topic + ": " + rd_kafka_err2str(err));
  return self;
}

KafkaSource::KafkaSource(rd_kafka_t* rk, KafkaSourceConfig config, const std::atomic<bool>* stop)
    : rk_(rk), config_(std::move(config)), stop_(stop) {
  held_.reserve(kMaxBatch);
  last_.reserve(kMaxBatch);
  counters_.counts_kernel_drops = false;
}

KafkaSource::~KafkaSource() {
  close();
  if (rk_) rd_kafka_destroy(rk_);
}

void KafkaSource::event(const std::string& line) const {
  if (config_.on_event) config_.on_event(line);
}

void KafkaSource::release_held() noexcept {
  if (held_.empty()) return;
  // The last offset per partition is enough (a batch is in order within a partition): one entry
  // per partition, found among the few of this batch (a consumer holds a handful of partitions).
  last_.clear();
  for (const rd_kafka_message_t* m : held_) {
    auto it = last_.begin();
    for (; it != last_.end(); ++it)
      if (it->partition == m->partition &&
          (it->handle == m->rkt || std::strcmp(it->topic, rd_kafka_topic_name(m->rkt)) == 0))
        break;
    if (it == last_.end()) {
      last_.push_back(Last{m->rkt, rd_kafka_topic_name(m->rkt), m->partition, m->offset, 1});
    } else {
      it->offset = std::max(it->offset, m->offset);
      ++it->messages;
    }
  }
  const auto revoked = [this](const Last& l) {
    return std::ranges::any_of(revoked_, [&](const Revoked& r) { return r.partition == l.partition && r.topic == l.topic; });
  };
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(static_cast<int>(last_.size()));
  for (const Last& l : last_) {
    if (revoked(l)) {
      stores_withheld_ += l.messages;
      continue;
    }
    rd_kafka_topic_partition_list_add(offsets, l.topic, l.partition)->offset = l.offset + 1;  // the next to read
  }
  // Partitions revoked meanwhile refuse the store (RD_KAFKA_RESP_ERR__STATE, each its own .err):
  // their new owner reads those messages again.
  if (offsets->cnt > 0 && rd_kafka_offsets_store(rk_, offsets) != RD_KAFKA_RESP_ERR__INVALID_ARG)
    for (int i = 0; i < offsets->cnt; ++i) {
      const rd_kafka_topic_partition_t& p = offsets->elems[i];
      if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      for (const Last& l : last_)
        if (l.partition == p.partition && std::strcmp(l.topic, p.topic) == 0) offsets_stored_ += l.messages;
    }
  rd_kafka_topic_partition_list_destroy(offsets);
  for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
  held_.clear();
}

void KafkaSource::close() noexcept {
  if (closed_ || !rk_) return;
  closed_ = true;
  // Messages still held were not handed on (next_batch stores them once they were): not stored.
  for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
  held_.clear();
  if (queue_) rd_kafka_queue_destroy(queue_);  // our reference, released before the consumer closes
  queue_ = nullptr;
  rd_kafka_consumer_close(rk_);  // commits what was stored, leaves the group (its partitions move at once)
}

bool KafkaSource::next(core::Datagram& out) {
  std::size_t n = 0;
  while (n == 0) {
    if (!next_batch(std::span(&out, 1), n)) return false;
  }
  return true;
}

std::size_t KafkaSource::take(rd_kafka_message_t** into, std::size_t want) {
  // What is already fetched, without waiting; when nothing is, one message waited for (up to
  // kIdleMs) and what came with it. (With a timeout, a batch call waits for all `want`.)
  ssize_t got = rd_kafka_consume_batch_queue(queue_, 0, into, want);
  if (got == 0) {
    got = rd_kafka_consume_batch_queue(queue_, kIdleMs, into, 1);
    if (got == 1 && want > 1) {
      const ssize_t more = rd_kafka_consume_batch_queue(queue_, 0, into + 1, want - 1);
      if (more > 0) got += more;
    }
  }
  if (got < 0) {
    counters_.reject(core::Errc::kafka_error);
    event(std::string("kafka: consuming: ") + rd_kafka_err2str(rd_kafka_last_error()));
    return 0;
  }
  return static_cast<std::size_t>(got);
}

bool KafkaSource::next_batch(std::span<core::Datagram> out, std::size_t& n) {
  n = 0;
  release_held();  // the caller is done with the previous batch: its flows were handed to the sinks
  if (stopped()) {
    close();
    return false;
  }
  const std::size_t want = std::min(out.size(), kMaxBatch);
  if (want == 0) return true;
  revoked_.clear();  // from here on, what the rebalance callback revokes concerns this batch
  held_.resize(want);
  const std::size_t got = take(held_.data(), want);
  const std::int64_t received_ns = got ? core::system_clock().wall_ns() : 0;  // once a batch
  std::size_t kept = 0;
  for (std::size_t i = 0; i < got; ++i) {
    rd_kafka_message_t* m = held_[i];
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        counters_.reject(core::Errc::kafka_error);
        event(std::string("kafka: ") + rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    held_[kept++] = m;
    core::Datagram& d = out[n++];
    d = core::Datagram{};
    d.received_ns = received_ns;
    d.bytes = core::Bytes(static_cast<const std::byte*>(m->payload), m->len);
    d.format = config_.format;
  }
  held_.resize(kept);
  counters_.packets += got;
  counters_.datagrams += n;
  return true;
}

}  // namespace overflowd::source

#include "sink/kafka_sink.hpp"

#include "lazy/lazy_library.hpp"

#include <librdkafka/rdkafka.h>

#include <array>

namespace overflowd::sink {

std::string network_key(const core::IpAddress& dst) {
  if (dst.empty()) return {};
  std::array<std::byte, 16> b{};
  const std::size_t keep = dst.is_v4() ? 3 : 6;  // /24, /48
  for (std::size_t i = 0; i < keep; ++i) b[i] = static_cast<std::byte>(dst.bytes()[i]);
  const auto net = core::IpAddress::from_bytes(std::span<const std::byte>(b.data(), dst.is_v4() ? 4 : 16));
  return net.to_string() + (dst.is_v4() ? "/24" : "/48");
}

struct KafkaSinkCallbacks {
  static void delivered(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    if (!m->err) {
      self->delivered_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(self->failed_mutex_);
    ++self->failed_[rd_kafka_err2name(m->err)];
  }
};

namespace {

std::expected<void, std::string> set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char why[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), why, sizeof why) != RD_KAFKA_CONF_OK)
    return std::unexpected("kafka reports: " + key + "=" + value + ": " + why);
  return {};
}

}  // namespace

std::expected<std::unique_ptr<KafkaSink>, std::string> KafkaSink::open(const KafkaSinkConfig& config) {
  if (config.brokers.empty() || config.topic.empty())
    return std::unexpected(std::string("--deliver kafka needs --kafka-reports BROKERS and --kafka-reports-topic TOPIC"));
  if (auto loaded = lazy::load(lazy::librdkafka()); !loaded) return std::unexpected(loaded.error());
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<std::string, std::string> ours[] = {
      {"bootstrap.servers", config.brokers},
      {"client.id", "overflowd"},
      {"queue.buffering.max.messages", std::to_string(config.queue)},
      {"queue.buffering.max.kbytes", std::to_string(config.queue_kbytes)},
      {"linger.ms", "5"},
      {"log.connection.close", "false"},
  };
  for (const auto& [k, v] : ours)
    if (auto r = set(conf, k, v); !r) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(r.error());
    }
  for (const auto& [k, v] : config.options)
    if (auto r = set(conf, k, v); !r) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(r.error());
    }
  auto self = std::unique_ptr<KafkaSink>(new KafkaSink(nullptr, config));
  rd_kafka_conf_set_opaque(conf, self.get());
  rd_kafka_conf_set_dr_msg_cb(conf, KafkaSinkCallbacks::delivered);
  char why[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return std::unexpected(std::string("kafka reports: ") + why);
  }
  self->rk_ = rk;
  return self;
}

KafkaSink::~KafkaSink() {
  if (rk_) rd_kafka_destroy(rk_);
}

void KafkaSink::write(const core::FlowRecord& flow, const report::SignedReport& report) {
  const std::string key = network_key(flow.dst);
  std::array<rd_kafka_vu_t, 4> vu{};
  vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vu[0].u.cstr = config_.topic.c_str();
  vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu[1].u.i = RD_KAFKA_MSG_F_COPY;
  vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vu[2].u.mem.ptr = const_cast<char*>(report.line.data());  // copied (RD_KAFKA_MSG_F_COPY)
  vu[2].u.mem.size = report.line.size();
  vu[3].vtype = RD_KAFKA_VTYPE_KEY;
  vu[3].u.mem.ptr = const_cast<char*>(key.data());
  vu[3].u.mem.size = key.size();
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (rd_kafka_error_t* e = rd_kafka_produceva(rk_, vu.data(), vu.size())) {
    err = rd_kafka_error_code(e);
    rd_kafka_error_destroy(e);
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) produced_.fetch_add(1, std::memory_order_relaxed);
  else if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) dropped_queue_full_.fetch_add(1, std::memory_order_relaxed);
  else produce_errors_.fetch_add(1, std::memory_order_relaxed);
  rd_kafka_poll(rk_, 0);  // serve delivery reports; never waits
}

void KafkaSink::flush() {
  rd_kafka_flush(rk_, config_.flush_timeout_ms);
  if (const int left = rd_kafka_outq_len(rk_); left > 0)
    dropped_at_exit_.store(static_cast<std::uint64_t>(left), std::memory_order_relaxed);
}

void KafkaSink::append_counters(std::vector<core::NamedCount>& out) const {
  out.push_back({"kafka.produced", produced_.load(std::memory_order_relaxed)});
  out.push_back({"kafka.delivered", delivered_.load(std::memory_order_relaxed)});
  out.push_back({"kafka.dropped.queue_full", dropped_queue_full_.load(std::memory_order_relaxed)});
  if (const auto n = dropped_at_exit_.load(std::memory_order_relaxed)) out.push_back({"kafka.dropped.at_exit", n});
  if (const auto n = produce_errors_.load(std::memory_order_relaxed)) out.push_back({"kafka.produce_errors", n});
  std::lock_guard lock(failed_mutex_);
  for (const auto& [name, n] : failed_) out.push_back({"kafka.failed." + name, n});
}

}  // namespace overflowd::sink

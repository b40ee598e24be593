// The Kafka source and sink against librdkafka's mock cluster, in process (loopback TCP): offsets
// are stored only for batches the caller finished (at-least-once), a clean stop commits them, the
// reports' keys are the destination's /24 or /48, and the producer's queue is bounded.
#include "source/kafka_source.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

#include "sink/kafka_sink.hpp"

namespace {

using namespace overflowd;

class MockCluster {
public:
  MockCluster() {
    char why[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof why);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
    rd_kafka_mock_topic_create(cluster_, "flows", 1, 1);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(rk_);
  }
  [[nodiscard]] const std::string& bootstrap() const { return bootstrap_; }

  void produce(int count) {
    char why[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), why, sizeof why);
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    ASSERT_NE(p, nullptr) << why;
    for (int i = 0; i < count; ++i) {
      std::string value = "message " + std::to_string(i);
      rd_kafka_topic_t* t = rd_kafka_topic_new(p, "flows", nullptr);
      ASSERT_EQ(rd_kafka_produce(t, 0, RD_KAFKA_MSG_F_COPY, value.data(), value.size(), nullptr, 0, nullptr), 0);
      rd_kafka_topic_destroy(t);
    }
    ASSERT_EQ(rd_kafka_flush(p, 10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
  }

  // The group's committed offset of flows[0], or -1.
  std::int64_t committed(const std::string& group) {
    char why[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), why, sizeof why);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), why, sizeof why);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, "flows", 0);
    std::int64_t offset = -1;
    if (rd_kafka_committed(c, list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(c);
    return offset;
  }

private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
};

source::KafkaSourceConfig config_for(const MockCluster& cluster) {
  source::KafkaSourceConfig c;
  c.brokers = cluster.bootstrap();
  c.topic = "flows";
  c.group = "g";
  c.format = core::Protocol::goflow_json;
  c.options = {{"auto.commit.interval.ms", "600000"}, {"session.timeout.ms", "6000"}};
  return c;
}

// Reads until `want` messages came in one or more batches (not releasing the last), or 30 s.
std::vector<std::string> read(source::KafkaSource& s, std::size_t want) {
  std::vector<std::string> got;
  std::array<core::Datagram, 64> batch;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    std::size_t n = 0;
    if (!s.next_batch(batch, n)) break;
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(batch[i].format, core::Protocol::goflow_json);
      got.emplace_back(reinterpret_cast<const char*>(batch[i].bytes.data()), batch[i].bytes.size());
    }
  }
  return got;
}

TEST(KafkaSource, OffsetsOnlyForFinishedBatchesAtLeastOnce) {
  MockCluster cluster;
  cluster.produce(10);
  std::atomic<bool> stop{false};
  std::size_t stored_a = 0;
  {
    // Reads all 10 and stops holding its last batch: that batch's offsets are never stored, so
    // never committed (librdkafka may hand the 10 over in more than one batch: the earlier ones
    // were finished, stored, and committed at its stop).
    auto a = source::KafkaSource::open(config_for(cluster), &stop);
    ASSERT_TRUE(a) << a.error();
    const auto got = read(**a, 10);
    ASSERT_EQ(got.size(), 10u);
    EXPECT_EQ(got.front(), "message 0");
    stored_a = (*a)->offsets_stored();
    EXPECT_LT(stored_a, 10u);
  }
  {
    // The next member gets the unfinished ones again; it finishes them (asks for another batch)
    // and stops.
    auto b = source::KafkaSource::open(config_for(cluster), &stop);
    ASSERT_TRUE(b) << b.error();
    const auto got = read(**b, 10 - stored_a);
    ASSERT_EQ(got.size(), 10u - stored_a);
    EXPECT_EQ(got.front(), "message " + std::to_string(stored_a));
    std::array<core::Datagram, 64> batch;
    std::size_t n = 0;
    ASSERT_TRUE((*b)->next_batch(batch, n));  // stores the batch before
    EXPECT_EQ((*b)->offsets_stored(), 10u - stored_a);
    EXPECT_EQ((*b)->counters().datagrams, 10u - stored_a + n);
  }
  // What b committed at its stop: the offset after the 10 messages (asked of the group's
  // coordinator without joining the group).
  EXPECT_EQ(cluster.committed("g"), 10);
  {
    auto c = source::KafkaSource::open(config_for(cluster), &stop);
    ASSERT_TRUE(c) << c.error();
    stop = true;
    std::array<core::Datagram, 64> batch;
    std::size_t n = 0;
    EXPECT_FALSE((*c)->next_batch(batch, n));  // stopped
  }
}

TEST(KafkaSource, RefusesBadSettings) {
  std::atomic<bool> stop{false};
  source::KafkaSourceConfig c;
  c.brokers = "127.0.0.1:1";
  c.topic = "t";
  EXPECT_FALSE(source::KafkaSource::open(c, &stop));  // no group
  c.group = "g";
  c.options = {{"enable.auto.offset.store", "true"}};
  EXPECT_FALSE(source::KafkaSource::open(c, &stop));  // offsets are ours to store
  c.options = {{"no.such.property", "1"}};
  EXPECT_FALSE(source::KafkaSource::open(c, &stop));
  EXPECT_FALSE(source::parse_kafka_option("novalue"));
  EXPECT_EQ(source::parse_kafka_option("a.b=c=d")->second, "c=d");
}

TEST(KafkaSink, NetworkKeys) {
  EXPECT_EQ(sink::network_key(*core::IpAddress::parse("203.0.113.77")), "203.0.113.0/24");
  EXPECT_EQ(sink::network_key(*core::IpAddress::parse("2001:db8:1:2::5")), "2001:db8:1::/48");
  EXPECT_EQ(sink::network_key(core::IpAddress{}), "");
}

// No broker answers: the queue fills to its cap and the rest is dropped and counted, at once.
TEST(KafkaSink, QueueIsBoundedAndDropsAreCounted) {
  sink::KafkaSinkConfig c;
  c.brokers = "127.0.0.1:1";
  c.topic = "reports";
  c.queue = 5;
  c.flush_timeout_ms = 100;
  auto k = sink::KafkaSink::open(c);
  ASSERT_TRUE(k) << k.error();
  core::FlowRecord flow;
  flow.dst = *core::IpAddress::parse("203.0.113.1");
  report::SignedReport r;
  r.line = R"({"report":1})";
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) (*k)->write(flow, r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));  // never waits
  (*k)->flush();
  std::vector<core::NamedCount> counts;
  (*k)->append_counters(counts);
  const auto value = [&](std::string_view name) {
    for (const auto& n : counts)
      if (n.name == name) return n.value;
    return std::uint64_t{0};
  };
  EXPECT_EQ(value("kafka.produced"), 5u);
  EXPECT_EQ(value("kafka.dropped.queue_full"), 15u);
  EXPECT_EQ(value("kafka.delivered"), 0u);
}

}  // namespace

// Flows from Kafka: goflow2's protobuf messages decoded and sampled (at the default rate, 1e-5),
// side by side in one run with NetFlow v5 (the UDP path) over the same number of flows. Items/s
// are flows/s on one core. The Kafka client's own cost (fetching, librdkafka's queues) is not in
// it: this is the per-flow work overflowd adds once a message is in memory.
//
//   BM_GoflowPbDecodeSample/N  Dispatcher::decode (decode/goflow.cpp, the hand-written reader) and
//                              Sampler::keep per flow; N flows per Kafka message (goflow2 sends 1)
//   BM_GoflowPbDecode/N        the decoder alone (no sampling)
//   BM_GoflowPbLibprotobuf/N   libprotobuf's generated FlowMessage::ParseFromArray over the same
//                              messages (one message object reused), for the choice of reader
//   BM_GoflowJsonDecodeSample  goflow2's JSON, one flow per message
//   BM_V5DecodeSample          NetFlow v5 datagrams of 30 records, decoded and sampled the same way
//   BM_GoflowKafkaSource       the per-message path as the pipeline pays it with Kafka: the same
//                              messages (one flow each) produced to librdkafka's mock cluster in
//                              this process, consumed by source::KafkaSource::next_batch in the
//                              worker's loop (rd_kafka_consume_batch_queue once a batch, the
//                              offsets stored per batch, the messages freed), decoded by the dispatcher and
//                              sampled (Sampler::decide, the default rate). CPU time of the
//                              consuming thread only: librdkafka's fetch (its broker thread: the
//                              fetch requests, parsing the record batches, its queues) runs on
//                              other threads and is not in it, nor is the mock broker. per_batch:
//                              messages per non-empty batch (up to 64).
//   BM_GoflowKafkaSourceProcess the same with the whole process's CPU time: librdkafka's threads
//                              included, and the mock broker serving the fetches too (which a
//                              real deployment runs elsewhere): an upper bound of what a flow
//                              costs this host.
#include <benchmark/benchmark.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/datagram.hpp"
#include "decode/dispatch.hpp"
#include "proto/flow.pb.h"
#include "sample/sampler.hpp"
#include "source/kafka_source.hpp"

namespace {

using namespace overflowd;

constexpr std::size_t kFlows = 30 * 1024;  // per pass, for every format

std::string address(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

flowpb::FlowMessage message(std::uint32_t i) {
  flowpb::FlowMessage m;
  m.set_type(flowpb::FlowMessage::IPFIX);
  m.set_time_received_ns(1'700'000'001'000'000'000ull + i);
  m.set_sequence_num(i);
  m.set_sampling_rate(1000);
  m.set_sampler_address(address(0xc0000209u));
  m.set_time_flow_start_ns(1'700'000'000'000'000'000ull + i * 1000ull);
  m.set_time_flow_end_ns(1'700'000'000'500'000'000ull + i * 1000ull);
  m.set_bytes(1500ull * (i % 17 + 1));
  m.set_packets(i % 17 + 1);
  m.set_src_addr(address(0xc6336400u + (i * 2654435761u) % 65536u));
  m.set_dst_addr(address(0xcb007100u + (i * 40503u) % 4096u));
  m.set_etype(0x800);
  m.set_proto(i % 3 == 0 ? 17 : 6);
  m.set_src_port(1024 + i % 60000);
  m.set_dst_port(443);
  m.set_in_if(3);
  m.set_out_if(7);
  m.set_src_mac(0x001122334455ull);
  m.set_dst_mac(0x00aabbccddeeull);
  m.set_tcp_flags(0x18);
  m.set_src_as(64500);
  m.set_dst_as(64501);
  m.set_next_hop(address(0xc0000201u));
  m.set_src_net(24);
  m.set_dst_net(24);
  m.add_as_path(64500);
  m.add_as_path(64501);
  return m;
}

void put_varint(std::string& out, std::uint64_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

// kFlows flows as Kafka messages of `per` delimited FlowMessages each.
std::vector<std::string> pb_messages(std::size_t per) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kFlows; i += per) {
    std::string m;
    for (std::size_t j = 0; j < per; ++j) {
      const std::string body = message(static_cast<std::uint32_t>(i + j)).SerializeAsString();
      put_varint(m, body.size());
      m += body;
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<core::Datagram> views(const std::vector<std::string>& messages, core::Protocol format) {
  std::vector<core::Datagram> v;
  for (const auto& m : messages) {
    core::Datagram d;
    d.bytes = std::as_bytes(std::span(m.data(), m.size()));
    d.format = format;
    v.push_back(d);
  }
  return v;
}

void run_decode_sample(benchmark::State& state, const std::vector<core::Datagram>& datagrams) {
  decode::Dispatcher dispatcher;
  sample::Sampler sampler(sample::SamplerConfig{});  // the default rate, 1e-5
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  std::uint64_t kept = 0, decoded = 0;
  for (auto _ : state) {
    for (const auto& d : datagrams) {
      flows.clear();
      if (!dispatcher.decode(d, flows)) continue;
      decoded += flows.size();
      for (const auto& f : flows) kept += sampler.keep(f);
    }
    benchmark::DoNotOptimize(kept);
  }
  if (decoded != kFlows * static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("flows refused");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFlows));
}

void BM_GoflowPbDecode(benchmark::State& state) {  // the decoder alone, to set beside libprotobuf's parse
  const auto messages = pb_messages(static_cast<std::size_t>(state.range(0)));
  const auto datagrams = views(messages, core::Protocol::goflow_pb);
  decode::Dispatcher dispatcher;
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  for (auto _ : state) {
    for (const auto& d : datagrams) {
      flows.clear();
      auto n = dispatcher.decode(d, flows);
      benchmark::DoNotOptimize(n);
      benchmark::DoNotOptimize(flows.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFlows));
}
BENCHMARK(BM_GoflowPbDecode)->Arg(1)->Arg(30);

void BM_GoflowPbDecodeSample(benchmark::State& state) {
  const auto messages = pb_messages(static_cast<std::size_t>(state.range(0)));
  run_decode_sample(state, views(messages, core::Protocol::goflow_pb));
}
BENCHMARK(BM_GoflowPbDecodeSample)->Arg(1)->Arg(30);

void BM_GoflowPbLibprotobuf(benchmark::State& state) {
  const std::size_t per = static_cast<std::size_t>(state.range(0));
  const auto messages = pb_messages(per);
  flowpb::FlowMessage m;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (const auto& k : messages) {
      // The delimited frames, each parsed by libprotobuf (the length read as the decoder does).
      const auto* p = reinterpret_cast<const std::uint8_t*>(k.data());
      const auto* end = p + k.size();
      while (p < end) {
        std::uint64_t n = 0;
        for (unsigned shift = 0;; shift += 7) {
          n |= std::uint64_t{static_cast<std::uint8_t>(*p & 0x7f)} << shift;
          if (!(*p++ & 0x80)) break;
        }
        if (!m.ParseFromArray(p, static_cast<int>(n))) state.SkipWithError("libprotobuf refused");
        sum += m.bytes();
        p += n;
      }
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFlows));
}
BENCHMARK(BM_GoflowPbLibprotobuf)->Arg(1)->Arg(30);

void BM_GoflowJsonDecodeSample(benchmark::State& state) {
  std::vector<std::string> messages;
  for (std::size_t i = 0; i < kFlows; ++i)
    messages.push_back(
        R"({"type":"IPFIX","time_received_ns":1700000001000000000,"sequence_num":)" + std::to_string(i) +
        R"(,"sampling_rate":1000,"sampler_address":"192.0.2.9","time_flow_start_ns":1700000000000000000,)"
        R"("time_flow_end_ns":1700000000500000000,"bytes":1500,"packets":1,"src_addr":"198.51.100.)" +
        std::to_string(i % 250) + R"(","dst_addr":"203.0.113.)" + std::to_string(i % 200) +
        R"(","etype":"IPv4","proto":"TCP","src_port":)" + std::to_string(1024 + i % 60000) +
        R"(,"dst_port":443,"in_if":3,"out_if":7,"src_mac":"00:11:22:33:44:55","dst_mac":"00:aa:bb:cc:dd:ee",)"
        R"("ip_tos":0,"tcp_flags":24,"src_as":64500,"dst_as":64501,"next_hop":"192.0.2.1","src_net":"198.51.100.0/24",)"
        R"("dst_net":"203.0.113.0/24","as_path":[64500,64501]})");
  run_decode_sample(state, views(messages, core::Protocol::goflow_json));
}
BENCHMARK(BM_GoflowJsonDecodeSample);

// NetFlow v5 (Cisco's export format): 24-byte header, 30 records of 48 bytes.
void BM_V5DecodeSample(benchmark::State& state) {
  std::vector<std::string> datagrams;
  for (std::size_t i = 0; i < kFlows; i += 30) {
    std::string b;
    const auto u8 = [&b](std::uint32_t v) { b.push_back(static_cast<char>(v & 0xff)); };
    const auto u16 = [&](std::uint32_t v) { u8(v >> 8), u8(v); };
    const auto u32 = [&](std::uint32_t v) { u16(v >> 16), u16(v & 0xffff); };
    u16(5), u16(30), u32(3'600'000), u32(1'700'000'000), u32(0), u32(static_cast<std::uint32_t>(i)), u8(0), u8(0),
        u16(0x4000 | 1000);
    for (std::uint32_t j = 0; j < 30; ++j) {
      const auto k = static_cast<std::uint32_t>(i) + j;
      u32(0xc6336400u + (k * 2654435761u) % 65536u), u32(0xcb007100u + (k * 40503u) % 4096u), u32(0xc0000201u);
      u16(3), u16(7), u32(k % 17 + 1), u32(1500 * (k % 17 + 1)), u32(3'590'000), u32(3'599'000);
      u16(1024 + k % 60000), u16(443), u8(0), u8(0x18), u8(k % 3 == 0 ? 17 : 6), u8(0), u16(64500), u16(64501);
      u8(24), u8(24), u16(0);
    }
    datagrams.push_back(std::move(b));
  }
  run_decode_sample(state, views(datagrams, core::Protocol::packet));
}
BENCHMARK(BM_V5DecodeSample);

// ---- through Kafka ----

constexpr std::size_t kPerIteration = 8192;  // messages (one flow each) consumed per iteration
constexpr int kIterations = 12;
// The mock cluster keeps about 5 MB per partition (its log drops older messages): 26,000 of these
// messages per partition, 4 partitions, enough for one run; every run reads them all again.
constexpr int kPartitions = 4;
constexpr std::size_t kPerPartition = 26'000;

// librdkafka's mock cluster in this process, with one topic of kPartitions partitions; each run
// reads it from the start in a group of its own.
struct MockKafka {
  rd_kafka_t* host = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  std::size_t produced = 0;
  std::string error;

  MockKafka() {
    char why[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof why);
    host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!host) {
      error = why;
      return;
    }
    cluster = rd_kafka_mock_cluster_new(host, 1);
    rd_kafka_mock_topic_create(cluster, "flows", kPartitions, 1);
    bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), why, sizeof why);
    rd_kafka_conf_set(conf, "linger.ms", "20", why, sizeof why);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", why, sizeof why);
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    auto messages = pb_messages(1);
    const std::size_t want = kPerPartition * kPartitions;
    static_assert((kPerIteration + kBatchSlack) * kIterations + kBatchSlack <= kPerPartition * kPartitions);
    rd_kafka_topic_t* topic = rd_kafka_topic_new(producer, "flows", nullptr);
    for (std::size_t i = 0; i < want; ++i) {
      std::string& m = messages[i % messages.size()];
      while (rd_kafka_produce(topic, static_cast<std::int32_t>(i % kPartitions), RD_KAFKA_MSG_F_COPY, m.data(), m.size(), nullptr, 0, nullptr) != 0)
        rd_kafka_poll(producer, 10);  // the queue is full: let deliveries drain it
    }
    rd_kafka_topic_destroy(topic);
    if (rd_kafka_flush(producer, 120'000) != RD_KAFKA_RESP_ERR_NO_ERROR) error = "the producer did not flush";
    rd_kafka_destroy(producer);
    produced = want;
  }
  static constexpr std::size_t kBatchSlack = 64;  // an iteration reads whole batches: up to 63 more
};

MockKafka& mock_kafka() {
  static MockKafka k;
  return k;
}

void run_kafka_source(benchmark::State& state) {
  static int run = 0;
  MockKafka& k = mock_kafka();
  if (!k.error.empty()) return state.SkipWithError(k.error.c_str());
  std::atomic<bool> stop{false};
  source::KafkaSourceConfig config;
  config.brokers = k.bootstrap;
  config.topic = "flows";
  config.group = "bench-" + std::to_string(run++);
  config.format = core::Protocol::goflow_pb;
  auto opened = source::KafkaSource::open(config, &stop);
  if (!opened) return state.SkipWithError(opened.error().c_str());
  source::KafkaSource& src = **opened;
  decode::Dispatcher dispatcher;
  sample::Sampler sampler(sample::SamplerConfig{});  // the default rate, 1e-5
  std::vector<core::FlowRecord> flows;
  flows.reserve(64);
  std::array<core::Datagram, 64> batch;  // the pipeline's batch (app/pipeline.cpp, kBatch)
  std::size_t n = 0;
  // Untimed: the group is joined and the first messages are fetched (up to 60 s on a loaded machine).
  for (int i = 0; i < 600 && n == 0; ++i)
    if (!src.next_batch(batch, n)) return state.SkipWithError("the source stopped");
  if (n == 0) return state.SkipWithError("no message from the mock cluster in 60 s");
  std::uint64_t consumed = 0, decoded = 0, kept = 0, batches = 0;
  int idle = 0;
  for (auto _ : state) {
    std::size_t got = 0;
    while (got < kPerIteration) {
      if (!src.next_batch(batch, n)) return state.SkipWithError("the source stopped");
      for (std::size_t i = 0; i < n; ++i) {  // the worker's handle(): decode, then each flow sampled
        flows.clear();
        if (!dispatcher.decode(batch[i], flows)) continue;
        decoded += flows.size();
        for (const auto& f : flows) kept += sampler.decide(f) != sample::Decision::dropped;
      }
      got += n;
      batches += n != 0;
      if (n == 0 && ++idle > 100) {  // 10 s without a message
        static std::string why;
        why = "no message for 10 s after " + std::to_string(consumed + got) + " of " + std::to_string(k.produced);
        return state.SkipWithError(why.c_str());
      }
      if (n != 0) idle = 0;
    }
    consumed += got;
  }
  benchmark::DoNotOptimize(kept);
  if (decoded != consumed) state.SkipWithError("flows refused");
  state.SetItemsProcessed(static_cast<std::int64_t>(consumed));
  state.counters["kafka_messages"] = static_cast<double>(consumed);
  state.counters["per_batch"] = static_cast<double>(consumed) / static_cast<double>(batches ? batches : 1);
}

void BM_GoflowKafkaSource(benchmark::State& state) { run_kafka_source(state); }
BENCHMARK(BM_GoflowKafkaSource)->Iterations(kIterations);

void BM_GoflowKafkaSourceProcess(benchmark::State& state) { run_kafka_source(state); }
BENCHMARK(BM_GoflowKafkaSourceProcess)->Iterations(kIterations)->MeasureProcessCPUTime();

}  // namespace

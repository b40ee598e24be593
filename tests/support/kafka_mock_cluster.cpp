// A Kafka broker for tests: librdkafka's mock cluster (rd_kafka_mock_cluster_new), listening on
// loopback TCP, so separate processes (overflowd, kcat) connect to it as to a real broker.
//   kafka_mock_cluster TOPIC:PARTITIONS [TOPIC:PARTITIONS ...]
// Creates the topics, prints the bootstrap address ("127.0.0.1:PORT") on one line of stdout, and
// runs until its stdin ends (the test closes the pipe, or dies) or SIGINT / SIGTERM.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOPIC:PARTITIONS [TOPIC:PARTITIONS ...]\n", argv[0]);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  char why[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);  // hosts the cluster's thread
  if (!rk) {
    std::fprintf(stderr, "rd_kafka_new: %s\n", why);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, 1);
  if (!cluster) {
    std::fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto colon = arg.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "%s: not TOPIC:PARTITIONS\n", argv[i]);
      return 2;
    }
    const int partitions = std::atoi(arg.c_str() + colon + 1);
    if (rd_kafka_mock_topic_create(cluster, arg.substr(0, colon).c_str(), partitions, 1)) {
      std::fprintf(stderr, "%s: cannot create the topic\n", argv[i]);
      return 1;
    }
  }
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  char buffer[256];
  while (!g_stop) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int r = poll(&p, 1, 200);
    if (r > 0 && read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;  // EOF: the test is gone
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}

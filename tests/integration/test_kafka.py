"""Flows in from Kafka, reports out to Kafka, on loopback (issue 18, items 1 and 2).

The broker is librdkafka's mock cluster (tests/support/kafka_mock_cluster.cpp, loopback TCP); the
flow messages are goflow2's -format=bin, made by goflow_messages.py from proto/flow.proto with
python3-protobuf and produced with kcat; the reports are consumed back with kcat.

- Two overflowd instances in one consumer group split the 8 partitions of the flow topic.
- One is killed (SIGKILL, no goodbye) mid-stream (more flows are produced while its partitions
  wait for the session time-out); the other takes its partitions and every flow (sampled at -r 1)
  appears in the reports at least once. The killed one never committed (auto.commit.interval.ms is
  long here), so what it had handed on is read again: at-least-once, with the repeats a crash costs.
- Rebalances while flows stream (the source takes messages in batches, and a batch is in hand
  whenever the group rebalances), eager and cooperative: a second instance joins, then leaves
  cleanly; every flow is reported at least once, and the log names the protocol used.
- Each report's value is byte for byte a line that instance wrote to its --output, keyed by the
  destination's /24.
- Bad messages are skipped and counted by reason (goflow_pb.rejected.<reason>).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import goflow_messages  # noqa: E402
from overflowd_testlib import build_dir, require_binary  # noqa: E402

PARTITIONS = 8
MESSAGES_PER_PARTITION = 3
FLOWS_PER_MESSAGE = 4


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Instance:
    def __init__(self, binary, folder, name, bootstrap, options=()):
        self.name = name
        self.output = folder / f"{name}.jsonl"
        self.stderr_path = folder / f"{name}.err"
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [str(binary), "--kafka-flows", bootstrap, "--kafka-topic", "flows", "--kafka-group", "overflowd",
             # A dead member is noticed after 3 s; nothing is committed during the test but at a
             # revocation or a clean stop, so a kill shows what a crash repeats.
             "--kafka-option", "session.timeout.ms=3000", "--kafka-option", "heartbeat.interval.ms=300",
             "--kafka-option", "auto.commit.interval.ms=600000",
             *[arg for option in options for arg in ("--kafka-option", option)],
             "-r", "1", "--key", str(folder / f"{name}.key"), "--output", str(self.output),
             "--deliver", "kafka", "--kafka-reports", bootstrap, "--kafka-reports-topic", "reports"],
            stdout=subprocess.DEVNULL, stderr=self.stderr)

    def log(self):
        return self.stderr_path.read_text(errors="replace")

    def held(self):
        """Partitions held, from the last assignment line."""
        held = 0
        for line in self.log().splitlines():
            if "kafka: assigned" in line or "kafka: revoked" in line:
                held = int(line.rsplit(";", 1)[1].split()[0])
        return held

    def lines(self):
        return set(self.output.read_text().splitlines()) if self.output.exists() else set()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.stderr.close()


class KafkaTest(unittest.TestCase):
    def setUp(self):
        self.binary = require_binary()
        self.mock = build_dir() / "tests" / "kafka_mock_cluster"
        if not self.mock.is_file() or shutil.which("kcat") is None:
            raise unittest.SkipTest("kafka_mock_cluster or kcat missing")
        self.pb = goflow_messages.flow_pb2(build_dir())
        self.folder = Path(tempfile.mkdtemp(prefix="overflowd-kafka-"))
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.cluster = subprocess.Popen([str(self.mock), f"flows:{PARTITIONS}", "reports:2"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.stop_cluster)
        self.bootstrap = self.cluster.stdout.readline().strip()
        self.assertTrue(self.bootstrap.startswith("127.0.0.1:"), self.bootstrap)
        self.instances = []
        self.addCleanup(lambda: [i.stop(signal.SIGKILL) for i in self.instances])
        self.next_flow = 0

    def stop_cluster(self):
        self.cluster.stdin.close()  # EOF: the helper stops
        self.cluster.wait(timeout=30)
        self.cluster.stdout.close()

    def produce(self, partition, payloads):
        files = []
        for i, payload in enumerate(payloads):
            f = self.folder / f"m{partition}_{self.next_flow}_{i}.bin"
            f.write_bytes(payload)
            files.append(str(f))
        subprocess.run(["kcat", "-b", self.bootstrap, "-P", "-t", "flows", "-p", str(partition), *files], check=True,
                       timeout=30)

    def batch(self, partitions=range(PARTITIONS)):
        """MESSAGES_PER_PARTITION messages of FLOWS_PER_MESSAGE flows to each partition; their flows
        as (destination, destination port), each unique."""
        flows = {}
        for p in partitions:
            payloads = []
            for _ in range(MESSAGES_PER_PARTITION):
                messages = []
                for _ in range(FLOWS_PER_MESSAGE):
                    n = self.next_flow
                    self.next_flow += 1
                    dst = f"203.0.{113 + n // 250 % 2}.{n % 250 + 1}"
                    dport = 1000 + n
                    messages.append(goflow_messages.flow_message(self.pb, "198.51.100.7", dst, 40000, dport))
                    flows[(dst, dport)] = p
                payloads.append(goflow_messages.delimited(messages))
            self.produce(p, payloads)
        return flows

    def reports(self):
        """The reports topic as (key, value) pairs, every partition from the start."""
        out = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", "reports", "-o", "beginning", "-e", "-q",
                              "-f", "%k\t%s\n"], capture_output=True, check=True, timeout=30, text=True).stdout
        return [tuple(line.split("\t", 1)) for line in out.splitlines() if line]

    @staticmethod
    def reported(pairs):
        seen = {}
        for _, value in pairs:
            data = json.loads(value)["flowdata"]["data"]
            key = (data["daddr"], data["dport"])
            seen[key] = seen.get(key, 0) + 1
        return seen

    def test_group_split_kill_takeover_bad_messages(self):
        try:
            self.group_split_kill_takeover_bad_messages()
        except AssertionError:
            for i in self.instances:  # what each instance said, for the failure's reader
                print(f"--- {i.name} stderr:\n{i.log()}", file=sys.stderr)
            raise

    def group_split_kill_takeover_bad_messages(self):
        a = Instance(self.binary, self.folder, "a", self.bootstrap)
        self.instances.append(a)
        wait_for(lambda: a.held() == PARTITIONS, 30, "the first instance to hold every partition")
        b = Instance(self.binary, self.folder, "b", self.bootstrap)
        self.instances.append(b)
        wait_for(lambda: a.held() > 0 and b.held() > 0 and a.held() + b.held() == PARTITIONS, 30,
                 "two instances to split the partitions")
        self.assertEqual((a.held(), b.held()), (4, 4))

        first = self.batch()
        wait_for(lambda: set(first) <= set(self.reported(self.reports())), 30, "the first batch's reports")

        # Kill the first instance once it has handed on some of the second batch.
        a_lines = len(a.lines())  # before the batch: the instance may hand all of it on at once
        second = self.batch()
        wait_for(lambda: len(a.lines()) > a_lines, 30, "the first instance to report from the second batch")
        a.stop(signal.SIGKILL)
        second.update(self.batch())  # the stream goes on while the dead member's partitions wait
        wait_for(lambda: b.held() == PARTITIONS, 30, "the survivor to take every partition")
        wait_for(lambda: set(second) <= set(self.reported(self.reports())), 30, "every flow of the second batch")

        # Bad messages, then one good one after them on the same partition (read in order).
        self.produce(0, [b"\x80", goflow_messages.delimited([goflow_messages.flow_message(
            self.pb, "198.51.100.7", "203.0.113.1", 40000, 9)])[:-3]])
        last = self.batch(partitions=[0])
        wait_for(lambda: set(last) <= set(self.reported(self.reports())), 30, "the message after the bad ones")
        b.stop()
        summary = b.log()
        self.assertEqual(b.proc.returncode, 0, summary)

        pairs = self.reports()
        seen = self.reported(pairs)
        everything = {**first, **second, **last}
        self.assertEqual(len(everything), (3 * PARTITIONS + 1) * MESSAGES_PER_PARTITION * FLOWS_PER_MESSAGE)
        missing = set(everything) - set(seen)
        self.assertFalse(missing, f"flows never reported: {sorted(missing)[:5]}")
        # The killed instance's partitions were read again from the start (it never committed):
        # their flows were reported twice or more; at-least-once, not exactly-once.
        self.assertTrue(any(n >= 2 for n in seen.values()), "a kill without commit repeats nothing?")
        # Each value is exactly a line an instance wrote (the signed bytes), keyed by its /24.
        lines = a.lines() | b.lines()
        for key, value in pairs:
            self.assertIn(value, lines)
            daddr = json.loads(value)["flowdata"]["data"]["daddr"]
            self.assertEqual(key, daddr.rsplit(".", 1)[0] + ".0/24")

        def count(name):
            for line in summary.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == name:
                    return int(parts[1])
            return 0

        self.assertEqual(count("goflow_pb.rejected.bad_varint"), 1, summary)
        self.assertEqual(count("goflow_pb.rejected.truncated_records"), 1, summary)
        self.assertEqual(count("kafka.dropped.queue_full"), 0, summary)
        self.assertEqual(count("kafka.delivered"), count("kafka.produced"), summary)
        self.assertGreater(count("kafka.delivered"), 0, summary)

    def test_rebalance_eager(self):
        self.logged(self.rebalance_while_streaming, "range", "eager")

    def test_rebalance_cooperative(self):
        self.logged(self.rebalance_while_streaming, "cooperative-sticky", "cooperative")

    def logged(self, run, *args):
        try:
            run(*args)
        except AssertionError:
            for i in self.instances:
                print(f"--- {i.name} stderr:\n{i.log()}", file=sys.stderr)
            raise

    def rebalance_while_streaming(self, strategy, protocol):
        options = [f"partition.assignment.strategy={strategy}"]
        a = Instance(self.binary, self.folder, "a", self.bootstrap, options)
        self.instances.append(a)
        wait_for(lambda: a.held() == PARTITIONS, 30, "the first instance to hold every partition")
        flows = self.batch()
        b = Instance(self.binary, self.folder, "b", self.bootstrap, options)  # joins while a works
        self.instances.append(b)
        flows.update(self.batch())
        wait_for(lambda: a.held() > 0 and b.held() > 0 and a.held() + b.held() == PARTITIONS, 30,
                 "two instances to split the partitions")
        flows.update(self.batch())
        wait_for(lambda: len(b.lines()) > 0, 30, "the second instance to report")
        b.stop()  # leaves cleanly: its partitions go back to a at once
        self.assertEqual(b.proc.returncode, 0, b.log())
        flows.update(self.batch())
        wait_for(lambda: a.held() == PARTITIONS, 30, "the first instance to take every partition back")
        flows.update(self.batch())
        wait_for(lambda: set(flows) <= set(self.reported(self.reports())), 30, "every flow")
        a.stop()
        self.assertEqual(a.proc.returncode, 0, a.log())
        self.assertEqual(len(flows), 5 * PARTITIONS * MESSAGES_PER_PARTITION * FLOWS_PER_MESSAGE)
        for i in (a, b):
            rebalances = [line for line in i.log().splitlines() if "kafka: assigned" in line or "kafka: revoked" in line]
            self.assertTrue(rebalances, i.log())
            self.assertTrue(all(line.endswith(f"({protocol})") for line in rebalances), rebalances)
        # a gave partitions up (revoked) while it was consuming, and got them back.
        self.assertTrue(any("kafka: revoked" in line for line in a.log().splitlines()), a.log())


if __name__ == "__main__":
    unittest.main()

"""Live ingest with several workers: overflowd -u with --workers, fed by several exporters (sockets on
different 127.x addresses and ::1), counts every datagram it was sent: received = decoded + refused,
and sent = received + kernel drops; SIGUSR1 prints the counters and the process goes on; IPFIX
templates and the data after them reach the same worker (SO_REUSEPORT keeps an exporter on one
socket), so the data decodes.

Packets go only to loopback addresses (127.0.0.0/8 and ::1). Datagrams are sent in small rounds,
each round waiting (through SIGUSR1's counters) until overflowd has taken the one before, so the
kernel has no reason to drop any. No assertion is about time.
"""

import re
import signal
import socket
import struct
import unittest

import overflowd_testlib as lib

LISTENING = re.compile(r"listening for flow exports on UDP \[(.+)\]:(\d+)")


def flows(n, base=1):
    return [dict(saddr=f"198.51.100.{base + i}", daddr="203.0.113.80", sport=40000 + base + i, dport=80,
                 protocol=6, flags=0x02, pcount=10 + i, bcount=600 + i)
            for i in range(n)]


# Datagrams overflowd must refuse whole, each under one reason.
GARBAGE = [
    (b"", "packet.rejected.not_flow_export"),
    (b"hello, this is not a flow export", "packet.rejected.not_flow_export"),
    (struct.pack("!HH", 5, 0) + bytes(20), "netflow_v5.rejected.count_zero"),
    (lib.build_v5_datagram(flows(2))[:-48], "netflow_v5.rejected.truncated_records"),
    (lib.build_v5_datagram(flows(1)) + b"\x00" * 7, "netflow_v5.rejected.trailing_bytes"),
    (struct.pack("!HH", 5, 31) + bytes(20 + 48 * 31), "netflow_v5.rejected.count_too_large"),
]


# IPFIX (RFC 7011), built by hand: message header, a template set, data sets.
IPFIX_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8)]  # src, dst, ports, proto, packets, bytes
IPFIX_RECORD = struct.Struct("!4s4sHHBQQ")


def ipfix_message(sets, domain=1, sequence=0, export_time=1_700_000_000):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_time, sequence, domain) + body


def ipfix_template_set(template_id=256):
    record = struct.pack("!HH", template_id, len(IPFIX_FIELDS)) + b"".join(struct.pack("!HH", *f) for f in IPFIX_FIELDS)
    return struct.pack("!HH", 2, 4 + len(record)) + record


def ipfix_data_set(records, template_id=256):
    body = b"".join(IPFIX_RECORD.pack(socket.inet_aton(r["saddr"]), socket.inet_aton(r["daddr"]), r["sport"],
                                      r["dport"], r["protocol"], r["pcount"], r["bcount"]) for r in records)
    return struct.pack("!HH", template_id, 4 + len(body)) + body


class _Workers:
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.v6 = lib.ipv6_loopback_available()

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def start(self, bind, workers, extra=()):
        for _ in range(3):  # a port found free can be taken again before overflowd binds it
            port = lib.free_udp_port("::" if ":" in bind else bind)
            live = lib.LiveProcess(["-u", port, "--bind", bind, "--workers", workers, "-r", "1", "--seed", "1",
                                    "--key", self.dir / "live.key", *extra])
            line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=60)
            if line and "listening" in line:
                detail = live.wait_stderr(lambda l: "worker" in l, timeout=60)
                self.assertIsNotNone(detail, live.stderr_seen)
                self.assertIn(f"{workers} workers (SO_REUSEPORT)", detail)
                self.assertIn("receive buffer per socket: asked", detail)
                return live, int(LISTENING.search(line).group(2))
            live.kill()
        self.fail(f"overflowd did not start: {live.stderr_seen}")

    def counters(self, live):
        """SIGUSR1, then the counters block it prints on stderr (the process keeps running)."""
        live.proc.send_signal(signal.SIGUSR1)
        head = live.wait_stderr(lambda l: l == "overflowd: counters", timeout=60)
        self.assertIsNotNone(head, f"no counters after SIGUSR1: {live.stderr_seen}")
        counts = {}
        while True:
            line = live.wait_stderr(lambda l: True, timeout=60)
            self.assertIsNotNone(line, "the counters block ends with its end line")
            if line == "overflowd: end of counters":
                return counts
            self.assertTrue(line.startswith("  "), line)
            name, value = line.split()
            counts[name] = int(value)

    def wait_taken(self, live, sent):
        """Counters once overflowd has taken (or the kernel dropped) `sent` datagrams."""
        for _ in range(200):
            c = self.counters(live)
            if c["source.datagrams"] + c["source.kernel_drops"] >= sent:
                return c
        self.fail(f"overflowd took {c['source.datagrams']} of {sent} datagrams")


class SeveralExporters(_Workers, unittest.TestCase):
    def test_counters_add_up_over_ipv4_and_ipv6_exporters(self):
        bind = "::" if self.v6 else "127.0.0.1"
        senders = [("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.1"), ("127.0.0.3", "127.0.0.1"),
                   ("127.0.0.2", "127.0.0.1")]  # the last: another exporter (port) on the same address
        if self.v6:
            senders += [("::1", "::1"), ("::1", "::1")]
        live, port = self.start(bind, 2)
        sockets = []
        try:
            for source, _ in senders:
                s = socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((source, 0))
                sockets.append(s)
            sent = good = records = 0
            refusals = {}
            for round_ in range(4):
                for i, ((source, target), s) in enumerate(zip(senders, sockets)):
                    payload = lib.build_v5_datagram(flows(3 + i, base=10 * i + 1), sequence=round_)
                    s.sendto(payload, (target, port))
                    sent, good, records = sent + 1, good + 1, records + 3 + i
                    garbage, reason = GARBAGE[(round_ + i) % len(GARBAGE)]
                    s.sendto(garbage, (target, port))
                    sent += 1
                    refusals[reason] = refusals.get(reason, 0) + 1
                self.wait_taken(live, sent)
            reports = live.read_reports(records, timeout=30)
            code, rest, stderr = live.stop(signal.SIGTERM)
        finally:
            for s in sockets:
                s.close()
            live.kill()
        self.assertEqual(code, 0, stderr)
        s = lib.parse_summary(stderr)
        self.assertIsNotNone(s, stderr)
        # sent = received + dropped, received = decoded + refused.
        self.assertEqual(s["source.kernel_drops"], 0, "rounds were paced: nothing to drop")
        self.assertEqual(s["source.datagrams"] + s["source.kernel_drops"], sent)
        self.assertEqual(s["datagrams.decoded"] + s["datagrams.refused"], s["source.datagrams"])
        self.assertEqual(s["datagrams.decoded"], good)
        self.assertEqual(s["datagrams.refused"], sum(refusals.values()))
        self.assertEqual({k: v for k, v in s.items() if ".rejected." in k}, refusals)
        self.assertEqual(s["netflow_v5.datagrams"], good)
        self.assertEqual(s["netflow_v5.records"], records)
        self.assertEqual(s["flows"], records)
        self.assertEqual(s["reports"], records)
        self.assertEqual(s["worker.0.datagrams"] + s["worker.1.datagrams"], s["source.datagrams"])
        self.assertEqual(s["worker.0.flows"] + s["worker.1.flows"], records)
        # Every report verifies and names its exporter: each sender address, IPv4 and IPv6.
        all_reports = reports + rest
        self.assertEqual(len(all_reports), records)
        exporters = {lib.pynacl_verify(l)[0]["flowdata"]["data"]["exporter"] for l in all_reports}
        self.assertEqual(exporters, {source for source, _ in senders})


class Sigusr1(_Workers, unittest.TestCase):
    def test_sigusr1_prints_the_counters_and_the_process_keeps_running(self):
        live, port = self.start("127.0.0.1", 2)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(3):
                    s.sendto(lib.build_v5_datagram(flows(2, base=1 + 2 * i)), ("127.0.0.1", port))
                first = self.wait_taken(live, 3)
                self.assertIsNone(live.proc.poll(), "SIGUSR1 does not end the process")
                self.assertEqual(first["source.datagrams"], 3)
                self.assertEqual(first["datagrams.decoded"], 3)
                self.assertEqual(first["netflow_v5.records"], 6)
                self.assertEqual(first["reports"], 6)
                self.assertEqual(first["source.kernel_drops"], 0)
                # It still takes datagrams, and counts on.
                s.sendto(lib.build_v5_datagram(flows(4, base=50)), ("127.0.0.1", port))
                s.sendto(b"not a flow export", ("127.0.0.1", port))
                second = self.wait_taken(live, 5)
                self.assertIsNone(live.proc.poll())
                self.assertEqual(second["source.datagrams"], 5)
                self.assertEqual(second["datagrams.refused"], 1)
                self.assertEqual(second["netflow_v5.records"], 10)
            reports = live.read_reports(10, timeout=60)
            code, rest, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(len(reports) + len(rest), 10)
        s = lib.parse_summary(stderr)
        self.assertEqual(s["source.datagrams"], 5)
        self.assertEqual(s["reports"], 10)


class TemplatesStayWithTheirWorker(_Workers, unittest.TestCase):
    def test_ipfix_data_decodes_on_the_worker_that_got_its_template(self):
        workers = 4
        live, port = self.start("127.0.0.1", workers)
        exporters = [f"127.0.0.{1 + i % 3}" for i in range(6)]  # 6 exporters: 3 addresses, 2 ports each
        sockets = []
        expected = []
        try:
            taken = 0
            before = self.counters(live)
            for e, address in enumerate(exporters):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((address, 0))
                sockets.append(s)
                # Each exporter: its template (the same id and domain for all), then three data messages.
                s.sendto(ipfix_message([ipfix_template_set()], sequence=0), ("127.0.0.1", port))
                taken = self.wait_taken(live, taken + 1)["source.datagrams"]
                for m in range(3):
                    recs = [dict(saddr=f"198.51.100.{e * 10 + m * 2 + k + 1}", daddr=f"203.0.113.{e + 1}",
                                 sport=20000 + e, dport=443, protocol=6, pcount=5 + k, bcount=700 + k)
                            for k in range(2)]
                    expected += [dict(r, exporter=address) for r in recs]
                    s.sendto(ipfix_message([ipfix_data_set(recs)], sequence=2 * m), ("127.0.0.1", port))
                after = self.wait_taken(live, taken + 3)
                taken = after["source.datagrams"]
                # All four datagrams of this exporter went to one worker.
                grew = [after[f"worker.{w}.datagrams"] - before[f"worker.{w}.datagrams"] for w in range(workers)]
                self.assertEqual(sorted(grew), [0] * (workers - 1) + [4], f"exporter {e}: {grew}")
                before = after
            reports = live.read_reports(len(expected), timeout=30)
            code, rest, stderr = live.stop(signal.SIGTERM)
        finally:
            for s in sockets:
                s.close()
            live.kill()
        self.assertEqual(code, 0, stderr)
        s = lib.parse_summary(stderr)
        self.assertNotIn("ipfix.rejected.unknown_template", s, "data met the worker without its template")
        self.assertEqual(s["ipfix.datagrams"], 4 * len(exporters))
        self.assertEqual(s["ipfix.records"], len(expected))
        got = []
        for line in reports + rest:
            d = lib.pynacl_verify(line)[0]["flowdata"]["data"]
            got.append({k: d[k] for k in ("saddr", "daddr", "sport", "dport", "protocol", "pcount", "bcount", "exporter")})
        self.assertEqual(sorted(map(lib.canonical, got)), sorted(map(lib.canonical, expected)))


class BadOptions(_Workers, unittest.TestCase):
    def test_bad_workers_and_receive_buffer_are_one_error_line(self):
        for args, needle in ((["--workers", "0"], "--workers"), (["--workers", "many"], "--workers"),
                             (["--receive-buffer", "1K"], "--receive-buffer"), (["--receive-buffer", "x"], "--receive-buffer")):
            proc = lib.run(["-u", "0", "--bind", "127.0.0.1", "--key", self.dir / "k.key", *args], timeout=30)
            lines = lib.stderr_lines(proc)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(needle, lines[0])


if __name__ == "__main__":
    lib.main()

"""Live UDP: overflowd listens on loopback, receives hand-built NetFlow v5 datagrams and garbage,
writes each report as it is made (flushed per report), names the sender as the exporter, and on
SIGTERM exits 0 with a summary that counts every datagram and every rejection.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import json
import re
import signal
import socket
import struct
import unittest

import overflowd_testlib as lib

LISTENING = re.compile(r"listening for flow exports on UDP \[(.+)\]:(\d+)")


def flows(n, base=1, **extra):
    return [dict(saddr=f"198.51.100.{base + i}", daddr="203.0.113.80", sport=40000 + base + i, dport=80,
                 protocol=6, flags=0x02, pcount=10 + i, bcount=600 + i, input=3, output=4, tos=0x10,
                 src_as=64500, dst_as=64501, src_mask=24, dst_mask=24, nexthop="192.0.2.254", **extra)
            for i in range(n)]


GARBAGE = [
    b"",                                                        # an empty datagram
    b"hello, this is not a flow export",                        # not a flow export at all
    struct.pack("!HH", 5, 0) + bytes(20),                       # v5 with count 0
    lib.build_v5_datagram(flows(2))[:-48],                      # v5 cut after its first record
    lib.build_v5_datagram(flows(1)) + b"\x00" * 7,              # v5 with trailing bytes
    struct.pack("!HH", 5, 31) + bytes(20 + 48 * 31),            # v5 count over 30
    struct.pack("!HHIIII", 9, 1, 0, 0, 0, 0) + bytes(8),        # NetFlow v9 (not yet decoded)
    bytes(range(256)) * 4,                                      # noise
]


class _Live:
    """Starts overflowd on a loopback address; sends from `sender` (an address on this machine)."""

    def start(self, bind, extra=(), port=None):
        for _ in range(3):  # a port found free can be taken again before overflowd binds it
            p = port if port is not None else lib.free_udp_port(bind)
            live = lib.LiveProcess(["-u", p, "--bind", bind, "-r", "1", "--seed", "1",
                                    "--key", self.dir / "live.key", *extra])
            line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=60)
            if line and "listening" in line:
                m = LISTENING.search(line)
                self.assertIsNotNone(m, line)
                return live, int(m.group(2))
            live.kill()
            if port is not None:
                break
        self.fail(f"overflowd did not start listening on [{bind}]: {live.stderr_seen}")

    def exchange(self, bind, target, sender, expected_exporter):
        live, port = self.start(bind)
        try:
            family = socket.AF_INET6 if ":" in target else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.bind((sender, 0))
                sent = good = records = 0
                reports = []

                def send_good(payload):
                    nonlocal sent, good, records
                    s.sendto(payload, (target, port))
                    sent += 1
                    good += 1
                    n = struct.unpack_from("!H", payload, 2)[0]
                    records += n
                    # Read this datagram's reports while overflowd is still running: they must be
                    # written (and flushed) one by one, not at exit.
                    got = live.read_reports(n, timeout=60)
                    self.assertEqual(len(got), n, f"reports of a live datagram arrive before exit; stderr: "
                                                  f"{live.stderr_seen}")
                    expected = lib.decode_v5_payload(payload, expected_exporter)
                    data = [lib.pynacl_verify(l)[0]["flowdata"]["data"] for l in got]
                    self.assertEqual(sorted(map(lib.canonical, data)), sorted(map(lib.canonical, expected)))
                    reports.extend(got)

                send_good(lib.build_v5_datagram(flows(3), sequence=0))
                for g in GARBAGE:
                    s.sendto(g, (target, port))
                    sent += 1
                send_good(lib.build_v5_datagram(flows(30, base=100), sequence=3, sampling_interval=10,
                                                unix_secs=1_750_000_000, unix_nsecs=250_000_000))
            code, rest, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(rest, [], "no report after the last datagram")
        summary = lib.parse_summary(stderr)
        self.assertIsNotNone(summary, stderr)
        rejected = sum(v for k, v in summary.items() if ".rejected." in k)
        self.assertEqual(summary["source.datagrams"], sent)
        self.assertEqual(summary["netflow_v5.datagrams"], good)
        self.assertEqual(summary["netflow_v5.records"], records)
        self.assertEqual(rejected, len(GARBAGE), summary)
        self.assertEqual(summary["reports"], len(reports))
        # The v5 refusals, one of each kind sent (counter names are stable: they are metrics).
        v5 = {k: v for k, v in summary.items() if k.startswith("netflow_v5.rejected.")}
        self.assertEqual(v5, {"netflow_v5.rejected.count_zero": 1, "netflow_v5.rejected.truncated_records": 1,
                              "netflow_v5.rejected.trailing_bytes": 1, "netflow_v5.rejected.count_too_large": 1},
                         summary)
        return reports


class LiveUdp(_Live, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_ipv4_loopback(self):
        self.exchange("127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1")

    def test_exporter_is_the_senders_address(self):
        # 127.0.0.2 is on the loopback interface too: the report names it, not the listener.
        self.exchange("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2")

    def test_ipv6_loopback(self):
        if not lib.ipv6_loopback_available():
            self.skipTest("IPv6 loopback (::1) is not available on this machine")
        self.exchange("::1", "::1", "::1", "::1")

    def test_dual_stack_default_bind_takes_ipv4(self):
        if not lib.ipv6_loopback_available():
            self.skipTest("IPv6 is not available, so the dual-stack socket on :: cannot be made")
        # The default --bind is "::"; name it anyway, since start() passes --bind.
        self.exchange("::", "127.0.0.1", "127.0.0.1", "127.0.0.1")

    def test_default_bind_is_dual_stack(self):
        if not lib.ipv6_loopback_available():
            self.skipTest("IPv6 is not available, so the dual-stack socket on :: cannot be made")
        port = lib.free_udp_port("::")
        live = lib.LiveProcess(["-u", port, "-r", "1", "--key", self.dir / "live.key"])  # no --bind
        try:
            line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=60)
            self.assertIsNotNone(line, live.stderr_seen)
            self.assertIn("[::]", line)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(lib.build_v5_datagram(flows(2)), ("127.0.0.1", port))
            got = live.read_reports(2, timeout=60)
            code, _, stderr = live.stop()
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(len(got), 2)
        self.assertEqual({lib.pynacl_verify(l)[0]["flowdata"]["data"]["exporter"] for l in got}, {"127.0.0.1"})

    def test_port_zero_listens_on_the_port_it_announces(self):
        live, port = self.start("127.0.0.1", port=0)
        try:
            self.assertNotEqual(port, 0)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(lib.build_v5_datagram(flows(1)), ("127.0.0.1", port))
            got = live.read_reports(1, timeout=60)
            code, _, stderr = live.stop(signal.SIGINT)
        finally:
            live.kill()
        self.assertEqual(len(got), 1)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(lib.parse_summary(stderr)["reports"], 1)

    def test_port_in_use_is_a_usage_error(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            port = holder.getsockname()[1]
            proc = lib.run(["-u", port, "--bind", "127.0.0.1", "--key", self.dir / "live.key"], timeout=30)
        lines = lib.stderr_lines(proc)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("overflowd: error: ") and str(port) in lines[0], lines[0])


if __name__ == "__main__":
    lib.main()

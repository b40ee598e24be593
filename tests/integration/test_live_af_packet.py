"""Live UDP with --udp-engine af_packet (an AF_PACKET TPACKET_V3 ring per worker): the same
NetFlow v5, v9 and IPFIX datagrams and garbage, from the same exporter sockets, sent over IPv4 and
IPv6 loopback to overflowd with the recvmmsg engine and then with af_packet, give the same
reports and the same counters (the workers' split aside). v9 and IPFIX data decode on the worker
that got their template (the fanout hashes an exporter to one worker). IPv4 fragments are
reassembled by the fanout (PACKET_FANOUT_FLAG_DEFRAG) and decoded; an IPv6 fragment is refused
and counted (source.skipped.ip_fragment). The fragments are built by scapy and sent through a raw
socket to loopback.

Skipped, saying why, when this process cannot open an AF_PACKET socket (CAP_NET_RAW). Packets go
only to loopback addresses (127.0.0.1 and ::1); a few dozen datagrams in all."""

import re
import signal
import socket
import struct
import time
import unittest

import overflowd_testlib as lib

LISTENING = re.compile(r"listening for flow exports on UDP \[(.+)\]:(\d+)")


def flows(n, base=1):
    return [dict(saddr=f"198.51.100.{base + i}", daddr="203.0.113.80", sport=40000 + base + i, dport=80,
                 protocol=6, flags=0x02, pcount=10 + i, bcount=600 + i, input=3, output=4, tos=0x10,
                 src_as=64500, dst_as=64501, src_mask=24, dst_mask=24, nexthop="192.0.2.254")
            for i in range(n)]


# NetFlow v9 (RFC 3954) and IPFIX (RFC 7011), built by hand: the same fields in both.
FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8)]  # src, dst, ports, proto, packets, bytes
RECORD = struct.Struct("!4s4sHHBQQ")


def records(rs):
    return b"".join(RECORD.pack(socket.inet_aton(r["saddr"]), socket.inet_aton(r["daddr"]), r["sport"], r["dport"],
                                r["protocol"], r["pcount"], r["bcount"]) for r in rs)


def template_record(template_id=256):
    return struct.pack("!HH", template_id, len(FIELDS)) + b"".join(struct.pack("!HH", *f) for f in FIELDS)


def padded(set_id, body):
    body += b"\x00" * (-(4 + len(body)) % 4)
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def v9(sets, count, sequence):
    return struct.pack("!HHIIII", 9, count, 3_600_000, 1_700_000_000, sequence, 7) + b"".join(sets)


def ipfix(sets, sequence):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, sequence, 1) + body


def datagrams():
    """(payload, flows in it) in sending order: templates before their data."""
    out = [(lib.build_v5_datagram(flows(3), sequence=0), 3),
           (lib.build_v5_datagram(flows(30, base=100), sequence=3, sampling_interval=10), 30),
           (v9([padded(0, template_record())], 1, 0), 0),
           (ipfix([struct.pack("!HH", 2, 4 + len(template_record())) + template_record()], 0), 0)]
    for m in range(3):
        rs = flows(5, base=10 + 10 * m)
        out.append((v9([padded(256, records(rs))], len(rs), 1 + m), len(rs)))
        out.append((ipfix([struct.pack("!HH", 256, 4 + len(records(rs))) + records(rs)], 5 * m), len(rs)))
    out += [(b"", 0), (b"hello, this is not a flow export", 0), (struct.pack("!HH", 5, 0) + bytes(20), 0),
            (lib.build_v5_datagram(flows(1)) + b"\x00" * 7, 0)]
    return out


def af_packet_unavailable():
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0):
            return None
    except (OSError, AttributeError) as e:
        return f"this process cannot open an AF_PACKET socket ({e}); it needs CAP_NET_RAW"


class AfPacket(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        why = af_packet_unavailable()
        if why:
            raise unittest.SkipTest(why)
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def start(self, bind, engine, workers=2):
        live = lib.LiveProcess(["-u", 0, "--bind", bind, "--workers", workers, "--udp-engine", engine, "-r", "1",
                                "--seed", "1", "--key", self.dir / "live.key"])
        line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=30)
        m = LISTENING.search(line or "")
        if not m:
            live.kill()
            self.fail(f"overflowd ({engine}) did not start on [{bind}]: {live.stderr_seen}")
        return live, int(m.group(2))

    def run_engine(self, engine, bind, senders, payloads):
        live, port = self.start(bind, engine)
        try:
            expected = 0
            for s in senders:
                for payload, n in payloads:
                    s.sendto(payload, (bind, port))
                    expected += n
            got = live.read_reports(expected, timeout=60)
            self.assertEqual(len(got), expected, f"{engine}: reports; stderr: {live.stderr_seen}")
            code, rest, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(rest, [])
        data = sorted(lib.canonical(lib.pynacl_verify(l)[0]["flowdata"]["data"]) for l in got)
        summary = lib.parse_summary(stderr)
        self.assertIsNotNone(summary, stderr)
        return data, summary

    def compare(self, bind, family, sources):
        senders = []
        try:
            for a in sources:  # two exporters: one socket each, the same for both engines
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.bind((a, 0))
                senders.append(s)
            payloads = datagrams()
            ref, ref_summary = self.run_engine("recvmmsg", bind, senders, payloads)
            got, summary = self.run_engine("af_packet", bind, senders, payloads)
        finally:
            for s in senders:
                s.close()
        self.assertEqual(got, ref, "af_packet reports differ from recvmmsg's")
        strip = lambda d: {k: v for k, v in d.items() if not k.startswith("worker.")}
        self.assertEqual(strip(summary), strip(ref_summary))
        self.assertEqual(summary["source.datagrams"], len(payloads) * len(senders))
        self.assertNotIn("ipfix.rejected.unknown_template", summary, "data met a worker without its template")
        self.assertNotIn("netflow_v9.rejected.unknown_template", summary, "data met a worker without its template")
        self.assertEqual(summary["source.kernel_drops"], 0)

    def test_ipv4_same_reports_as_recvmmsg(self):
        self.compare("127.0.0.1", socket.AF_INET, ["127.0.0.1", "127.0.0.2"])

    def test_ipv6_same_reports_as_recvmmsg(self):
        if not lib.ipv6_loopback_available():
            self.skipTest("IPv6 loopback (::1) is not available on this machine")
        self.compare("::1", socket.AF_INET6, ["::1", "::1"])

    def test_fragments(self):
        """IPv4 fragments arrive reassembled; an IPv6 fragment is refused by name."""
        from scapy.all import IP, IPv6, UDP, IPv6ExtHdrFragment, Raw, fragment, fragment6  # noqa: F401

        payload = lib.build_v5_datagram(flows(30, base=50))  # 24 + 30 * 48 bytes: three fragments of 600
        live, port = self.start("127.0.0.1", "af_packet")
        detail = live.wait_stderr(lambda l: "worker" in l, timeout=30) or ""
        if "not reassembled" in detail:  # a kernel before 6.10 (no PACKET_FANOUT_FLAG_IGNORE_OUTGOING)
            live.kill()
            self.skipTest(detail)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
                for frag in fragment(IP(src="127.0.0.1", dst="127.0.0.1", id=4242) / UDP(sport=40001, dport=port) /
                                     Raw(payload), fragsize=600):
                    raw.sendto(bytes(frag), ("127.0.0.1", 0))
            got = live.read_reports(30, timeout=60)
            self.assertEqual(len(got), 30, f"the reassembled datagram's flows; stderr: {live.stderr_seen}")
            self.assertEqual(sorted(lib.canonical(lib.pynacl_verify(l)[0]["flowdata"]["data"]) for l in got),
                             sorted(map(lib.canonical, lib.decode_v5_payload(payload, "127.0.0.1"))))
            code, _, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        self.assertEqual(lib.parse_summary(stderr)["source.datagrams"], 1)

        if not lib.ipv6_loopback_available():
            return
        live, port = self.start("::1", "af_packet")
        try:
            frags = fragment6(IPv6(src="::1", dst="::1") / IPv6ExtHdrFragment(id=77) / UDP(sport=40002, dport=port) /
                              Raw(payload), 700)
            with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
                for frag in frags:
                    raw.sendto(bytes(frag), ("::1", 0))
            # Then a whole datagram, so that its report says the fragments went by before it.
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.sendto(lib.build_v5_datagram(flows(1)), ("::1", port))
            got = live.read_reports(1, timeout=60)
            self.assertEqual(len(got), 1, live.stderr_seen)
            code, _, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        summary = lib.parse_summary(stderr)
        self.assertEqual(summary.get("source.skipped.ip_fragment"), 1, stderr)
        self.assertEqual(summary["source.datagrams"], 1)

    def test_ring_drops_are_counted(self):
        """While overflowd is stopped (SIGSTOP), more datagrams than its ring holds: the kernel drops
        the rest and counts them (tp_drops), so every datagram sent was either read or counted."""
        live = lib.LiveProcess(["-u", 0, "--bind", "127.0.0.1", "--workers", 1, "--udp-engine", "af_packet",
                                "--receive-buffer", "64K", "-r", "1", "--key", self.dir / "live.key"])
        try:
            line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=30)
            m = LISTENING.search(line or "")
            self.assertIsNotNone(m, live.stderr_seen)
            port = int(m.group(2))
            live.wait_stderr(lambda l: "worker" in l, timeout=30)
            # The smallest ring is 4 blocks of 256 KiB: 3,000 datagrams of 1,400 bytes are 4 MiB.
            junk = b"\xee" * 1400  # not a flow export: refused, no report
            sent = 0
            live.proc.send_signal(signal.SIGSTOP)
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    for _ in range(3000):
                        s.sendto(junk, ("127.0.0.1", port))
                        sent += 1
            finally:
                live.proc.send_signal(signal.SIGCONT)
            # Then wait (SIGUSR1 prints the counters; the worker reads the drop count as it answers)
            # until every datagram sent was read or counted as dropped.
            counted = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                live.proc.send_signal(signal.SIGUSR1)
                block = []
                live.wait_stderr(lambda l: block.append(l) or "end of counters" in l, timeout=15)
                c = {l.split()[0]: int(l.split()[1]) for l in block if len(l.split()) == 2 and l.split()[1].isdigit()}
                counted = c.get("source.packets", 0) + c.get("source.kernel_drops", 0)
                if counted >= sent:
                    break
                time.sleep(0.2)
            self.assertEqual(counted, sent, live.stderr_seen[-30:])
            code, _, stderr = live.stop(signal.SIGTERM)
        finally:
            live.kill()
        self.assertEqual(code, 0, stderr)
        summary = lib.parse_summary(stderr)
        self.assertGreater(summary["source.kernel_drops"], 0, stderr)
        self.assertEqual(summary["source.packets"] + summary["source.kernel_drops"], sent, stderr)


if __name__ == "__main__":
    lib.main()

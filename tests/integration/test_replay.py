"""overflowd replay: refuses any destination that is not loopback (exit 2, one line, before any
socket is opened), and sends exactly --count datagrams, the capture's UDP payloads byte for byte,
to a socket this test binds on loopback; its printout counts them.

The reference for the payloads is dpkt's reading of the capture (not overflowd's). Nothing is sent
anywhere but 127.0.0.1 and ::1: the refusal tests use a capture with no packets at all, so that
even a replayer that failed to refuse would have nothing to send, and, when strace is installed,
they check that no socket was opened.
"""

import os
import shutil
import socket
import struct
import subprocess
import unittest

import overflowd_testlib as lib


def pcap_payloads(path):
    """The UDP payloads of an Ethernet/IPv4 capture, in order (dpkt)."""
    import dpkt

    out = []
    with open(path, "rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP):
                out.append(bytes(ip.data.data))
    return out


def v5_count(payload):
    return struct.unpack_from("!H", payload, 2)[0]


def empty_pcap(path):
    """A classic pcap header (Ethernet) and no packets."""
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    return path


def parse_sent(stdout):
    lines = stdout.splitlines()
    assert lines and lines[0].startswith("overflowd replay: sent to "), stdout
    return {l.split()[0]: float(l.split()[1]) for l in lines[1:] if l.startswith("  ")}


class Receiver:
    """A UDP socket on loopback that takes what the replayer sends."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def drain(self):
        """Every datagram queued (loopback delivers within the sender's call, so after the replayer
        has exited everything it sent is here)."""
        self.sock.setblocking(False)
        out = []
        while True:
            try:
                out.append(self.sock.recv(65536))
            except BlockingIOError:
                return out

    def close(self):
        self.sock.close()


class Replay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.capture = lib.make_synth(cls.dir, "--background-flows", "400", "--flood-flows", "200")
        cls.payloads = pcap_payloads(cls.capture)
        assert len(cls.payloads) > 10, len(cls.payloads)
        cls.empty = empty_pcap(cls.dir / "empty.pcap")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def replay(self, *args):
        return lib.run(["replay", *args], timeout=60)

    def test_a_destination_that_is_not_loopback_is_refused(self):
        for to in ("192.0.2.1:9", "10.1.2.3:2055", "[2001:db8::1]:9", "[::ffff:192.0.2.1]:9", "0.0.0.0:9"):
            proc = self.replay("-f", self.empty, "--to", to, "--count", "1")
            lines = lib.stderr_lines(proc)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("overflowd: error: "), lines[0])
            self.assertIn("not a loopback address", lines[0])
            self.assertEqual(proc.stdout, "")

    def test_the_refusal_comes_before_any_socket_is_opened(self):
        strace = shutil.which("strace")
        if not strace:
            self.skipTest("strace is not installed")
        probe = subprocess.run([strace, "-f", "-e", "trace=socket", "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            self.skipTest(f"strace cannot trace here: {probe.stderr.strip()[:200]}")
        cmd = [strace, "-f", "-qq", "-e", "trace=socket,sendto,sendmmsg,sendmsg", str(lib.require_binary()),
               "replay", "-f", str(self.empty), "--to", "192.0.2.1:9"]
        env = dict(os.environ)  # LeakSanitizer (sanitizer builds) cannot run under ptrace
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        traced = [l for l in proc.stderr.splitlines() if not l.startswith("overflowd: ")]
        self.assertEqual([l for l in traced if "socket(" in l or "send" in l], [], proc.stderr)

    def test_sends_exactly_count_datagrams_byte_for_byte(self):
        rx = Receiver("127.0.0.1")
        try:
            proc = self.replay("-f", self.capture, "--to", f"127.0.0.1:{rx.port}", "--count", "7")
            got = rx.drain()
        finally:
            rx.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(got, self.payloads[:7])
        sent = parse_sent(proc.stdout)
        self.assertEqual(sent["datagrams"], 7)
        self.assertEqual(sent["flows"], sum(v5_count(p) for p in self.payloads[:7]))
        self.assertEqual(sent["bytes"], sum(len(p) for p in self.payloads[:7]))
        self.assertEqual(sent["send_errors"], 0)
        for key in ("elapsed_s", "datagrams_per_s", "flows_per_s"):
            self.assertIn(key, sent)

    def test_loop_wraps_the_capture_at_a_paced_rate_over_ipv6(self):
        host = "::1" if lib.ipv6_loopback_available() else "127.0.0.1"
        target = f"[{host}]" if ":" in host else host
        count = 2 * len(self.payloads) + 3
        rx = Receiver(host)
        try:
            proc = self.replay("-f", self.capture, "--to", f"{target}:{rx.port}", "--loop", "--count", count,
                               "--rate", "20000")
            got = rx.drain()
        finally:
            rx.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        want = (self.payloads * 3)[:count]
        self.assertEqual(got, want)
        self.assertEqual(parse_sent(proc.stdout)["datagrams"], count)

    def test_without_loop_the_capture_is_sent_once(self):
        rx = Receiver("127.0.0.1")
        try:
            proc = self.replay("-f", self.capture, "--to", f"127.0.0.1:{rx.port}", "--count", 10 * len(self.payloads))
            got = rx.drain()
        finally:
            rx.close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(got, self.payloads)

    def test_an_unbounded_loop_and_bad_values_are_usage_errors(self):
        for args, needle in ((["--loop"], "--loop needs --count or --duration"),
                             (["--count", "0"], "--count"),
                             (["--rate", "-5"], "--rate"),
                             (["--duration", "abc"], "--duration"),
                             (["--exporters", "0"], "--exporters")):
            proc = self.replay("-f", self.capture, "--to", "127.0.0.1:9", *args)
            lines = lib.stderr_lines(proc)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(needle, lines[0])
        proc = self.replay("-f", self.empty, "--to", "127.0.0.1:9")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no UDP datagrams", proc.stderr)


if __name__ == "__main__":
    lib.main()

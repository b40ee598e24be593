"""Issue 17, start-up: libpcap and libsystemd are loaded at run time, only when used. A classic
pcap file is read without libpcap (decode/pcap_file); with OVERFLOWD_LIBPCAP naming a library that
does not exist, reading a pcapng file fails with a clear error (exit 2) while --help, keygen, synth
and a classic pcap file's run still work; a sender reading UDP has not mapped libpcap
(read from the kernel's /proc/PID/maps, not from overflowd) and, with NOTIFY_SOCKET set, has mapped
libsystemd and told the socket READY=1.

librdkafka, c-ares, SQLite, libpq and OpenSSL are loaded on their first call (src/lazy/): `--help`
and a classic capture file's run load none of them (nor libpcap) (read from the dynamic loader's own record, LD_DEBUG=files,
not from overflowd), and each missing one is a clear error naming its Debian package. That each
still works when used is the business of the tests of its feature (test_kafka, test_discovery,
test_delivery_http_receiver, test_receive_*, test_receive_postgres)."""

import os
import re
import socket
import unittest

import overflowd_testlib as lib

MISSING = "/nonexistent/libpcap-not-installed.so.0"


def mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {os.path.basename(line.split()[-1]) for line in f if "/" in line}


LAZY = ("librdkafka.so", "libcares.so", "libsqlite3.so", "libpq.so", "libssl.so", "libcrypto.so", "libcurl.so",
        "libpcap.so", "libsystemd.so")


def loaded_by(args, d):
    """The objects the dynamic loader mapped for one run of overflowd (its LD_DEBUG=files record)."""
    out = d / "ld"
    env = dict(os.environ, LD_DEBUG="files", LD_DEBUG_OUTPUT=str(out))
    proc = lib.run(args, env=env)
    names = set()
    for f in d.glob("ld.*"):
        names |= {os.path.basename(m) for m in re.findall(r"file=(\S+) +\[", f.read_text())}
        f.unlink()
    return proc, names


class LazyLibraries(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_missing_libpcap_is_a_clear_error(self):
        env = dict(os.environ, OVERFLOWD_LIBPCAP=MISSING)
        with lib.temp_dir() as d:
            self.assertEqual(lib.run(["--help"], env=env).returncode, 0)
            self.assertEqual(lib.run(["keygen", d / "k"], env=env).returncode, 0)
            classic = d / "synth.pcap"
            proc = lib.run(["synth", "--out", classic, "--loopback"], env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # A classic pcap file needs no libpcap.
            proc = lib.run(["-f", classic, "--key", d / "k", "-r", "1"], env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(lib.report_lines(proc.stdout))
            import dpkt

            capture = d / "synth.pcapng"
            with open(classic, "rb") as src, open(capture, "wb") as dst:
                w = dpkt.pcapng.Writer(dst, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
                for ts, frame in dpkt.pcap.Reader(src):
                    w.writepkt(frame, ts=ts)
            proc = lib.run(["-f", capture, "--key", d / "k"], env=env)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"overflowd: error: {capture}: reading a capture needs libpcap (Debian package libpcap0.8): {MISSING}",
                          proc.stderr)
            self.assertEqual(proc.stdout, "")
            # The same capture, with the installed libpcap.
            proc = lib.run(["-f", capture, "--key", d / "k", "-r", "1"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(lib.report_lines(proc.stdout))

    def test_help_and_a_file_run_load_no_lazy_library(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d, "--background-flows", "500", "--flood-flows", "500")
            self.assertEqual(lib.run(["keygen", d / "k"]).returncode, 0)
            proc, names = loaded_by(["--help"], d)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("libsodium.so.23", names)  # the record lists libraries
            self.assertFalse([n for n in names if n.startswith(LAZY)], names)
            proc, names = loaded_by(["-f", capture, "--key", d / "k", "-r", "1"], d)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(lib.report_lines(proc.stdout))
            self.assertFalse([n for n in names if n.startswith(LAZY)], names)

    def test_missing_lazy_libraries_are_clear_errors(self):
        with lib.temp_dir() as d:
            cases = [
                ("OVERFLOWD_LIBRDKAFKA", ["--kafka-flows", "127.0.0.1:9", "--kafka-topic", "t", "--kafka-group", "g",
                                          "--key", d / "k"],
                 "Kafka (--kafka-flows, --deliver kafka) needs librdkafka.so.1 (Debian package librdkafka1): "),
                ("OVERFLOWD_LIBSQLITE3", ["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0"],
                 "the receiver's SQLite store needs libsqlite3.so.0 (Debian package libsqlite3-0): "),
                ("OVERFLOWD_LIBPQ", ["receive", "--db", "postgresql:///nodb?host=/nonexistent", "--udp-port", "0",
                                     "--http-port", "0"],
                 "the PostgreSQL store (--db postgresql://) needs libpq.so.5 (Debian package libpq5): "),
                ("OVERFLOWD_LIBSSL", ["receive", "--db", d / "s.db", "--udp-port", "0", "--http-port", "0",
                                      "--tls-cert", d / "absent.pem", "--tls-key", d / "absent.key"],
                 "the receiver's HTTPS needs libssl.so.3 (Debian package libssl3): "),
            ]
            for var, args, message in cases:
                with self.subTest(var):
                    missing = f"/nonexistent/{var.lower()}.so"
                    proc = lib.run(args, env=dict(os.environ, **{var: missing}), timeout=60)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertIn(message + missing, proc.stderr)

    def test_udp_sender_maps_no_libpcap_and_libsystemd_only_for_notify(self):
        with lib.temp_dir() as d:
            notify_path = str(d / "notify.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(notify_path)
            sock.settimeout(30)
            args = ["-u", "0", "--bind", "127.0.0.1", "--workers", "1", "--key", d / "k"]
            plain = lib.LiveProcess(args)
            os.environ["NOTIFY_SOCKET"] = notify_path
            try:
                notified = lib.LiveProcess(args)
            finally:
                del os.environ["NOTIFY_SOCKET"]
            try:
                self.assertIn("READY=1", sock.recv(4096).decode().split("\n"))
                line = plain.wait_stderr(lambda l: "listening for flow exports on UDP" in l, timeout=30)
                self.assertIsNotNone(line, plain.stderr_seen)
                libs_plain, libs_notified = mapped(plain.proc.pid), mapped(notified.proc.pid)
                self.assertFalse([n for n in libs_plain | libs_notified if n.startswith("libpcap.so")])
                self.assertFalse([n for n in libs_plain if n.startswith("libsystemd.so")], libs_plain)
                self.assertTrue([n for n in libs_notified if n.startswith("libsystemd.so")], libs_notified)
                self.assertTrue([n for n in libs_plain if n.startswith("libsodium.so")])  # the check sees libraries
            finally:
                plain.stop()
                notified.stop()
                sock.close()


if __name__ == "__main__":
    lib.main()

"""Issue 17, start-up: libpcap and libsystemd are loaded at run time, only when used. With
OVERFLOWD_LIBPCAP naming a library that does not exist, a capture run fails with a clear error
(exit 2) while --help, keygen and synth still work; a sender reading UDP has not mapped libpcap
(read from the kernel's /proc/PID/maps, not from overflowd) and, with NOTIFY_SOCKET set, has mapped
libsystemd and told the socket READY=1."""

import os
import socket
import unittest

import overflowd_testlib as lib

MISSING = "/nonexistent/libpcap-not-installed.so.0"


def mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {os.path.basename(line.split()[-1]) for line in f if "/" in line}


class LazyLibraries(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_missing_libpcap_is_a_clear_error(self):
        env = dict(os.environ, OVERFLOWD_LIBPCAP=MISSING)
        with lib.temp_dir() as d:
            self.assertEqual(lib.run(["--help"], env=env).returncode, 0)
            self.assertEqual(lib.run(["keygen", d / "k"], env=env).returncode, 0)
            capture = d / "synth.pcap"
            proc = lib.run(["synth", "--out", capture, "--loopback"], env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = lib.run(["-f", capture, "--key", d / "k"], env=env)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"overflowd: error: {capture}: reading a capture needs libpcap (Debian package libpcap0.8): {MISSING}",
                          proc.stderr)
            self.assertEqual(proc.stdout, "")
            # The same capture, with the installed libpcap.
            proc = lib.run(["-f", capture, "--key", d / "k", "-r", "1"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(lib.report_lines(proc.stdout))

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

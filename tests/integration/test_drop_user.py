"""--user (issue 14 item 2): started as root outside systemd, the sender and the receiver switch to
an unprivileged user once their sockets are bound (the kernel's view: /proc/PID/status Uid and Gid,
all four ids), keep working, and refuse a user that does not exist. Skipped when the test does not
run as root or the container does not allow setuid (the skip says which)."""

import os
import pwd
import socket
import unittest
import urllib.request

import overflowd_testlib as lib


def setuid_allowed():
    if os.geteuid() != 0:
        return False, "not running as root"
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os._exit(0)
        except OSError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.WEXITSTATUS(status) != 0:
        return False, "the container does not allow setuid/setgid"
    return True, ""


ALLOWED, WHY = setuid_allowed()


def ids(pid):
    with open(f"/proc/{pid}/status") as f:
        status = f.read().splitlines()
    get = lambda k: [int(x) for x in next(l for l in status if l.startswith(k + ":")).split()[1:]]
    return get("Uid"), get("Gid"), get("Groups") if any(l.startswith("Groups:") for l in status) else []


@unittest.skipUnless(ALLOWED, WHY)
class DropUser(unittest.TestCase):
    def setUp(self):
        self.nobody = pwd.getpwnam("nobody")

    def test_receiver_drops_after_binding(self):
        with lib.temp_dir() as d:
            # Reports to store once root is gone: the database was opened as root, written as nobody.
            capture = lib.make_synth(d, "--loopback", "--background-flows", "20", "--flood-flows", "5")
            made = lib.run(["-f", capture, "-r", "1", "--key", d / "k"])
            reports = lib.report_lines(made.stdout)[:5]
            self.assertEqual(len(reports), 5, made.stderr)
            live = lib.LiveProcess(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0",
                                    "--http-bind", "127.0.0.1", "--user", "nobody"])
            try:
                line = live.wait_stderr(lambda l: "listening: http" in l, timeout=30)
                self.assertIsNotNone(line, live.stderr_seen)
                self.assertIn("overflowd receive: running as user nobody", live.stderr_seen)
                uid, gid, groups = ids(live.proc.pid)
                self.assertEqual(uid, [self.nobody.pw_uid] * 4)
                self.assertEqual(gid, [self.nobody.pw_gid] * 4)
                self.assertNotIn(0, groups)
                port = int(line.rsplit(":", 1)[1])
                udp = int(next(l for l in live.stderr_seen if "listening: udp" in l).rsplit(":", 1)[1])
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    for r in reports:
                        s.sendto(r.encode(), ("127.0.0.1", udp))
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/overflowd", timeout=10) as r:
                    self.assertEqual(r.status, 200)
            finally:
                code, _, stderr = live.stop()
            self.assertEqual(code, 0, stderr)
            self.assertIn("overflowd receive: summary", stderr)
            self.assertRegex(stderr, r"\n  stored 5\n")

    def test_sender_drops_after_binding(self):
        live = lib.LiveProcess(["-u", "0", "--bind", "127.0.0.1", "--workers", "1", "--user", "nobody"])
        try:
            self.assertIsNotNone(live.wait_stderr(lambda l: "running as user nobody" in l, timeout=30), live.stderr_seen)
            uid, gid, _ = ids(live.proc.pid)
            self.assertEqual(uid, [self.nobody.pw_uid] * 4)
            self.assertEqual(gid, [self.nobody.pw_gid] * 4)
        finally:
            code, _, stderr = live.stop()
        self.assertEqual(code, 0, stderr)

    def test_unknown_user_refused(self):
        proc = lib.run(["-u", "0", "--bind", "127.0.0.1", "--user", "no-such-user-overflowd"], timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--user: no user 'no-such-user-overflowd'", proc.stderr)


if __name__ == "__main__":
    lib.main()

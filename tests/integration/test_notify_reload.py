"""systemd readiness and reload (issue 14 item 2): with NOTIFY_SOCKET set, the sender and the
receiver send READY=1 (sd_notify) once their sockets are bound, RELOADING=1 and READY=1 around a
SIGHUP, and STOPPING=1; a Python unix datagram socket stands in for systemd. SIGHUP makes the sender
re-read its --config file: a new contact is in the next reports; a section that cannot change live
is named in the log; a file that does not load keeps the running settings and the log says why.
The receiver takes SIGHUP without ending (without --config it has nothing to re-read; what it re-reads
is in test_reload_live.py)."""

import json
import os
import re
import signal
import socket
import time
import unittest

import overflowd_testlib as lib


class NotifySocket:
    def __init__(self, folder):
        self.path = str(folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []

    def wait(self, word, timeout=30):
        """The next message holding the line `word` (e.g. READY=1); fails at the time-out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {word} from overflowd; got {self.seen}")
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.seen.append(msg)
            if word in msg.split("\n"):
                return msg

    def close(self):
        self.sock.close()


def start(args, notify):
    os.environ["NOTIFY_SOCKET"] = notify.path
    try:
        return lib.LiveProcess(args)
    finally:
        del os.environ["NOTIFY_SOCKET"]


def config_text(email, rate="1"):
    return f'[contact]\nemail = "{email}"\n\n[sampler]\nrate = {rate}\n\n[source]\nudp_port = 0\nbind = "127.0.0.1"\nworkers = 1\n'


class NotifyAndReload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_sender(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d, "--loopback", "--background-flows", "50", "--flood-flows", "10")
            conf = d / "overflowd.toml"
            conf.write_text(config_text("first@example.org"))
            notify = NotifySocket(d)
            sender = start(["--config", conf, "--key", d / "k"], notify)
            try:
                msg = notify.wait("READY=1")
                self.assertIn("STATUS=", msg)
                # Ready means bound: the port is in the log before READY=1 went out.
                line = sender.wait_stderr(lambda l: "listening for flow exports on UDP" in l, timeout=30)
                self.assertIsNotNone(line, sender.stderr_seen)
                port = int(line.rsplit(":", 1)[1])

                done = {"flows": 0, "reports": 0}

                def replay_and_read_contacts():
                    proc = lib.run(["replay", "-f", capture, "--to", f"127.0.0.1:{port}", "--count", "1"])
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    done["flows"] += int(re.search(r"flows\s+(\d+)", proc.stdout).group(1))
                    # Every report of this replay, counted (not "what comes within 0.5 s", which a
                    # loaded machine stretches into the next replay's read).
                    c = sender.wait_counters(lambda c: c.get("flows", 0) >= done["flows"])
                    lines = sender.read_reports(c["reports"] - done["reports"], timeout=60)
                    self.assertEqual(len(lines), c["reports"] - done["reports"])
                    self.assertTrue(lines, "no report")
                    done["reports"] = c["reports"]
                    return {json.loads(l)["contact"].get("email") for l in lines}

                self.assertEqual(replay_and_read_contacts(), {"first@example.org"})

                conf.write_text(config_text("second@example.org"))
                sender.proc.send_signal(signal.SIGHUP)
                notify.wait("RELOADING=1")
                notify.wait("READY=1")
                self.assertIsNotNone(sender.wait_stderr(lambda l: "reload: contact is now email 'second@example.org'" in l))
                self.assertEqual(replay_and_read_contacts(), {"second@example.org"})

                # What cannot change live is said.
                conf.write_text(config_text("second@example.org", rate="0.5"))
                sender.proc.send_signal(signal.SIGHUP)
                notify.wait("READY=1")
                self.assertIsNotNone(sender.wait_stderr(lambda l: "reload: [sampler] rate changed but cannot change while running" in l))

                # A bad file: the old settings stay, and the log says why.
                conf.write_text('[contact]\nemail = "third@example.org"\nbogus = 1\n')
                sender.proc.send_signal(signal.SIGHUP)
                notify.wait("READY=1")
                self.assertIsNotNone(sender.wait_stderr(
                    lambda l: "unknown key contact.bogus" in l and "keeping the running configuration" in l))
                self.assertEqual(replay_and_read_contacts(), {"second@example.org"})
                sender.proc.send_signal(signal.SIGTERM)
                notify.wait("STOPPING=1")
            finally:
                code, _, stderr = sender.stop()
                notify.close()
            self.assertEqual(code, 0, stderr)

    def test_receiver(self):
        with lib.temp_dir() as d:
            notify = NotifySocket(d)
            receiver = start(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0",
                              "--http-bind", "127.0.0.1"], notify)
            try:
                notify.wait("READY=1")
                self.assertTrue(any("listening: http" in l for l in receiver.stderr_seen) or
                                receiver.wait_stderr(lambda l: "listening: http" in l, timeout=30))
                receiver.proc.send_signal(signal.SIGHUP)
                notify.wait("RELOADING=1")
                notify.wait("READY=1")
                self.assertIsNotNone(receiver.wait_stderr(lambda l: "SIGHUP: nothing to re-read" in l))
                self.assertIsNone(receiver.proc.poll())  # still running
                receiver.proc.send_signal(signal.SIGTERM)
                notify.wait("STOPPING=1")
            finally:
                code, _, stderr = receiver.stop()
                notify.close()
            self.assertEqual(code, 0, stderr)


if __name__ == "__main__":
    lib.main()

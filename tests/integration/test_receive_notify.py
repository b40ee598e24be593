"""Telling the operator (issue 12 item 4): each new key-continuity alert and each new spoofing
suspect is logged as it is stored, and POSTed as JSON to --alert-webhook, here a listener this test
starts on 127.0.0.1 (http.server, independent of overflowd's HTTP code); --alert-rate bounds what
is told per minute and the rest is counted and summarized; a webhook that never answers does not
delay intake. Reports are signed with PyNaCl; own exports are NetFlow v5 built by hand.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

import overflowd_testlib as lib
import receive_support as rs
from delivery_testlib import SilentServer

MINE = "192.0.2.0/24"
SYS_UPTIME = 3_600_000
ELSEWHERE = "203.0.113.9"  # not my prefix: reports from it are never suspects
FORGING = "Transit Net\noverflowd receive: alert: forged"


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.cv:
            self.server.bodies.append((self.headers.get("Content-Type"), json.loads(body)))
            self.server.cv.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class Webhook:
    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.server.daemon_threads = True
        self.server.cv = threading.Condition()
        self.server.bodies = []
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait(self, predicate, timeout=30):
        """The JSON bodies received once `predicate(bodies)` holds (or after `timeout` s)."""
        with self.server.cv:
            self.server.cv.wait_for(lambda: predicate([b for _, b in self.server.bodies]), timeout=timeout)
            return [b for _, b in self.server.bodies]

    def content_types(self):
        with self.server.cv:
            return {t for t, _ in self.server.bodies}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_notify(rx, predicate, timeout=30):
    """The receiver's notify counts once `predicate` holds (the writer tells after it commits)."""
    deadline = time.monotonic() + timeout
    while True:
        n = rx.get("/api/stats")["runtime"]["notify"]
        if predicate(n) or time.monotonic() > deadline:
            return n
        time.sleep(0.02)


def of_type(bodies, t):
    return [b for b in bodies if b["type"] == t]


class Notify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls.unix_secs = int(time.time()) - 60
        own = dict(saddr="192.0.2.5", daddr="198.51.100.1", sport=1111, dport=80, protocol=6, pcount=5, bcount=500,
                   first=SYS_UPTIME - 1000, last=SYS_UPTIME - 10)
        cls.datagram = lib.build_v5_datagram([own], sys_uptime=SYS_UPTIME, unix_secs=cls.unix_secs)
        cls.stime = cls.unix_secs * 1000 - 1000
        cls.etime = cls.unix_secs * 1000 - 10

    def receiver(self, d, *args):
        own = d / "own.pcap"
        rs.write_udp_pcap(own, [("127.0.0.1", "127.0.0.1", self.datagram)], dport=2055)
        return rs.Receiver(d, "--my-prefix", MINE, "--own-exports-file", own, *args)

    def spoofed(self, key, sport, identity="Transit Net", saddr="192.0.2.6"):
        """A report of a flow from my prefix that my own exports did not see: a suspect."""
        data = rs.flow_data(saddr=saddr, daddr="198.51.100.1", sport=sport, dport=80, protocol=6,
                            stime=self.stime, etime=self.etime)
        return rs.Signed(key, "noc@transit.example", identity, data)

    def test_webhook_gets_an_alert_and_a_suspect(self):
        hook = Webhook()
        try:
            with lib.temp_dir() as d:
                rx = self.receiver(d, "--alert-webhook", hook.url)
                try:
                    key = rs.signing_key(31)
                    for email, sport in (("noc@a.example", 1), ("takeover@b.example", 2)):
                        data = rs.flow_data(saddr=ELSEWHERE, sport=sport)
                        status, body = rx.post(rs.Signed(key, email, "A Net", data).full)
                        self.assertEqual(status, 200, body)
                    # A newline in a signed contact field must not forge a log line.
                    suspect = self.spoofed(rs.signing_key(32), 2222, identity=FORGING)
                    self.assertEqual(rx.post(suspect.full)[0], 200)
                    bodies = hook.wait(lambda b: of_type(b, "alert") and of_type(b, "spoof_suspect"))
                finally:
                    _, stderr = rx.stop()
        finally:
            hook.close()
        self.assertEqual(hook.content_types(), {"application/json"})
        alerts = of_type(bodies, "alert")
        self.assertEqual(len(alerts), 1, bodies)
        a = alerts[0]
        self.assertEqual(a["kind"], "contact_changed")
        self.assertEqual(a["key"], key.verify_key.encode().hex())
        self.assertEqual(a["detail"]["from"]["email"], "noc@a.example")
        self.assertEqual(a["detail"]["to"]["email"], "takeover@b.example")
        suspects = of_type(bodies, "spoof_suspect")
        self.assertEqual(len(suspects), 1, bodies)
        s = suspects[0]
        self.assertEqual(s["key"], suspect.key)
        self.assertEqual((s["saddr"], s["daddr"], s["sport"], s["dport"], s["protocol"]),
                         ("192.0.2.6", "198.51.100.1", 2222, 80, 6))
        self.assertEqual((s["email"], s["identity"]), ("noc@transit.example", FORGING))
        self.assertEqual((s["stime"], s["etime"]), (self.stime, self.etime))
        # Logged as they happened, too.
        self.assertIn("alert: contact_changed for key " + a["key"], stderr)
        self.assertIn("spoofing suspect: 192.0.2.6 -> 198.51.100.1", stderr)
        self.assertIn("Transit Net\\x0aoverflowd receive: alert: forged", stderr)
        self.assertNotIn("\noverflowd receive: alert: forged", stderr)

    def test_suspects_are_told_once_per_source_with_a_count(self):
        """A spoofed flood is one event per source per window (60 s), with a count, not one per report."""
        hook = Webhook()
        try:
            with lib.temp_dir() as d:
                rx = self.receiver(d, "--alert-webhook", hook.url)
                try:
                    key = rs.signing_key(36)
                    batch = [self.spoofed(key, 6000 + i).full for i in range(20)]
                    batch += [self.spoofed(key, 6100 + i, saddr="192.0.2.7").full for i in range(3)]
                    self.assertEqual(rx.post("\n".join(batch))[0], 200)
                    first = hook.wait(lambda b: len(of_type(b, "spoof_suspect")) >= 2)
                    # More from 192.0.2.6 within the window are held; a new source is told at once.
                    more = [self.spoofed(key, 6200 + i).full for i in range(5)]
                    self.assertEqual(rx.post("\n".join(more))[0], 200)
                    self.assertEqual(rx.post(self.spoofed(key, 6300, saddr="192.0.2.8").full)[0], 200)
                    bodies = hook.wait(lambda b: len(of_type(b, "spoof_suspect")) >= 3)
                    self.assertEqual(rx.wait_counter("spoof.suspect", 29), 29)
                finally:
                    _, stderr = rx.stop()
        finally:
            hook.close()
        told = [(b["saddr"], b["count"]) for b in of_type(bodies, "spoof_suspect")]
        self.assertEqual(sorted(told[:2]), [("192.0.2.6", 20), ("192.0.2.7", 3)], first)
        self.assertEqual(told[2:], [("192.0.2.8", 1)], bodies)
        # The 5 held for 192.0.2.6 are told at stop (its window had not ended): a fourth line.
        self.assertEqual(stderr.count("spoofing suspect: "), 4)
        self.assertIn("20 reports from this source (one event per source per 60 s)", stderr)
        self.assertIn("5 reports from this source (one event per source per 60 s)", stderr)

    def test_rate_limit_holds_under_a_burst(self):
        hook = Webhook()
        burst, rate = 30, 5
        try:
            with lib.temp_dir() as d:
                rx = self.receiver(d, "--alert-webhook", hook.url, "--alert-rate", rate)
                try:
                    key = rs.signing_key(33)
                    for i in range(burst):
                        # Each from its own source: suspects are told once per source per window.
                        self.assertEqual(rx.post(self.spoofed(key, 3000 + i, saddr=f"192.0.2.{10 + i}").full)[0], 200)
                    self.assertEqual(rx.wait_counter("spoof.suspect", burst), burst)
                    hook.wait(lambda b: len(of_type(b, "spoof_suspect")) >= rate)
                    notify = wait_notify(rx, lambda n: n["told"] + n["suppressed"] >= burst)
                finally:
                    _, stderr = rx.stop()
                # The summary of what was held back is told at the stop, to the webhook too.
                bodies = hook.wait(lambda b: of_type(b, "suppressed"))
        finally:
            hook.close()
        self.assertEqual(len(of_type(bodies, "spoof_suspect")), rate)
        self.assertEqual(notify["told"], rate)
        self.assertEqual(notify["suppressed"], burst - rate)
        self.assertEqual([b["count"] for b in of_type(bodies, "suppressed")], [burst - rate])
        self.assertEqual(stderr.count("spoofing suspect: "), rate)
        self.assertIn(f"{burst - rate} more alerts and spoofing suspects were not told", stderr)

    def test_a_hanging_webhook_does_not_delay_intake(self):
        hang = SilentServer("127.0.0.1")  # accepts and never answers
        n = 20
        try:
            with lib.temp_dir() as d:
                rx = self.receiver(d, "--alert-webhook", f"http://127.0.0.1:{hang.port}/hook",
                                   "--alert-webhook-timeout", 30000)
                try:
                    key = rs.signing_key(34)
                    start = time.monotonic()
                    for i in range(n):
                        # Each from its own source (suspects are told once per source per window).
                        self.assertEqual(rx.post(self.spoofed(key, 4000 + i, saddr=f"192.0.2.{100 + i}").full)[0], 200)
                    elapsed = time.monotonic() - start
                    self.assertEqual(rx.wait_counter("stored", n), n)
                    notify = wait_notify(rx, lambda s: s["told"] >= n)
                finally:
                    stop_start = time.monotonic()
                    code, stderr = rx.stop()
                    stop_elapsed = time.monotonic() - stop_start
        finally:
            hang.close()
        # Had the writer waited for the webhook, the second report would have waited 30 s; the
        # bound is below that, not a speed claim (an ASan build at load 30 is slow).
        self.assertLess(elapsed, 25, f"{n} POSTs took {elapsed:.1f} s")
        self.assertEqual(notify["told"], n)
        self.assertEqual(notify["webhook_sent"], 0)
        # The stop drains the webhook queue for at most 2 s, then ends the hanging POST (which
        # would otherwise take the webhook's 30 s time-out).
        self.assertEqual(code, 0, stderr)
        self.assertLess(stop_elapsed, 25)


# --alert-syslog: glibc's syslog() writes to /dev/log. The test runs a child of its own in a new
# user and mount namespace (unshare -rm) with a tmpfs on /dev (null, zero, random and urandom bound
# back in) and a datagram socket of its own at /dev/log, so it reads exactly what overflowd sent.
MOUNT_DEV = ('mkdir -p "$1/olddev" && mount --rbind /dev "$1/olddev" && mount -t tmpfs tmpfs /dev && '
             'for f in null zero urandom random; do touch /dev/$f && mount --bind "$1/olddev/$f" /dev/$f; done && '
             'shift && exec "$@"')


def syslog_child(directory):
    """In the namespace: a receiver with --alert-syslog told of one suspect; prints what /dev/log got."""
    from pathlib import Path

    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    log.settimeout(30)
    Notify.setUpClass()
    t = Notify()
    rx = t.receiver(Path(directory), "--alert-syslog")
    try:
        suspect = t.spoofed(rs.signing_key(35), 5555)
        status, _ = rx.post(suspect.full)
        got = log.recv(65536).decode()
    finally:
        rx.stop()
    print(json.dumps({"status": status, "syslog": got, "key": suspect.key}))


class Syslog(unittest.TestCase):
    def test_a_suspect_goes_to_syslog(self):
        lib.require_binary()
        if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
            raise unittest.SkipTest("no user and mount namespaces (unshare -rm)")
        with lib.temp_dir() as d:
            proc = subprocess.run(["unshare", "-rm", "sh", "-c", MOUNT_DEV, "sh", str(d), sys.executable, __file__,
                                   "syslog-child", str(d)], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(out["status"], 200)
        # <28>: facility daemon (3 * 8) + severity warning (4), RFC 3164 as glibc writes it.
        self.assertTrue(out["syslog"].startswith("<28>"), out["syslog"])
        self.assertIn("overflowd[", out["syslog"])
        self.assertIn("spoofing suspect: 192.0.2.6 -> 198.51.100.1", out["syslog"])
        self.assertIn(out["key"], out["syslog"])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "syslog-child":
        syslog_child(sys.argv[2])
    else:
        lib.main()

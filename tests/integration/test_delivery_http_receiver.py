"""The sender's HTTP(S) counters against what a real receiver stored (issue 12, finding 8): the
sender delivers over HTTP and HTTPS on loopback to `overflowd receive` started by the test, and
its `delivered` counter equals the number of reports the receiver stored (its persistent counter
and the reports its API lists), with nothing counted failed, dropped or abandoned. Each failure is
counted under its reason and logged with libcurl's message, rate-limited: a TLS verification
failure (failed.tls.verify), a refused connection (failed.connect.refused) and a 503
(failed.status.5xx). Flows are between 127.x addresses only; the receiver listens on 127.0.0.1."""

import shutil
import unittest

import receive_support as rs
from delivery_testlib import SRC, HttpServer, closed_tcp_port, loopback_capture, new_key, run_sender
from overflowd_testlib import main, parse_summary, require_binary, temp_dir

RX = "127.0.0.1"
NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]
FAILURE_LINE = "HTTP(S) delivery to "


def sender_outcomes(summary, scheme):
    """{outcome: n} of one scheme's counters, without `queued`."""
    return {k[len(scheme) + 1:]: v for k, v in summary.items() if k.startswith(scheme + ".") and v and k != scheme + ".queued"}


def failure_lines(stderr):
    return [l for l in stderr.splitlines() if FAILURE_LINE in l]


class DeliveredEqualsStored(unittest.TestCase):
    def setUp(self):
        require_binary()

    def deliver(self, scheme, flows, *rx_args):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(RX,), flows=flows)
            key, _ = new_key(d)
            extra = list(rx_args)
            if scheme == "https":
                pair = rs.self_signed_cert(d)
                if pair is None:
                    raise unittest.SkipTest("openssl is not installed")
                extra += ["--https-port", "0", "--tls-cert", pair[0], "--tls-key", pair[1]]
            rx = rs.Receiver(d, *extra)
            try:
                proc, _ = run_sender(cap, key, "--deliver", scheme, "--deliver-to", "dst", f"--{scheme}-port",
                                     rx.ports[scheme], *NO_BUDGETS)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                summary = parse_summary(proc.stderr)
                delivered = summary[f"{scheme}.delivered"]
                stored = rx.wait_counter("stored", delivered)
                listed = len(rx.reports(limit=1000))
            finally:
                rx.stop()
            self.assertEqual(summary[f"{scheme}.queued"], flows)
            self.assertEqual(sender_outcomes(summary, scheme), {"delivered": flows}, summary)
            self.assertEqual(stored, delivered)
            self.assertEqual(listed, delivered)
            self.assertEqual(failure_lines(proc.stderr), [])

    def test_http_delivered_equals_stored(self):
        self.deliver("http", 120)

    def test_https_delivered_equals_stored(self):
        self.deliver("https", 60)


class FailureReasons(unittest.TestCase):
    def setUp(self):
        require_binary()

    def run_failing(self, d, scheme, port, n, *extra):
        cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(RX,), flows=n)
        key, _ = new_key(d)
        proc, _ = run_sender(cap, key, "--deliver", scheme, "--deliver-to", "dst", f"--{scheme}-port", port,
                             *NO_BUDGETS, "--http-log-per-minute", 3, *extra)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc, parse_summary(proc.stderr)

    def check_logged(self, proc, reason, n, detail):
        lines = failure_lines(proc.stderr)
        self.assertEqual(len(lines), 3, proc.stderr)  # the rate limit: 3 a minute
        for l in lines:
            self.assertIn(reason, l)
            self.assertIn(detail, l.lower())
        self.assertIn(f"{n - 3} more HTTP(S) delivery failures were not logged", proc.stderr)

    def test_tls_verify_failure(self):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl is not installed")
        with temp_dir() as d:
            pair = rs.self_signed_cert(d)
            rx = rs.Receiver(d, "--https-port", "0", "--tls-cert", pair[0], "--tls-key", pair[1])
            try:
                proc, summary = self.run_failing(d, "https", rx.ports["https"], 8, "--https-verify")
                stored = rx.counters().get("stored", 0)
            finally:
                rx.stop()
            self.assertEqual(sender_outcomes(summary, "https"),
                             {"failed.tls.verify": 8, "log_suppressed": 5}, summary)
            self.assertEqual(stored, 0)
            self.check_logged(proc, "failed.tls.verify", 8, "certificate")

    def test_refused_connect(self):
        with temp_dir() as d:
            proc, summary = self.run_failing(d, "http", closed_tcp_port(RX), 8)
            self.assertEqual(sender_outcomes(summary, "http"), {"failed.connect.refused": 8, "log_suppressed": 5}, summary)
            self.check_logged(proc, "failed.connect.refused", 8, "connect")

    def test_http_503(self):
        with temp_dir() as d:
            srv = HttpServer(RX, status=503)
            try:
                proc, summary = self.run_failing(d, "http", srv.port, 8)
            finally:
                srv.close()
            self.assertEqual(len(srv.requests), 8)
            self.assertEqual(sender_outcomes(summary, "http"), {"failed.status.5xx": 8, "log_suppressed": 5}, summary)
            self.check_logged(proc, "failed.status.5xx", 8, "503")


if __name__ == "__main__":
    main()

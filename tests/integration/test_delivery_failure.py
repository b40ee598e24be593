"""A receiving side that is down (closed ports) or slow (a server that accepts and never answers)
neither stops nor thins the record: every stdout line of a run without delivery is there, the run
ends (the time bound below is only a guard against a hang, not a performance claim), and every
HTTP(S) send ends in a counted outcome. Flows are between 127.x addresses only."""

import unittest

from delivery_testlib import DST, SRC, SilentServer, closed_tcp_port, loopback_capture, new_key, run_sender
from overflowd_testlib import main, parse_summary, report_lines, require_binary, temp_dir

OPEN = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]
HANG_GUARD = 120  # seconds


def flow_keys(proc):
    import json

    keys = []
    for line in report_lines(proc.stdout):
        d = json.loads(line)["flowdata"]["data"]
        keys.append((d["saddr"], d["daddr"], d["sport"], d["dport"], d["stime"], d["etime"]))
    return sorted(keys)


def outcomes_add_up(test, summary, scheme):
    queued = summary[f"{scheme}.queued"]
    ended = sum(v for k, v in summary.items()
                if k.startswith(f"{scheme}.") and (".failed." in k or k.endswith(".delivered")
                                                   or k.endswith(".dropped.shutdown") or k.endswith(".abandoned.shutdown")))
    test.assertEqual(ended, queued, f"{scheme}: every queued send ends delivered, failed or dropped: {summary}")


class ReceiverTrouble(unittest.TestCase):
    def setUp(self):
        require_binary()

    def baseline(self, cap, key):
        proc, _ = run_sender(cap, key)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return flow_keys(proc)

    def test_closed_ports_lose_no_line(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=400)
            key, _ = new_key(d)
            want = self.baseline(cap, key)
            self.assertEqual(len(want), 400)
            port = closed_tcp_port(DST)
            proc, _ = run_sender(cap, key, "--deliver", "udp,http,https", "--report-port", port, "--http-port", port,
                                 "--https-port", port, *OPEN, timeout=HANG_GUARD)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(flow_keys(proc), want)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["udp.sent"] + summary.get("udp.failed", 0)
                             + summary.get("udp.dropped.would_block", 0), 800)
            for scheme in ("http", "https"):
                self.assertEqual(summary[f"{scheme}.delivered"], 0)
                self.assertGreater(summary[f"{scheme}.failed.connect.refused"], 0)
                outcomes_add_up(self, summary, scheme)

    def test_a_server_that_never_answers_loses_no_line_and_sends_are_bounded(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=400)
            key, _ = new_key(d)
            want = self.baseline(cap, key)
            silent = SilentServer(DST)
            try:
                proc, elapsed = run_sender(cap, key, "--deliver", "http", "--deliver-to", "dst", "--http-port",
                                           silent.port, "--http-timeout", 1000, "--http-connect-timeout", 500,
                                           "--http-max-in-flight", 4, "--http-queue", 16, *OPEN, timeout=HANG_GUARD)
            finally:
                silent.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(flow_keys(proc), want)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["http.delivered"], 0)
            # 400 reports against 4 transfers and a queue of 16: most are dropped at once, counted.
            self.assertGreater(summary["http.dropped.queue_full"], 0)
            self.assertEqual(summary["http.queued"] + summary["http.dropped.queue_full"], 400)
            self.assertLessEqual(summary["http.queued"], 400)
            outcomes_add_up(self, summary, "http")
            self.assertGreater(summary.get("http.failed.timeout", 0) + summary.get("http.dropped.shutdown", 0)
                               + summary.get("http.abandoned.shutdown", 0), 0)
            self.assertLess(elapsed, HANG_GUARD)


if __name__ == "__main__":
    main()

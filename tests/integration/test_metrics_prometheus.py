"""Prometheus metrics (issue 14 item 1), checked by a real Prometheus (Debian's `prometheus`,
started here on loopback with a temporary storage folder and a 1 s scrape interval) scraping the
sender (--metrics) and the receiver (/metrics on its HTTP listener) while they work: a capture is
replayed into the sender, which delivers over UDP and HTTP to the receiver on loopback; the test
reads the scraped series back through Prometheus's query API and waits until they equal the
processes' own counters (the sender's SIGUSR1 block and summary, the receiver's summary).
`promtool check metrics` lints both expositions."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import overflowd_testlib as lib

PROTOCOLS = {"packet", "netflow_v5", "netflow_v9", "ipfix", "sflow_v5"}
NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]


def sender_series(name):
    """The series a summary counter is exported as (docs/operations.md, "Metrics"): (metric, labels)."""
    p = name.split(".")
    if name == "flows":
        return "overflowd_flows_total", {}
    if name == "reports":  # by class; this test runs without a policy, so all are INFORMATIONAL
        return "overflowd_reports_total", {"class": "INFORMATIONAL"}
    if p[0] in ("policy", "encrypt", "output"):
        return "overflowd_" + "_".join(p) + "_total", {}
    if p[0] == "source":
        if p[1] == "kernel_drops":
            return "overflowd_kernel_drops_total", {}
        if p[1] == "skipped":
            return "overflowd_source_skipped_total", {"reason": p[2]}
        return f"overflowd_source_{p[1]}_total", {}
    if name in ("datagrams.decoded", "datagrams.refused"):
        return "overflowd_datagrams_handled_total", {"result": "accepted" if p[1] == "decoded" else "refused"}
    if p[0] in PROTOCOLS:
        if p[1] == "datagrams":
            return "overflowd_datagrams_total", {"protocol": p[0]}
        if p[1] == "records":
            return "overflowd_records_total", {"protocol": p[0]}
        if p[1] == "skipped":
            return "overflowd_records_skipped_total", {"protocol": p[0]}
        if p[1] == "rejected":
            return "overflowd_datagrams_refused_total", {"protocol": p[0], "reason": p[2]}
        return "overflowd_records_noted_total", {"protocol": p[0], "note": p[1]}
    if p[0] == "templates":
        return "overflowd_template_evictions_total", {"what": p[1].removeprefix("evicted_")}
    if p[0] == "sampler":
        if p[1] in ("considered", "kept"):
            return f"overflowd_sampler_{p[1]}_total", {}
        return "overflowd_sampler_skipped_total", {"reason": p[2]}
    if p[0] == "guard":
        return "overflowd_guard_total", {"verdict": p[-1]}
    if p[0] in ("udp", "http", "https"):
        return "overflowd_delivery_total", {"transport": p[0], "result": "_".join(p[1:])}
    if p[0] == "worker":
        return f"overflowd_worker_{p[2]}_total", {"worker": p[1]}
    raise AssertionError(f"no metric known for summary counter {name}")


def receiver_series(name):
    return {"stored": ("overflowd_receiver_reports_total", {"result": "stored"}),
            "duplicates": ("overflowd_receiver_reports_total", {"result": "duplicate"}),
            "invalid": ("overflowd_receiver_reports_total", {"result": "refused"}),
            "dropped": ("overflowd_receiver_reports_total", {"result": "dropped"}),
            "write_errors": ("overflowd_receiver_write_errors_total", {})}[name]


def key(metric, labels):
    return metric + json.dumps(labels, sort_keys=True)


def free_tcp_port():
    """A TCP port that was free a moment ago (for Prometheus only, which is retried when it loses
    the port to another process; overflowd binds port 0 and says which port it got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logged_port(proc, pattern, what):
    """The port at the end of the first stderr line of `proc` (a LiveProcess) matching `pattern`."""
    line = proc.wait_stderr(lambda l: re.search(pattern, l) is not None, timeout=30)
    assert line is not None, f"no line for {what}: {proc.stderr_seen}"
    return int(re.search(pattern, line).group(1))


def http_get(url, timeout=30):  # generous: a scrape of an ASan build at load 30 can take seconds
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def parse_exposition(text):
    """{key(metric, labels): value} of a text exposition (simple parser for our own output)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[key(m.group(1), labels)] = float(m.group(3))
    return out


def parse_block(stderr, title):
    lines = stderr.splitlines()
    at = max(i for i, l in enumerate(lines) if l == title)
    counters = {}
    for line in lines[at + 1:]:
        if not line.startswith("  "):
            break
        name, value = line.split()
        counters[name] = int(value)
    return counters


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = condition()
        if ok:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


class Prometheus:
    def __init__(self, folder, targets):
        config = folder / "prometheus.yml"
        jobs = "".join(f"  - job_name: {job}\n    static_configs:\n      - targets: ['{t}']\n" for job, t in targets.items())
        config.write_text(f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}")
        # Prometheus does not say which port it got for :0, so it takes a port that was free and
        # starts again on another when something else took that one meanwhile (a loaded machine
        # runs other tests' servers).
        for attempt in range(5):
            self.port = free_tcp_port()
            tsdb = folder / f"tsdb{attempt}"
            tsdb.mkdir()
            self.log_path = folder / f"prometheus{attempt}.log"
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                                          f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                                         stdout=self.log, stderr=subprocess.STDOUT)

            def ready():
                try:
                    return http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2)[0] == 200, None
                except OSError as e:
                    if self.proc.poll() is not None:
                        return True, "exited"
                    return False, str(e)

            if wait_for(ready, 60, "Prometheus to be ready") is None:
                return
            self.log.close()
            log = self.log_path.read_text()
            assert "address already in use" in log, "prometheus exited: " + log
        raise AssertionError("prometheus lost its port to another process 5 times")

    def series(self, job):
        """{key(metric, labels without job/instance): value} of the job's overflowd_ series now."""
        q = urllib.parse.quote(f'{{__name__=~"overflowd_.*",job="{job}"}}')
        _, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/query?query={q}")
        data = json.loads(body)
        assert data["status"] == "success", data
        out = {}
        for r in data["data"]["result"]:
            labels = {k: v for k, v in r["metric"].items() if k not in ("__name__", "job", "instance")}
            out[key(r["metric"]["__name__"], labels)] = float(r["value"][1])
        return out

    def targets_up(self):
        _, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/targets")
        return {t["labels"]["job"]: t["health"] for t in json.loads(body)["data"]["activeTargets"]}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@unittest.skipUnless(shutil.which("prometheus") and shutil.which("promtool"), "Debian's prometheus package is not installed")
class MetricsWithPrometheus(unittest.TestCase):
    def test_sender_and_receiver_scraped(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d, "--loopback")
            # Every server binds port 0 and says in its log which port it got: no port can be taken
            # by another process between a choice and a bind.
            receiver = lib.LiveProcess(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0",
                                        "--batch-ms", "50"])
            sender = prometheus = None
            try:
                recv_udp = logged_port(receiver, r"listening: udp \[.*\]:(\d+)$", "the receiver's UDP port")
                recv_http = logged_port(receiver, r"listening: http \[.*\]:(\d+)$", "the receiver's HTTP port")
                sender = lib.LiveProcess(["-u", "0", "--bind", "127.0.0.1", "--workers", "2", "-r", "0.00003", "--seed", "3",
                                          "--metrics", "127.0.0.1:0", "--deliver", "udp", "--deliver", "http",
                                          "--report-port", recv_udp, "--http-port", recv_http, *NO_BUDGETS])
                udp_port = logged_port(sender, r"listening for flow exports on UDP \[.*\]:(\d+)$", "the sender's UDP port")
                metrics_port = logged_port(sender, r"metrics: http://127\.0\.0\.1:(\d+)/metrics", "the sender's metrics port")
                sender_url = f"http://127.0.0.1:{metrics_port}/metrics"
                receiver_url = f"http://127.0.0.1:{recv_http}/metrics"
                prometheus = Prometheus(d, {"sender": f"127.0.0.1:{metrics_port}", "receiver": f"127.0.0.1:{recv_http}"})

                replay = lib.run(["replay", "-f", capture, "--to", f"127.0.0.1:{udp_port}"])
                self.assertEqual(replay.returncode, 0, replay.stderr)
                sent = int(re.search(r"datagrams\s+(\d+)", replay.stdout).group(1))

                # The sender is done when it has read every datagram and every HTTP POST has ended.
                def sender_done():
                    m = parse_exposition(http_get(sender_url)[1])
                    read = m.get(key("overflowd_source_datagrams_total", {}), 0)
                    http = {json.loads(k[len("overflowd_delivery_total"):])["result"]: v for k, v in m.items()
                            if k.startswith("overflowd_delivery_total") and '"transport": "http"' in k}
                    ended = sum(v for r, v in http.items() if r not in ("queued", "body_capped") and not r.startswith("dropped"))
                    return read == sent and http.get("queued", 0) == ended, (read, http)
                wait_for(sender_done, 60, "the sender to read the capture and end its deliveries")

                sender.proc.send_signal(signal.SIGUSR1)
                self.assertIsNotNone(sender.wait_stderr(lambda l: l == "overflowd: end of counters", timeout=30))
                counters = parse_block("\n".join(sender.stderr_seen), "overflowd: counters")
                self.assertGreater(counters["reports"], 0)
                self.assertGreater(counters.get("http.delivered", 0), 0, counters)
                expected = {key(*sender_series(n)): v for n, v in counters.items()}

                def prometheus_has(job, want):
                    def check():
                        got = prometheus.series(job)
                        diff = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
                        return not diff, (got if not diff else diff)  # wait_for returns the series that matched
                    return check
                wait_for(prometheus_has("sender", expected), 60, "Prometheus to hold the sender's counters")

                # The exposition as Prometheus's own linter sees it, and the histograms present.
                for url in (sender_url, receiver_url):
                    text = http_get(url)[1]
                    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
                    self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
                    self.assertIn("overflowd_info{", text)
                    self.assertIn("overflowd_http_requests_total{listener=", text)
                self.assertIn('overflowd_delivery_duration_seconds_bucket{transport="http",le="+Inf"}', http_get(sender_url)[1])
                self.assertIn("overflowd_receiver_batch_commit_seconds_count", http_get(receiver_url)[1])
                self.assertIn('overflowd_reports_total{class="SUSPICIOUS"} 0', http_get(sender_url)[1])
                self.assertIn('overflowd_queue_depth{queue="http_delivery"}', http_get(sender_url)[1])
                for kind in ("contact_changed", "identity_new_key", "spoof_suspect"):
                    self.assertIn(f'overflowd_receiver_alerts_total{{kind="{kind}"}}', http_get(receiver_url)[1])

                code, _, stderr = sender.stop()
                sender = None
                self.assertEqual(code, 0, stderr)
                self.assertEqual(parse_block(stderr, "overflowd: summary"), counters)

                # The receiver: settled (queues empty, values unchanged between two reads), then
                # Prometheus holds what it serves, then its summary says the same.
                def receiver_settled():
                    def read():
                        m = parse_exposition(http_get(receiver_url)[1])  # its HTTP counters move with each read
                        return m, {k: v for k, v in m.items() if k.startswith("overflowd_receiver_")}
                    a, a_reports = read()
                    queued = a[key("overflowd_queue_depth", {"queue": "verifier"})] + a[key("overflowd_queue_depth", {"queue": "writer"})]
                    _, b_reports = read()
                    return queued == 0 and a_reports == b_reports, queued
                wait_for(receiver_settled, 60, "the receiver to settle")
                direct = {k: v for k, v in parse_exposition(http_get(receiver_url)[1]).items()
                          if k.startswith(("overflowd_receiver_reports_total", "overflowd_receiver_write_errors_total"))}
                # Kept from the query that matched, while the receiver runs: once it stops (or when a
                # scrape times out under load), Prometheus marks its series stale and an instant
                # query returns none of them.
                scraped = wait_for(prometheus_has("receiver", direct), 60, "Prometheus to hold the receiver's counters")
                code, _, stderr = receiver.stop()
                receiver = None
                self.assertEqual(code, 0, stderr)
                summary = parse_block(stderr, "overflowd receive: summary")
                self.assertGreater(summary["stored"], 0, summary)
                for name, value in summary.items():
                    self.assertEqual(scraped.get(key(*receiver_series(name))), value, name)
            finally:
                for p in (sender, receiver):
                    if p:
                        p.kill()
                if prometheus:
                    prometheus.stop()


@unittest.skipUnless(shutil.which("promtool"), "Debian's prometheus package is not installed")
class ReceiverMetricsAllowList(unittest.TestCase):
    def test_only_api_allow_addresses(self):
        with lib.temp_dir() as d:
            receiver = lib.LiveProcess(["receive", "--db", d / "r.db", "--udp-port", "off", "--http-port", "0",
                                        "--http-bind", "127.0.0.1", "--api-allow", "192.0.2.0/24",
                                        "--metrics", "127.0.0.1:0"])
            try:
                own = logged_port(receiver, r"listening: metrics 127\.0\.0\.1:(\d+)$", "the metrics port")
                port = logged_port(receiver, r"listening: http \[.*\]:(\d+)$", "the HTTP port")
                for url in (f"http://127.0.0.1:{port}/metrics", f"http://127.0.0.1:{own}/metrics"):
                    with self.assertRaises(urllib.error.HTTPError) as refused:
                        http_get(url)
                    self.assertEqual(refused.exception.code, 403, url)
            finally:
                code, _, stderr = receiver.stop()
            self.assertEqual(code, 0, stderr)

    def test_own_metrics_address(self):
        with lib.temp_dir() as d:
            receiver = lib.LiveProcess(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "off",
                                        "--metrics", "127.0.0.1:0"])
            try:
                port = logged_port(receiver, r"listening: metrics 127\.0\.0\.1:(\d+)$", "the metrics port")
                status, text = http_get(f"http://127.0.0.1:{port}/metrics")
                self.assertEqual(status, 200)
                self.assertIn('overflowd_receiver_reports_total{result="stored"} 0', text)
                self.assertIn('overflowd_http_requests_total{listener="metrics"}', text)
                lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
                self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
            finally:
                code, _, stderr = receiver.stop()
            self.assertEqual(code, 0, stderr)


if __name__ == "__main__":
    lib.main()

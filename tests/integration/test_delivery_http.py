"""Delivery over HTTP and HTTPS to servers this test starts on 127.x addresses: each POST carries
the full report (application/json) to /.well-known/overflowd, verifies with PyNaCl and names the
server's address; HTTPS works with a self-signed certificate by default, and with --https-verify
only when the certificate is trusted and names the address; redirects are not followed; long
response bodies are cut off. Flows are between 127.x addresses only."""

import shutil
import unittest

from delivery_testlib import (DST, OTHER, SRC, HttpServer, endpoints, loopback_capture, new_key, run_sender,
                              self_signed_cert, stdout_reports)
from overflowd_testlib import main, parse_summary, pynacl_verify, require_binary, temp_dir

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]


def same_port_servers(hosts, **kw):
    """One server per host, all on the same port."""
    for _ in range(20):
        first = HttpServer(hosts[0], **kw)
        servers = [first]
        try:
            for h in hosts[1:]:
                servers.append(HttpServer(h, port=first.port, **kw))
            return servers
        except OSError:
            for s in servers:
                s.close()
    raise AssertionError("no common free TCP port")


def patient_config(d):
    """A configuration with long HTTP time-outs: under load (the sanitizer stage) a TLS handshake
    with the test's Python server can take longer than the default 2 s, and a refusal test must see
    the refusal, not a time-out."""
    conf = d / "patient.toml"
    conf.write_text("[delivery]\nconnect_timeout_ms = 60000\ntimeout_ms = 120000\n")
    return conf


class HttpDelivery(unittest.TestCase):
    def setUp(self):
        require_binary()

    def check_posts(self, proc, servers, pub, scheme):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        reports = stdout_reports(proc)
        lines = set(l for l in proc.stdout.splitlines() if l.strip())
        self.assertGreater(len(reports), 10)
        for srv in servers:
            host = srv.server.server_address[0]
            bodies = []
            for req in srv.requests:
                self.assertEqual(req["path"], "/.well-known/overflowd")
                self.assertEqual(req["content_type"], "application/json")
                body = req["body"].decode()
                report, message, key = pynacl_verify(body)
                self.assertEqual(key, pub)
                self.assertIn(host, endpoints(report), f"{host} got a report on another flow")
                self.assertIn(body, lines, "the POST body is not the stdout line")
                bodies.append(body)
            want = sorted(l for l in lines if host in endpoints(pynacl_verify(l)[0]))
            self.assertEqual(sorted(bodies), want, host)
        summary = parse_summary(proc.stderr)
        self.assertEqual(summary[f"{scheme}.delivered"], sum(len(s.requests) for s in servers))
        self.assertEqual(summary[f"{scheme}.queued"], 2 * len(reports))

    def test_http_posts_the_report_to_both_endpoints(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=30)
            key, pub = new_key(d)
            servers = same_port_servers([SRC, DST])
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--http-port", servers[0].port, *NO_BUDGETS)
            finally:
                for s in servers:
                    s.close()
            self.check_posts(proc, servers, pub, "http")

    def test_https_with_a_self_signed_certificate_by_default(self):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl is not installed")
        with temp_dir() as d:
            cap = loopback_capture(d, flows=20)
            key, pub = new_key(d)
            cert = self_signed_cert(d, [SRC, DST])
            servers = same_port_servers([SRC, DST], tls=cert)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "https", "--https-port", servers[0].port, *NO_BUDGETS,
                                     "--config", patient_config(d))
            finally:
                for s in servers:
                    s.close()
            self.check_posts(proc, servers, pub, "https")

    def test_https_verify_accepts_a_trusted_certificate_naming_the_address(self):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl is not installed")
        with temp_dir() as d:
            cap = loopback_capture(d, flows=10)
            key, pub = new_key(d)
            cert = self_signed_cert(d, [DST])
            srv = HttpServer(DST, tls=cert)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "https", "--deliver-to", "dst", "--https-port", srv.port,
                                     "--https-verify", "--https-ca", cert[0], *NO_BUDGETS, "--config", patient_config(d))
            finally:
                srv.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(srv.requests), 10)
            self.assertEqual(parse_summary(proc.stderr)["https.delivered"], 10)

    def test_https_verify_refuses_an_untrusted_or_misnamed_certificate(self):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl is not installed")
        with temp_dir() as d:
            cap = loopback_capture(d, flows=6)
            key, _ = new_key(d)
            (d / "other").mkdir()
            cert = self_signed_cert(d, [DST])
            misnamed = self_signed_cert(d / "other", [OTHER])  # trusted below, but names another address
            for label, tls, extra in (("untrusted", cert, []), ("misnamed", misnamed, ["--https-ca", misnamed[0]])):
                with self.subTest(label):
                    srv = HttpServer(DST, tls=tls)
                    try:
                        proc, _ = run_sender(cap, key, "--deliver", "https", "--deliver-to", "dst", "--https-port",
                                             srv.port, "--https-verify", *extra, *NO_BUDGETS,
                                             "--config", patient_config(d))
                    finally:
                        srv.close()
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertEqual(srv.requests, [])
                    summary = parse_summary(proc.stderr)
                    self.assertEqual(summary["https.delivered"], 0)
                    self.assertEqual(summary.get("https.failed.tls.verify"), 6, summary)
                    self.assertEqual(len(stdout_reports(proc)), 6)

    def test_redirects_are_not_followed(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=5)
            key, _ = new_key(d)
            elsewhere = HttpServer(OTHER)
            srv = HttpServer(DST, status=307,
                             headers=[("Location", f"http://{OTHER}:{elsewhere.port}/.well-known/overflowd")])
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--deliver-to", "dst", "--http-port", srv.port,
                                     *NO_BUDGETS)
            finally:
                srv.close()
                elsewhere.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(srv.requests), 5)
            self.assertEqual(elsewhere.requests, [])
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["http.failed.status.3xx"], 5)
            self.assertEqual(summary["http.delivered"], 0)

    def test_a_long_response_body_is_cut_off(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=4)
            key, _ = new_key(d)
            srv = HttpServer(DST, status=200, body=b"z" * (4 << 20))
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--deliver-to", "dst", "--http-port", srv.port,
                                     *NO_BUDGETS)
            finally:
                srv.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["http.delivered"], 4)
            self.assertEqual(summary["http.response_capped"], 4)

    def test_path_and_port_are_configurable(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=3)
            key, _ = new_key(d)
            srv = HttpServer(DST)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--deliver-to", "dst", "--http-port", srv.port,
                                     "--http-path", "/reports/in", *NO_BUDGETS)
            finally:
                srv.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual([r["path"] for r in srv.requests], ["/reports/in"] * 3)


if __name__ == "__main__":
    main()

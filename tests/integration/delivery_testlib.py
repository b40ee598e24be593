"""Helpers for the delivery tests: listeners on 127.x addresses (UDP sockets, HTTP and HTTPS
servers, a server that accepts and never answers), PyNaCl checks of the compact wire form, and
loopback captures from `overflowd synth --loopback --src-host/--dst-host`.

Safety: every capture these tests make has flows between 127.x addresses only, so whatever the
Guard decides, the only addresses overflowd could send to are loopback ones.
"""

import base64
import contextlib
import errno
import http.server
import json
import select
import socket
import ssl
import subprocess
import threading
import time

from overflowd_testlib import CaptureV5, make_synth, parse_summary, pynacl_verify, report_lines, run

SRC = "127.0.0.2"
DST = "127.0.0.3"
OTHER = "127.0.0.4"


def loopback_capture(directory, src_hosts=(SRC,), dst_hosts=(DST,), flows=40, name="lo.pcap", seed=1):
    """A capture of `flows` flows (half background, half flood) whose sources and destinations are
    drawn from the given 127.x addresses."""
    args = ["--loopback", "--background-flows", flows // 2, "--flood-flows", flows - flows // 2,
            "--flood-packets", 10, "--seed", seed]
    for h in src_hosts:
        args += ["--src-host", h]
    for h in dst_hosts:
        args += ["--dst-host", h]
    return make_synth(directory, *args, name=name)


def new_key(directory):
    path = directory / "key"
    proc = run(["keygen", path])
    assert proc.returncode == 0, proc.stderr
    return path, proc.stdout.strip()


def run_sender(capture, key, *args, timeout=120):
    """overflowd on `capture` at rate 1 (every flow reported), seeded; returns (proc, elapsed s)."""
    start = time.monotonic()
    proc = run(["-f", capture, "-r", "1", "--seed", "7", "--key", key, *args], timeout=timeout)
    return proc, time.monotonic() - start


def verify_compact(payload):
    """Checks a datagram in the compact wire form with PyNaCl; returns (report, message, key)."""
    import nacl.signing

    obj = json.loads(payload)
    assert isinstance(obj, dict) and set(obj) == {"key", "signature"}, f"not the compact form: {payload[:200]!r}"
    message = nacl.signing.VerifyKey(bytes.fromhex(obj["key"])).verify(base64.b64decode(obj["signature"], validate=True))
    report = json.loads(message)
    assert isinstance(report, dict) and "signature" not in report and "flowdata" in report
    return report, message, obj["key"]


def stdout_reports(proc):
    """{signed message: report} of every stdout line, each checked with PyNaCl."""
    out = {}
    for line in report_lines(proc.stdout):
        report, message, _key = pynacl_verify(line)
        out[message] = report
    return out


def endpoints(report):
    d = report["flowdata"]["data"]
    return d["saddr"], d["daddr"]


def sent_datagrams(sender):
    """The datagrams a finished sender says it sent (udp.sent in its summary), or None."""
    summary = parse_summary(sender.stderr or "")
    return None if summary is None else summary.get("udp.sent", 0)


def receive_expected(socks, expected, timeout=30):
    """{name: [(payload, address)]} read from the non-blocking sockets {name: socket} until
    `expected` datagrams have arrived in all (None: only what is queued now) or `timeout` s pass;
    then whatever else is queued, so that a datagram too many is seen too."""
    got = {name: [] for name in socks}
    deadline = time.monotonic() + timeout
    while True:
        for name, s in socks.items():
            while True:
                try:
                    got[name].append(s.recvfrom(65536))
                except BlockingIOError:
                    break
        total = sum(len(v) for v in got.values())
        if expected is None or total >= expected or time.monotonic() > deadline:
            return got
        select.select(list(socks.values()), [], [], max(0.0, min(0.5, deadline - time.monotonic())))


def udp_ports(capture):
    """The ports of the UDP flows in a capture of `overflowd synth`."""
    return {p for r in CaptureV5(capture).records if r["protocol"] == 17 for p in (r["sport"], r["dport"])}


class UdpListeners:
    """UDP sockets on the same port at several 127.x addresses (the report port of a test). With
    the test's `capture`, the port is none of its UDP flows' ports: the sender never reports a flow
    to or from its report port, so a port the kernel happens to pick from the capture's would take
    a report away."""

    def __init__(self, hosts, capture=None):
        avoid = udp_ports(capture) if capture else set()
        for _attempt in range(20):
            self.socks = {}
            try:
                first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                first.bind((hosts[0], 0))
                self.port = first.getsockname()[1]
                self.socks[hosts[0]] = first
                if self.port in avoid:
                    raise OSError(errno.EADDRINUSE, "a port of the capture's flows")
                for h in hosts[1:]:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self.socks[h] = s
                    s.bind((h, self.port))
                break
            except OSError as e:
                self.close()
                if e.errno != errno.EADDRINUSE:
                    raise
        else:
            raise AssertionError("no UDP port free on all of " + ", ".join(hosts))
        for s in self.socks.values():
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.setblocking(False)

    def drain(self, sender, timeout=30):
        """{host: [payload bytes]} of the datagrams the finished `sender` process sent here."""
        return {h: [p for p, _addr in got] for h, got in self.drain_from(sender, timeout).items()}

    def drain_from(self, sender, timeout=30):
        """{host: [(payload bytes, (from address, port))]}: waits until as many datagrams have
        arrived as the finished `sender` process's summary says it sent (udp.sent), or `timeout` s
        pass (then the test's own assertions say what is missing). Without a summary, what is
        queued now: loopback queues a datagram in the receiver's buffer during the sender's
        sendto, so after the sender has exited nothing is in flight."""
        return receive_expected(self.socks, sent_datagrams(sender), timeout)

    def close(self):
        for s in self.socks.values():
            s.close()


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each POST; answers with the server's configured status, headers and body."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        srv = self.server
        with srv.lock:
            srv.requests.append({"host": srv.server_address[0], "path": self.path,
                                 "content_type": self.headers.get("Content-Type"), "body": body})
        self.send_response(srv.status)
        for k, v in srv.extra_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(srv.response_body)))
        self.end_headers()
        if srv.response_body:
            try:
                self.wfile.write(srv.response_body)
            except OSError:
                pass  # the client stopped reading (the response cap)

    def log_message(self, *args):
        pass


class HttpServer:
    """A threading HTTP(S) server on host:port (port 0: any) that records the POSTs it gets."""

    def __init__(self, host, port=0, tls=None, status=204, headers=(), body=b""):
        self.server = http.server.ThreadingHTTPServer((host, port), Recorder)
        self.server.daemon_threads = True
        self.server.lock = threading.Lock()
        self.server.requests = []
        self.server.status = status
        self.server.extra_headers = list(headers)
        self.server.response_body = body
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts TCP connections and never reads or answers: the slow receiver."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = False
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except (socket.timeout, OSError):
                continue

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        for c in self.held:
            c.close()
        self.sock.close()


def closed_tcp_port(host):
    """A TCP port with nothing listening on `host` (bound then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def self_signed_cert(directory, ips):
    """A self-signed certificate (and key) naming `ips` as IP subjectAltNames, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    san = ",".join(f"IP:{ip}" for ip in ips)
    proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=overflowd-test",
                           "-addext", f"subjectAltName={san}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return cert, key


@contextlib.contextmanager
def closing(*things):
    try:
        yield things
    finally:
        for t in things:
            t.close()

"""Helpers for the end-to-end tests of `overflowd receive`: a receiver on loopback ports picked by
the kernel (read back from its start-up lines), its JSON API, reports signed with PyNaCl (the
reference signer, independent of overflowd's), reports made by overflowd's own sender, and pcap
files of UDP datagrams written with dpkt.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import base64
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import overflowd_testlib as lib
import pg_support

if pg_support.wanted():
    pg_support.shared()  # started before any test forks a child (children use it, OVERFLOWD_TEST_PG_DIR)

LISTENING = re.compile(r"overflowd receive: listening: (udp|http|https|own-exports) \[(.+)\]:(\d+)")
READY = re.compile(r"overflowd receive: key ([0-9a-f]{64}) database")


class Receiver:
    """`overflowd receive` on loopback. Extra args override the defaults (the last flag wins)."""

    def __init__(self, directory, *args, db=None, udp=True, http=True):
        self.directory = Path(directory)
        if db is None and pg_support.wanted():
            db = pg_support.shared().database_for(self.directory)  # OVERFLOWD_TEST_DB=postgres: the PostgreSQL store
        self.db = db if isinstance(db, str) and db.startswith("postgres") else (
            Path(db) if db else self.directory / "receive.db")
        base = ["receive", "--db", self.db, "--bind", "127.0.0.1", "--http-bind", "127.0.0.1",
                "--own-exports-bind", "127.0.0.1", "--udp-port", "0" if udp else "off",
                "--http-port", "0" if http else "off", "--batch-ms", "50"]
        self.live = lib.LiveProcess(base + [str(a) for a in args])
        self.ports = {}
        self.key = None
        deadline = time.monotonic() + 60  # generous: ASan at load 30, PostgreSQL's migrations
        while self.key is None:
            line = self.live.wait_stderr(lambda l: LISTENING.search(l) or READY.search(l),
                                         timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                code = self.live.proc.poll()
                self.live.kill()
                raise AssertionError(f"the receiver did not start (exit {code}):\n" + "\n".join(self.live.stderr_seen))
            m = LISTENING.search(line)
            if m:
                self.ports[m.group(1)] = int(m.group(3))
            m = READY.search(line)
            if m:
                self.key = m.group(1)

    # -- the API -----------------------------------------------------------------------------

    def url(self, path, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.ports[scheme]}{path}"

    def get(self, path):
        with urllib.request.urlopen(self.url(path), timeout=30) as r:
            return json.loads(r.read())

    def request(self, method, path, body=None, headers=None, scheme="http"):
        """(status, parsed JSON body or raw bytes) of one request; HTTP errors are returned too."""
        req = urllib.request.Request(self.url(path, scheme), data=body, method=method, headers=headers or {})
        ctx = None
        if scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    def post(self, body, scheme="http", headers=None):
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", "/.well-known/overflowd", body, h, scheme)

    def reports(self, **params):
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return self.get("/api/reports?" + q)["reports"]

    def counters(self):
        return self.get("/api/stats")["counters"]

    def wait_counter(self, name, at_least, timeout=60):
        """Waits until a persistent counter reaches `at_least` (UDP is asynchronous); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.counters().get(name, 0)
            if value >= at_least or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    # -- inputs ------------------------------------------------------------------------------

    def send_udp(self, payloads, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            for p in payloads:
                s.sendto(p.encode() if isinstance(p, str) else p, (host, self.ports["udp"]))
                time.sleep(0.001)  # a gentle pace: the test is about storage, not socket buffers

    def send_own_exports(self, payloads):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in payloads:
                s.sendto(p, ("127.0.0.1", self.ports["own-exports"]))

    # -- the end -----------------------------------------------------------------------------

    def stop(self):
        code, _, stderr = self.live.stop()
        return code, stderr

    def kill9(self):
        self.live.kill()


# ---------------------------------------------------------------------------------------------
# Reports


def signing_key(n):
    import nacl.signing
    return nacl.signing.SigningKey(bytes([n]) * 32)


def flow_data(saddr="192.0.2.1", daddr="198.51.100.7", sport=40000, dport=80, protocol=6, stime=None, etime=None,
              exporter="203.0.113.1", pcount=10, bcount=1000, input_if=3, src_as=64500):
    now_ms = int(time.time() * 1000)
    return {"bcount": bcount, "daddr": daddr, "dport": dport, "dst_as": 64501, "dst_mask": 24,
            "etime": etime if etime is not None else now_ms - 1000, "exporter": exporter, "flags": 2,
            "input": input_if, "nexthop": "0.0.0.0", "output": 4, "pcount": pcount, "protocol": protocol,
            "saddr": saddr, "sampling_interval": 1, "sport": sport, "src_as": src_as, "src_mask": 24,
            "stime": stime if stime is not None else now_ms - 5000, "tos": 0}


class Signed:
    """A report signed with PyNaCl, in both wire forms."""

    def __init__(self, key, email="noc@example.net", identity="Example Net", data=None, when=None):
        self.report = {"contact": {"email": email, "identity": identity},
                       "flowdata": {"data": data or flow_data(), "sourcetype": {"type": "Netflow", "version": 5}},
                       "metadata": {"class": "INFORMATIONAL", "info": "FLOWSEEN",
                                    "time": round(when if when is not None else time.time(), 6)}}
        self.message = lib.canonical(self.report).encode()
        signed = key.sign(self.message)
        self.key = key.verify_key.encode().hex()
        self.block = {"key": self.key, "signature": base64.b64encode(bytes(signed)).decode()}
        self.compact = lib.canonical(self.block)
        self.full = self.message[:-1].decode() + ',"signature":' + self.compact + "}"


def sender_reports(directory, key_path, email, identity, *synth_args):
    """Reports made by overflowd's own sender at rate 1 on a small synthetic loopback capture."""
    pcap = lib.make_synth(directory, "--loopback", "--background-flows", "12", "--flood-flows", "8", *synth_args,
                          name=f"synth-{Path(key_path).name}.pcap")
    proc = lib.run(["-f", pcap, "-r", "1", "--key", key_path, "--email", email, "--identity", identity, "-q"])
    if proc.returncode != 0:
        raise AssertionError(f"the sender failed ({proc.returncode}): {proc.stderr}")
    lines = lib.report_lines(proc.stdout)
    for line in lines:
        lib.pynacl_verify(line)  # the sender's output is sound before the receiver sees it
    return lines


def compact_of(line):
    return lib.canonical(json.loads(line)["signature"])


def write_udp_pcap(path, datagrams, dport=65535):
    """A pcap of Ethernet/IPv4/UDP frames: datagrams are (src, dst, payload bytes) or
    (src, dst, payload, dport)."""
    import dpkt

    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for i, d in enumerate(datagrams):
            src, dst, payload = d[0], d[1], d[2]
            port = d[3] if len(d) > 3 else dport
            udp = dpkt.udp.UDP(sport=40000 + i, dport=port, data=payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_UDP, data=udp, ttl=64)
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02",
                                         type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            w.writepkt(bytes(eth), ts=1_700_000_000 + i)


def pynacl_check_stored(report_json):
    """Re-verifies a report as the API returns it with raw=1, with PyNaCl alone."""
    import nacl.signing
    signed = base64.b64decode(report_json["signed"]["signature"])
    return nacl.signing.VerifyKey(bytes.fromhex(report_json["signed"]["key"])).verify(signed)


def self_signed_cert(directory):
    """A throwaway certificate for 127.0.0.1 made with the openssl command, or None without it."""
    cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return cert, key

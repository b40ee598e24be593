"""Shared helpers for the end-to-end tests of the overflowd executable.

Run by CTest with OVERFLOWD (the binary), OVERFLOWD_SHARED_DATA (the real captures) and
OVERFLOWD_BUILD (the build folder) set; by hand, without them, the paths default to
../../build/overflowd and ../../../shared/data relative to this file.

Every reference here is independent of overflowd's own code: NetFlow v5 is decoded with dpkt (for
the frame) and struct (for the v5 header and records, per Cisco's v5 export format), signatures are
checked with PyNaCl, and canonical JSON is Python's json.dumps with sorted keys and no white space.
"""

import base64
import contextlib
import ipaddress
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# Where things are


def binary_path():
    env = os.environ.get("OVERFLOWD")
    return Path(env) if env else (HERE / "../../build/overflowd").resolve()


def shared_data_dir():
    env = os.environ.get("OVERFLOWD_SHARED_DATA")
    return Path(env) if env else (HERE / "../../../shared/data").resolve()


def build_dir():
    env = os.environ.get("OVERFLOWD_BUILD")
    return Path(env) if env else (HERE / "../../build").resolve()


def require_binary():
    """The binary, or a skip when run by hand before a build (under CTest it must exist)."""
    path = binary_path()
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if os.environ.get("OVERFLOWD"):
        raise AssertionError(f"OVERFLOWD={path} is not an executable file")
    raise unittest.SkipTest(f"no overflowd binary at {path}: build it first (ninja -C build overflowd)")


def netflow_4m():
    """Path of ../shared/data/netflow_4M.pcap, or None when absent."""
    path = shared_data_dir() / "netflow_4M.pcap"
    return path if path.is_file() else None


def require_netflow_4m():
    path = netflow_4m()
    if path is None:
        raise unittest.SkipTest(f"real capture absent: {shared_data_dir() / 'netflow_4M.pcap'} "
                                "(../shared/data is not part of a fresh clone)")
    return path


# Facts about netflow_4M.pcap from ../shared/data/README.md (checked by the reference decoder too).
NETFLOW_4M_PORT = 9500
NETFLOW_4M_COMPLETE_PACKETS = 2708
NETFLOW_4M_RECORDS = 78684
NETFLOW_4M_EXPORTER = "122.166.4.242"

SYNTH_PORT = 2055
REPORT_PORT = 65535  # UDP flows to or from it are never reported (they are the reports themselves)

# ---------------------------------------------------------------------------------------------
# Running the binary


def run(args, input=None, timeout=120, cwd=None, env=None, check_crash=True):
    """Runs overflowd with `args` (strings); returns CompletedProcess with text stdout/stderr."""
    cmd = [str(require_binary())] + [str(a) for a in args]
    proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, cwd=cwd, env=env,
                          text=True, encoding="utf-8", errors="replace")
    if check_crash and proc.returncode < 0:
        raise AssertionError(f"{cmd} died of signal {-proc.returncode}; stderr:\n{proc.stderr}")
    if check_crash and sanitizer_report(proc.stderr):
        raise AssertionError(f"{cmd}: a sanitizer reported an error; stderr:\n{proc.stderr}")
    return proc


def sanitizer_report(stderr):
    """Whether stderr holds an AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report
    (make test-asan runs these tests on the sanitized binary; a report there is a failure even when
    the exit code is the one a test expects)."""
    return any(marker in (stderr or "") for marker in
               ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: "))


def stderr_lines(proc):
    return [l for l in proc.stderr.splitlines() if l.strip()]


def report_lines(text):
    return [l for l in text.splitlines() if l.strip()]


def parse_summary(stderr):
    """The counters of the 'overflowd: summary' block on stderr, as {name: int}; None if absent."""
    lines = stderr.splitlines()
    try:
        at = lines.index("overflowd: summary")
    except ValueError:
        return None
    counters = {}
    for line in lines[at + 1:]:
        if not line.startswith("  "):
            break
        name, value = line.split()
        counters[name] = int(value)
    return counters


@contextlib.contextmanager
def temp_dir():
    d = tempfile.mkdtemp(prefix="overflowd-it-")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def make_synth(directory, *extra, name="synth.pcap"):
    """Writes a synthetic capture with `overflowd synth` and returns its path."""
    out = Path(directory) / name
    proc = run(["synth", "--out", out, *extra])
    if proc.returncode != 0 or not out.is_file():
        raise AssertionError(f"overflowd synth failed ({proc.returncode}): {proc.stderr}")
    return out


# ---------------------------------------------------------------------------------------------
# NetFlow v5, decoded independently: dpkt for Ethernet/IP/UDP, struct for the v5 layout.
#
# Header (24 bytes): version, count, sys_uptime, unix_secs, unix_nsecs, flow_sequence,
#   engine_type, engine_id, sampling (2 bits mode, 14 bits interval).
# Record (48 bytes): srcaddr, dstaddr, nexthop, input, output, dPkts, dOctets, First, Last,
#   srcport, dstport, pad1, tcp_flags, prot, tos, src_as, dst_as, src_mask, dst_mask, pad2.

V5_HEADER = struct.Struct("!HHIIIIBBH")
V5_RECORD = struct.Struct("!4s4s4sHHIIIIHHBBBBHHBBH")
assert V5_HEADER.size == 24 and V5_RECORD.size == 48


def v5_unix_ms(sys_uptime, unix_secs, unix_nsecs, stamp):
    """Unix milliseconds of an uptime stamp: the header's time minus (sys_uptime - stamp)."""
    behind = (sys_uptime - stamp) & 0xFFFFFFFF
    if behind >= 1 << 31:  # a stamp just after sys_uptime (the difference is signed, mod 2^32)
        behind -= 1 << 32
    return unix_secs * 1000 + unix_nsecs // 10**6 - behind


def decode_v5_payload(payload, exporter):
    """The expected report data of every record of one v5 datagram (dicts with the report's keys),
    or None when the payload is not a well-formed v5 datagram."""
    if len(payload) < 24:
        return None
    version, count, sys_uptime, unix_secs, unix_nsecs, _seq, _etype, _eid, sampling = \
        V5_HEADER.unpack_from(payload, 0)
    if version != 5 or not 1 <= count <= 30 or len(payload) != 24 + 48 * count:
        return None
    interval = sampling & 0x3FFF
    out = []
    for i in range(count):
        (src, dst, nexthop, input_if, output_if, pkts, octets, first, last, sport, dport, _pad1, flags,
         proto, tos, src_as, dst_as, src_mask, dst_mask, _pad2) = V5_RECORD.unpack_from(payload, 24 + 48 * i)
        out.append({
            "saddr": str(ipaddress.IPv4Address(src)),
            "daddr": str(ipaddress.IPv4Address(dst)),
            "nexthop": str(ipaddress.IPv4Address(nexthop)),
            "input": input_if,
            "output": output_if,
            "pcount": pkts,
            "bcount": octets,
            "stime": v5_unix_ms(sys_uptime, unix_secs, unix_nsecs, first),
            "etime": v5_unix_ms(sys_uptime, unix_secs, unix_nsecs, last),
            "sport": sport,
            "dport": dport,
            "flags": flags,
            "protocol": proto,
            "tos": tos,
            "src_as": src_as,
            "dst_as": dst_as,
            "src_mask": src_mask,
            "dst_mask": dst_mask,
            "exporter": exporter,
            "sampling_interval": interval if interval else 1,
        })
    return out


class CaptureV5:
    """Every v5 record of a classic-pcap Ethernet capture, decoded with dpkt + struct."""

    def __init__(self, path, port=None):
        import dpkt  # python3-dpkt

        self.records = []          # expected report data, one dict per record
        self.complete_packets = 0  # packets captured whole
        self.cut_packets = 0       # the file ends inside the packet, or the snap length cut it
        self.datagrams = 0         # well-formed v5 datagrams
        self.other = 0             # complete packets that are not v5 exports
        with open(path, "rb") as f:
            reader = dpkt.pcap.Reader(f)
            if reader.datalink() != dpkt.pcap.DLT_EN10MB:
                raise AssertionError(f"{path}: link type {reader.datalink()}, the reference reads Ethernet only")
            for _ts, frame in reader:
                if len(frame) < 14 + 20:
                    self.cut_packets += 1
                    continue
                eth = dpkt.ethernet.Ethernet(frame)
                ip = eth.data
                if not isinstance(ip, dpkt.ip.IP):
                    self.complete_packets += 1
                    self.other += 1
                    continue
                if ip.len > len(frame) - 14:  # fewer bytes on file than the IP header says
                    self.cut_packets += 1
                    continue
                self.complete_packets += 1
                udp = ip.data
                if not isinstance(udp, dpkt.udp.UDP) or (port is not None and port not in (udp.sport, udp.dport)):
                    self.other += 1
                    continue
                payload = bytes(ip)[ip.hl * 4 + 8: ip.len]
                records = decode_v5_payload(payload, socket.inet_ntoa(ip.src))
                if records is None:
                    self.other += 1
                    continue
                self.datagrams += 1
                self.records.extend(records)

    def reportable(self):
        """The records the report port rule lets through (UDP to or from 65535 is never reported)."""
        return [r for r in self.records if not is_report_port_flow(r)]


def is_report_port_flow(r):
    return r["protocol"] == 17 and REPORT_PORT in (r["sport"], r["dport"])


def flow_key(d):
    """The 5-tuple of a record or report data, to pair them up."""
    return (d["saddr"], d["daddr"], d["sport"], d["dport"], d["protocol"])


def build_v5_datagram(records, sys_uptime=3_600_000, unix_secs=1_700_000_000, unix_nsecs=0, sequence=0,
                      sampling_interval=0):
    """A NetFlow v5 datagram built by hand. `records` are dicts with saddr, daddr and optionally
    nexthop, input, output, pcount, bcount, first, last, sport, dport, flags, protocol, tos,
    src_as, dst_as, src_mask, dst_mask."""
    out = V5_HEADER.pack(5, len(records), sys_uptime, unix_secs, unix_nsecs, sequence, 0, 0,
                         (0x4000 | sampling_interval) if sampling_interval else 0)
    for r in records:
        out += V5_RECORD.pack(
            ipaddress.IPv4Address(r["saddr"]).packed, ipaddress.IPv4Address(r["daddr"]).packed,
            ipaddress.IPv4Address(r.get("nexthop", "0.0.0.0")).packed, r.get("input", 0), r.get("output", 0),
            r.get("pcount", 1), r.get("bcount", 64), r.get("first", sys_uptime - 1000),
            r.get("last", sys_uptime - 10), r.get("sport", 0), r.get("dport", 0), 0, r.get("flags", 0),
            r.get("protocol", 6), r.get("tos", 0), r.get("src_as", 0), r.get("dst_as", 0),
            r.get("src_mask", 0), r.get("dst_mask", 0), 0)
    return out


# ---------------------------------------------------------------------------------------------
# Reports, checked with PyNaCl


def canonical(obj):
    """Canonical JSON as RFC 8785 lays it out for this data (ASCII keys, integers, and floats whose
    shortest round-trip form Python and ECMAScript print alike): sorted keys, no white space."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ReportError(AssertionError):
    pass


def pynacl_verify(line):
    """Checks one report line with PyNaCl. Returns (report without signature, signed message bytes,
    public key hex). Raises ReportError saying what is wrong."""
    import nacl.exceptions
    import nacl.signing

    try:
        report = json.loads(line)
    except ValueError as e:
        raise ReportError(f"not JSON: {e}: {line[:200]}")
    if not isinstance(report, dict) or not isinstance(report.get("signature"), dict):
        raise ReportError(f"no signature block: {line[:200]}")
    block = report.pop("signature")
    if set(block) != {"key", "signature"}:
        raise ReportError(f"signature block has keys {sorted(block)}")
    key = block["key"]
    if not (isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
        raise ReportError(f"key is not 64 lower-case hex digits: {key!r}")
    try:
        signed = base64.b64decode(block["signature"], validate=True)
    except ValueError as e:
        raise ReportError(f"signature is not base64: {e}")
    try:
        message = nacl.signing.VerifyKey(bytes.fromhex(key)).verify(signed)
    except nacl.exceptions.BadSignatureError:
        raise ReportError("PyNaCl: bad signature")
    if json.loads(message) != report:
        raise ReportError(f"signed message is not the report without its signature block:\n"
                          f"  message {message[:300]!r}\n  report  {canonical(report)[:300]!r}")
    if message != canonical(report).encode("utf-8"):
        raise ReportError(f"signed message is not canonical JSON:\n  message   {message[:300]!r}\n"
                          f"  canonical {canonical(report)[:300].encode()!r}")
    return report, message, key


# ---------------------------------------------------------------------------------------------
# Live processes


class LiveProcess:
    """overflowd running in the background, its stdout and stderr read line by line by threads."""

    def __init__(self, args, stdin=subprocess.DEVNULL):
        cmd = [str(require_binary())] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, encoding="utf-8", errors="replace", bufsize=1)
        self.stdout = queue.Queue()
        self.stderr = queue.Queue()
        self.stderr_seen = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def wait_stderr(self, predicate, timeout=30):
        """Waits for a stderr line that satisfies `predicate`; returns it (or None at the time-out)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.stderr.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.stderr_seen.append(line)
            if predicate(line):
                return line

    def read_reports(self, n, timeout=10):
        """Up to `n` stdout lines, waiting at most `timeout` seconds in all."""
        import time

        lines = []
        deadline = time.monotonic() + timeout
        while len(lines) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.stdout.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
        return lines

    def counters(self, timeout=30):
        """SIGUSR1, then the counters block it prints on stderr as {name: value} (the process goes
        on). The sender publishes them after a whole batch, so they never count half a datagram."""
        import signal

        self.proc.send_signal(signal.SIGUSR1)
        if self.wait_stderr(lambda l: l == "overflowd: counters", timeout=timeout) is None:
            raise AssertionError(f"no counters after SIGUSR1: {self.stderr_seen}")
        counts = {}
        while True:
            line = self.wait_stderr(lambda l: True, timeout=timeout)
            if line is None:
                raise AssertionError(f"the counters block did not end: {self.stderr_seen}")
            if line == "overflowd: end of counters":
                return counts
            if line.startswith("  "):  # a counter; another thread's log line may come in between
                name, value = line.split()
                counts[name] = int(value)

    def wait_counters(self, predicate, timeout=60):
        """The counters once `predicate` holds for them; fails at the time-out."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            c = self.counters()
            if predicate(c):
                return c
            if time.monotonic() > deadline:
                raise AssertionError(f"the counters did not get there within {timeout} s: {c}")
            time.sleep(0.05)  # between polls only; the loop ends on the condition

    def stop(self, sig=None, timeout=60):  # generous: an ASan build at load 30 checks for leaks at exit
        """Sends `sig` (default SIGTERM), waits for the exit; returns (code, remaining stdout lines,
        whole stderr)."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"overflowd did not exit within {timeout} s of the signal")
        for t in self._threads:
            t.join(timeout=5)
        self._close()
        rest = []
        while True:
            line = self.stdout.get_nowait() if not self.stdout.empty() else None
            if line is None:
                break
            rest.append(line)
        while not self.stderr.empty():
            line = self.stderr.get_nowait()
            if line is not None:
                self.stderr_seen.append(line)
        stderr = "\n".join(self.stderr_seen) + "\n"
        if sanitizer_report(stderr):
            raise AssertionError(f"overflowd: a sanitizer reported an error; stderr:\n{stderr}")
        return code, rest, stderr

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        self._close()

    def _close(self):
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream and not stream.closed:
                stream.close()


def free_udp_port(host="127.0.0.1"):
    """A UDP port that was free a moment ago on `host`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# The main wrapper: exit 77 when every test skipped, so CTest shows the file as skipped.


def main():
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    result = program.result
    skipped_tests = [t for t, _ in result.skipped if isinstance(t, unittest.TestCase)]
    fixture_skips = len(result.skipped) - len(skipped_tests)  # setUpClass / setUpModule skips
    ran = result.testsRun - len(skipped_tests)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    print(f"{Path(sys.argv[0]).stem}: {ran - failed if ran >= failed else 0} passed, {failed} failed, "
          f"{skipped} skipped", flush=True)
    if not result.wasSuccessful():
        sys.exit(1)
    if ran == 0 and (skipped_tests or fixture_skips):
        for test, reason in result.skipped:
            print(f"skipped: {test}: {reason}", flush=True)
        sys.exit(77)
    if ran == 0:
        print("no tests ran", flush=True)
        sys.exit(1)
    sys.exit(0)

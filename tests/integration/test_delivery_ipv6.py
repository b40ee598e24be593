"""Delivery to IPv6 endpoints, end to end, on ::1 only: an IPFIX export (built here by hand from
RFC 7011) carries IPv6 flows between ::1 and ::1; the sender reports them over UDP to [::1] and
over HTTP to http://[::1]:PORT/, and every report that arrives verifies with PyNaCl and names its
flow. Without an allow-list, ::1 (a special-purpose address) gets nothing."""

import http.server
import socket
import struct
import threading
import unittest

from delivery_testlib import new_key, receive_expected, run_sender, sent_datagrams, stdout_reports, verify_compact
from overflowd_testlib import ipv6_loopback_available, main, parse_summary, require_binary, temp_dir

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off"]
LOOP6 = socket.inet_pton(socket.AF_INET6, "::1")


def ipfix_datagram(flows, export_time=1_700_000_000):
    """One IPFIX message: a template set (id 256) then a data set with one record per flow."""
    # sourceIPv6Address 27, destinationIPv6Address 28, sourceTransportPort 7, destinationTransportPort 11,
    # protocolIdentifier 4, packetDeltaCount 2, octetDeltaCount 1, flowStartSeconds 150, flowEndSeconds 151
    fields = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8), (150, 4), (151, 4)]
    template = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", i, n) for i, n in fields)
    tset = struct.pack("!HH", 2, 4 + len(template)) + template
    records = b"".join(LOOP6 + LOOP6 + struct.pack("!HHBQQII", sport, dport, 17, 10, 1000, export_time - 5, export_time - 1)
                       for sport, dport in flows)
    dset = struct.pack("!HH", 256, 4 + len(records)) + records
    body = tset + dset
    return struct.pack("!HHIII", 10, 16 + len(body), export_time, 1, 42) + body


def write_capture(path, payload):
    """A classic pcap with one Ethernet/IPv4/UDP frame 127.0.0.1:4739 -> 127.0.0.1:4739."""
    udp = struct.pack("!HHHH", 4739, 4739, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame)


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.bodies.append((self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class Http6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


FLOWS = [(40000 + i, 9000 + i) for i in range(12)]


class Ipv6Delivery(unittest.TestCase):
    def setUp(self):
        require_binary()
        if not ipv6_loopback_available():
            self.skipTest("IPv6 loopback (::1) is not available on this machine")

    def capture(self, d):
        path = d / "v6.pcap"
        write_capture(path, ipfix_datagram(FLOWS))
        return path

    def test_udp_reports_reach_ipv6_endpoints_and_verify(self):
        with temp_dir() as d:
            cap = self.capture(d)
            key, pub = new_key(d)
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.bind(("::1", 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", port,
                                     "--allow-destination", "::1/128", *NO_BUDGETS)
                got = [p for p, _addr in receive_expected({"::1": sock}, sent_datagrams(proc))["::1"]]
            finally:
                sock.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            reports = stdout_reports(proc)
            self.assertEqual(len(reports), len(FLOWS))
            seen = set()
            for payload in got:
                report, message, k = verify_compact(payload)
                self.assertEqual(k, pub)
                data = report["flowdata"]["data"]
                self.assertEqual((data["saddr"], data["daddr"]), ("::1", "::1"))
                self.assertEqual(report["flowdata"]["sourcetype"], {"type": "IPFIX", "version": 10})
                seen.add((data["sport"], data["dport"]))
            # Source and destination are the same address: each flow goes to it once.
            self.assertEqual(seen, set(FLOWS))
            self.assertEqual(len(got), len(FLOWS))
            self.assertEqual(parse_summary(proc.stderr)["udp.sent"], len(FLOWS))

    def test_http_reports_reach_ipv6_endpoints_in_brackets(self):
        with temp_dir() as d:
            cap = self.capture(d)
            key, _ = new_key(d)
            server = Http6Server(("::1", 0), Recorder)
            server.lock = threading.Lock()
            server.bodies = []
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--http-port", server.server_address[1],
                                     "--allow-destination", "::1/128", *NO_BUDGETS)
            finally:
                server.shutdown()
                server.server_close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            lines = {line for _, line in server.bodies}
            self.assertEqual({p for p, _ in server.bodies}, {"/.well-known/overflowd"})
            self.assertEqual(len(server.bodies), len(FLOWS))
            stdout = {line.encode() for line in proc.stdout.splitlines() if line.strip()}
            self.assertEqual(lines, stdout, "HTTP bodies are the stdout lines, byte for byte")

    def test_without_allow_list_ipv6_loopback_gets_nothing(self):
        with temp_dir() as d:
            cap = self.capture(d)
            key, _ = new_key(d)
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.bind(("::1", 0))
            sock.setblocking(False)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", sock.getsockname()[1], *NO_BUDGETS)
                # The sender has exited, and loopback queues a datagram during its sendto: nothing in flight.
                with self.assertRaises(BlockingIOError):
                    sock.recv(65536)
            finally:
                sock.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary.get("udp.sent", 0), 0)
            self.assertEqual(summary["guard.suppressed.special_purpose"], 2 * len(FLOWS))


if __name__ == "__main__":
    main()

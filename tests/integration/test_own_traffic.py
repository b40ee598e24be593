"""Reports never trigger reports (issue 13 item 5), on loopback only: the live sender, delivering
over UDP and HTTP to 127.0.0.0/8 (allow-listed) and told that 127.0.0.9 is its own address, gets
one v5 datagram holding a flow of each kind it must skip and one it must report. Each skip lands
in its own counter (sampler.skipped.delivery_tcp, .report_icmp, .own_address, .report_port) and
only the ordinary flow is reported.

The same end to end through a real exporter and network namespaces is test_own_traffic_netns.py."""

import signal
import socket
import unittest

import overflowd_testlib as lib

OWN = "127.0.0.9"
PEER = "127.0.0.20"


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnTraffic(unittest.TestCase):
    def test_flows_of_own_addresses_are_skipped_and_counted_by_kind(self):
        lib.require_binary()
        report_port = lib.free_udp_port()
        http_port = free_tcp_port()  # nothing listens there: the POST is refused at once
        port = lib.free_udp_port()
        with lib.temp_dir() as d, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as catcher:
            catcher.bind(("127.0.0.1", report_port))  # reports to 127.0.0.1 end here, unread
            live = lib.LiveProcess(["-u", port, "--bind", "127.0.0.1", "-r", "1", "--seed", "1",
                                    "--key", d / "k", "--deliver", "udp,http", "--report-port", report_port,
                                    "--http-port", http_port, "--allow-destination", "127.0.0.0/8",
                                    "--budget", "off", "--per-destination-budget", "off",
                                    "--own-address", OWN])
            try:
                line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=60)
                self.assertIsNotNone(line, live.stderr_seen)
                self.assertIn("listening", line)
                flows = [
                    # HTTP(S) delivery from us: delivery_tcp
                    dict(saddr=OWN, daddr=PEER, sport=40000, dport=http_port, protocol=6, pcount=5),
                    # ICMP port unreachable (type 3 code 3, in the v5 destination port) to us: report_icmp
                    dict(saddr=PEER, daddr=OWN, sport=0, dport=3 << 8 | 3, protocol=1, pcount=1),
                    # anything else of ours: own_address
                    dict(saddr=OWN, daddr=PEER, sport=5000, dport=53, protocol=17, pcount=2),
                    # a report itself, between others: report_port
                    dict(saddr="127.0.0.21", daddr=PEER, sport=5000, dport=report_port, protocol=17, pcount=1),
                    # an ordinary flow of others: reported
                    dict(saddr="127.0.0.21", daddr="127.0.0.22", sport=41000, dport=22, protocol=6, pcount=7),
                ]
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(lib.build_v5_datagram(flows), ("127.0.0.1", port))
                reports = live.read_reports(1, timeout=60)
                self.assertEqual(len(reports), 1, live.stderr_seen)
            finally:
                code, rest, stderr = live.stop(signal.SIGTERM)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(rest, [], "only the ordinary flow is reported")
        lib.pynacl_verify(reports[0])  # a signed report
        counters = lib.parse_summary(stderr)
        self.assertIsNotNone(counters, stderr)
        self.assertEqual(counters.get("sampler.skipped.delivery_tcp"), 1, counters)
        self.assertEqual(counters.get("sampler.skipped.report_icmp"), 1, counters)
        self.assertEqual(counters.get("sampler.skipped.own_address"), 1, counters)
        self.assertEqual(counters.get("sampler.skipped.report_port"), 1, counters)
        self.assertEqual(counters.get("sampler.kept"), 1, counters)
        self.assertIn('"daddr":"127.0.0.22"', reports[0])

    def test_without_own_addresses_those_flows_are_reported(self):
        """The control: the same flows without --own-address are reported (the skip is what
        the option and the interfaces' addresses turn on, not something else)."""
        lib.require_binary()
        with lib.temp_dir() as d:
            flows = [dict(saddr=OWN, daddr=PEER, sport=5000, dport=53, protocol=17, pcount=2),
                     dict(saddr=PEER, daddr=OWN, sport=0, dport=3 << 8 | 3, protocol=1, pcount=1)]
            port = lib.free_udp_port()
            live = lib.LiveProcess(["-u", port, "--bind", "127.0.0.1", "-r", "1", "--seed", "1", "--key", d / "k"])
            try:
                line = live.wait_stderr(lambda l: "listening" in l or "error" in l, timeout=60)
                self.assertIn("listening", line or "")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(lib.build_v5_datagram(flows), ("127.0.0.1", port))
                reports = live.read_reports(2, timeout=60)
            finally:
                code, _rest, stderr = live.stop(signal.SIGTERM)
            self.assertEqual(code, 0, stderr)
            self.assertEqual(len(reports), 2, stderr)
            counters = lib.parse_summary(stderr)
            self.assertNotIn("sampler.skipped.own_address", counters)


if __name__ == "__main__":
    lib.main()

"""At rate 1 every flow record becomes one report (except the report port's own UDP flows); every
report verifies with PyNaCl, its signed message is the report without its signature block as
canonical JSON, and its flow data equals the record as decoded independently with dpkt + struct."""

import collections
import time
import unittest

import dpkt

import overflowd_testlib as lib


class _RateOneReports:
    """Checks shared by every capture; subclasses set up cls.ref (CaptureV5), cls.lines and the
    wall-clock bounds of the run."""

    expected_exporter = None
    expected_datagrams = None

    @classmethod
    def run_at_rate_one(cls, capture, port):
        cls.ref = lib.CaptureV5(capture, port=port)
        cls.started = time.time()
        proc = lib.run(["-f", capture, "-r", "1", "-q"], timeout=300)
        cls.finished = time.time()
        if proc.returncode != 0:
            raise AssertionError(f"overflowd exited {proc.returncode}: {proc.stderr}")
        cls.lines = lib.report_lines(proc.stdout)
        cls.verified = []  # filled by the signature test, reused by the others
        cls.failures = []
        for n, line in enumerate(cls.lines, 1):
            try:
                cls.verified.append(lib.pynacl_verify(line))
            except lib.ReportError as e:
                cls.failures.append(f"report {n}: {e}")

    def test_reference_decoder_saw_the_capture(self):
        self.assertGreater(len(self.ref.records), 0)
        if self.expected_datagrams is not None:
            self.assertEqual(self.ref.datagrams, self.expected_datagrams)

    def test_one_report_per_record_except_report_port_udp_flows(self):
        self.assertEqual(len(self.lines), len(self.ref.reportable()),
                         f"{len(self.ref.records)} records, {len(self.ref.records) - len(self.ref.reportable())} "
                         f"of them UDP to or from port {lib.REPORT_PORT}")

    def test_every_report_verifies_with_pynacl_as_canonical_json(self):
        self.assertEqual(self.failures[:5], [], f"{len(self.failures)} of {len(self.lines)} reports fail")
        self.assertEqual(len(self.verified), len(self.lines))

    def test_report_line_is_canonical_with_signature_last(self):
        import json

        for line in self.lines[:2000]:
            full = json.loads(line)
            self.assertEqual(line, lib.canonical(full))
            self.assertEqual(list(full)[-1], "signature")

    def test_one_key_signs_every_report(self):
        self.assertEqual(len({key for _, _, key in self.verified}), 1)

    def test_flow_data_equals_the_independently_decoded_records(self):
        expected = collections.Counter(lib.canonical(r) for r in self.ref.reportable())
        actual = collections.Counter(lib.canonical(report["flowdata"]["data"]) for report, _, _ in self.verified)
        if expected == actual:
            return
        # Say which flows differ, paired by their 5-tuple.
        import json

        by_key = collections.defaultdict(list)
        for r in self.ref.reportable():
            by_key[lib.flow_key(r)].append(r)
        problems = []
        for text in (actual - expected):
            got = json.loads(text)
            candidates = by_key.get(lib.flow_key(got), [])
            if not candidates:
                problems.append(f"report for a flow not in the capture: {text}")
                continue
            want = min(candidates, key=lambda c: sum(c.get(k) != got.get(k) for k in set(c) | set(got)))
            diff = {k: (want.get(k), got.get(k)) for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)}
            problems.append(f"{lib.flow_key(got)}: (record, report) differ in {diff}")
            if len(problems) >= 10:
                break
        missing = sum((expected - actual).values())
        self.fail(f"{missing} records have no equal report; first differences:\n  " + "\n  ".join(problems))

    def test_report_names_the_exporter(self):
        exporters = {report["flowdata"]["data"]["exporter"] for report, _, _ in self.verified}
        self.assertEqual(exporters, {self.expected_exporter})

    def test_report_layout(self):
        for report, _, _ in self.verified[:5000]:
            self.assertEqual(set(report), {"flowdata", "metadata"})  # no contact block without --email/--identity
            self.assertEqual(report["flowdata"]["sourcetype"], {"type": "Netflow", "version": 5})
            self.assertEqual(set(report["flowdata"]), {"data", "sourcetype"})
            meta = report["metadata"]
            self.assertEqual((meta["class"], meta["info"]), ("INFORMATIONAL", "FLOWSEEN"))
            self.assertIsInstance(meta["time"], (int, float))
            self.assertGreaterEqual(meta["time"], self.started - 1)
            self.assertLessEqual(meta["time"], self.finished + 1)

    def test_no_report_for_udp_flows_of_the_report_port(self):
        offending = [report["flowdata"]["data"] for report, _, _ in self.verified
                     if lib.is_report_port_flow(report["flowdata"]["data"])]
        self.assertEqual(offending, [])


class RealCaptureAtRateOne(_RateOneReports, unittest.TestCase):
    """netflow_4M.pcap from ../shared/data."""

    expected_exporter = lib.NETFLOW_4M_EXPORTER
    expected_datagrams = lib.NETFLOW_4M_COMPLETE_PACKETS

    @classmethod
    def setUpClass(cls):
        cls.run_at_rate_one(lib.require_netflow_4m(), lib.NETFLOW_4M_PORT)

    def test_capture_facts_from_the_data_readme(self):
        self.assertEqual(len(self.ref.records), lib.NETFLOW_4M_RECORDS)
        self.assertEqual(sum(r["pcount"] for r in self.ref.records), 2_862_857)
        self.assertEqual(sum(r["bcount"] for r in self.ref.records), 2_048_144_412)
        self.assertEqual(self.ref.cut_packets, 1)  # the file was cut inside its last packet
        self.assertGreater(len(self.ref.records) - len(self.ref.reportable()), 0,
                           "the real capture holds UDP flows of port 65535, so the rule is exercised")


class SynthCaptureAtRateOne(_RateOneReports, unittest.TestCase):
    """`overflowd synth` output: needs nothing outside the repository."""

    expected_exporter = "192.0.2.1"

    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        d = cls._tmp.__enter__()
        cls.run_at_rate_one(lib.make_synth(d, "--background-flows", "1500", "--flood-flows", "500",
                                           "--sampling-interval", "100"), lib.SYNTH_PORT)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_declared_sampling_interval_is_reported(self):
        self.assertEqual({r["flowdata"]["data"]["sampling_interval"] for r, _, _ in self.verified}, {100})


def write_pcap(path, datagrams, src="192.0.2.7", dst="192.0.2.9", port=2055):
    """A classic pcap of Ethernet/IPv4/UDP frames built with dpkt around hand-built payloads."""
    import socket

    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        for i, payload in enumerate(datagrams):
            udp = dpkt.udp.UDP(sport=40000, dport=port, data=payload)
            udp.ulen = 8 + len(payload)
            ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_UDP, data=udp,
                            id=i + 1, ttl=64)
            ip.len = 20 + udp.ulen
            eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02",
                                         type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            w.writepkt(bytes(eth), ts=1_700_000_000 + i)


class HandBuiltCaptureAtRateOne(_RateOneReports, unittest.TestCase):
    """A capture written here with dpkt around v5 datagrams built by hand: corner cases the other
    captures lack (the report port rule per protocol, uptime wrap, a declared sampling interval,
    every field at its extremes)."""

    expected_exporter = "192.0.2.7"
    expected_datagrams = 4

    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        d = cls._tmp.__enter__()
        base = dict(saddr="198.51.100.1", daddr="203.0.113.2", protocol=17, pcount=3, bcount=300)
        d1 = lib.build_v5_datagram([
            dict(base, sport=65535, dport=53),             # UDP from the report port: not reported
            dict(base, sport=53, dport=65535),             # UDP to it: not reported
            dict(base, sport=65535, dport=65535),          # both: not reported
            dict(base, protocol=6, sport=65535, dport=80),  # TCP on 65535: reported
            dict(base, sport=65534, dport=53),             # UDP next to it: reported
        ])
        d2 = lib.build_v5_datagram([
            dict(saddr="255.255.255.255", daddr="0.0.0.1", nexthop="198.51.100.254", input=65535, output=65535,
                 pcount=0xFFFFFFFF, bcount=0xFFFFFFFF, sport=65535, dport=0, flags=0xFF, protocol=255, tos=0xFF,
                 src_as=65535, dst_as=65535, src_mask=32, dst_mask=32),
            dict(saddr="0.0.0.1", daddr="203.0.113.9", pcount=1, bcount=40, protocol=1, first=0, last=0),
        ], sys_uptime=0xFFFFFFFF, unix_secs=4_000_000_000, unix_nsecs=999_999_999, sampling_interval=0x3FFF)
        # Uptime wrapped since the flow began (First just below 2^32, sys_uptime small), and a stamp
        # slightly after the header's uptime.
        d3 = lib.build_v5_datagram([
            dict(saddr="198.51.100.203", daddr="203.0.113.3", first=0xFFFFF000, last=500, pcount=9, protocol=6),
            dict(saddr="198.51.100.204", daddr="203.0.113.4", first=900, last=1200, pcount=2, protocol=6),
        ], sys_uptime=1000, unix_secs=1_700_000_100, unix_nsecs=123_456_789, sampling_interval=100)
        d4 = lib.build_v5_datagram([dict(saddr=f"198.51.100.{i}", daddr="203.0.113.80", sport=1024 + i, dport=80,
                                         flags=0x02, protocol=6, pcount=i) for i in range(1, 31)])
        path = d / "handbuilt.pcap"
        write_pcap(path, [d1, d2, d3, d4])
        cls.run_at_rate_one(path, 2055)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_report_port_rule_applies_to_udp_only(self):
        self.assertEqual(len(self.ref.records) - len(self.ref.reportable()), 3)
        tcp = [r for r, _, _ in self.verified if r["flowdata"]["data"]["sport"] == 65535
               and r["flowdata"]["data"]["protocol"] == 6]
        self.assertEqual(len(tcp), 1)

    def test_uptime_wraparound_gives_times_near_the_header(self):
        data = {r["flowdata"]["data"]["saddr"]: r["flowdata"]["data"] for r, _, _ in self.verified}
        wrapped = data["198.51.100.203"]
        header_ms = 1_700_000_100 * 1000 + 123
        self.assertEqual(wrapped["stime"], header_ms - (1000 + 2**32 - 0xFFFFF000))
        self.assertEqual(wrapped["etime"], header_ms - 500)
        after = data["198.51.100.204"]
        self.assertEqual(after["etime"], header_ms + 200)  # Last is 200 ms after sys_uptime


if __name__ == "__main__":
    lib.main()

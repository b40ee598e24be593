"""The demo: `overflowd synth` writes a capture whose addresses all lie in never-routed ranges, and a
run on it at the default rate prints some signed reports, all verifying, all within those ranges."""

import hashlib
import ipaddress
import json
import re
import unittest

import overflowd_testlib as lib

SYNTH_RANGES = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                   "198.18.0.0/15")]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
ADDRESS_FIELDS = ("saddr", "daddr", "nexthop", "exporter")
SYNTH_SUMMARY = re.compile(r"(\d+) datagrams, (\d+) flows, (\d+) packets; expected reports at rate 1e-5: ([\d.]+)")


def addresses(data):
    return [ipaddress.ip_address(data[f]) for f in ADDRESS_FIELDS]


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.demo = cls.dir / "demo.pcap"
        cls.synth_proc = lib.run(["synth", "--out", cls.demo])
        assert cls.synth_proc.returncode == 0, cls.synth_proc.stderr
        cls.ref = lib.CaptureV5(cls.demo, port=lib.SYNTH_PORT)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_synth_summary_matches_the_capture(self):
        m = SYNTH_SUMMARY.search(self.synth_proc.stderr)
        self.assertIsNotNone(m, self.synth_proc.stderr)
        datagrams, flows, packets, expected = int(m[1]), int(m[2]), int(m[3]), float(m[4])
        self.assertEqual(datagrams, self.ref.datagrams)
        self.assertEqual(flows, len(self.ref.records))
        self.assertEqual(packets, sum(r["pcount"] for r in self.ref.records))
        independent = sum(min(1.0, 1e-5 * r["pcount"] * r["sampling_interval"]) for r in self.ref.records)
        self.assertAlmostEqual(expected, independent, delta=0.006)
        self.assertEqual(self.ref.other, 0)

    def test_every_synth_address_is_in_the_documented_ranges(self):
        for r in self.ref.records:
            for a in addresses(r):
                self.assertTrue(any(a in n for n in SYNTH_RANGES), f"{a} in {r}")

    def test_default_rate_run_prints_verifying_reports_in_the_ranges(self):
        proc = lib.run(["-f", self.demo, "--key", self.dir / "demo.key", "--email", "noc@example.net",
                        "--identity", "Example Net (demo)"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = lib.report_lines(proc.stdout)
        self.assertGreater(len(lines), 0, "expected about 127 reports at 1e-5")
        victims = set()
        for line in lines:
            report, _, _ = lib.pynacl_verify(line)
            data = report["flowdata"]["data"]
            for a in addresses(data):
                self.assertTrue(any(a in n for n in SYNTH_RANGES), f"{a} in {data}")
            self.assertEqual(report["contact"], {"email": "noc@example.net", "identity": "Example Net (demo)"})
            victims.add(data["daddr"])
        self.assertIn("203.0.113.80", victims, "the flood's victim is reported")
        summary = lib.parse_summary(proc.stderr)
        self.assertEqual(summary["reports"], len(lines))
        self.assertEqual(summary["netflow_v5.records"], len(self.ref.records))
        verify = lib.run(["verify", "-"], input=proc.stdout)
        self.assertEqual(verify.returncode, 0, verify.stdout)

    def test_loopback_synth_uses_only_127_addresses(self):
        path = lib.make_synth(self.dir, "--loopback", "--background-flows", "500", "--flood-flows", "300",
                              name="loopback.pcap")
        ref = lib.CaptureV5(path, port=lib.SYNTH_PORT)
        self.assertEqual(len(ref.records), 800)
        for r in ref.records:
            for a in addresses(r):
                self.assertIn(a, LOOPBACK, r)
        proc = lib.run(["-f", path, "-r", "1", "-q"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = lib.report_lines(proc.stdout)
        self.assertEqual(len(lines), len(ref.reportable()))
        for line in lines:
            for a in addresses(lib.pynacl_verify(line)[0]["flowdata"]["data"]):
                self.assertIn(a, LOOPBACK)

    def test_synth_is_repeatable_by_seed(self):
        a = lib.make_synth(self.dir, "--seed", "9", name="a.pcap")
        b = lib.make_synth(self.dir, "--seed", "9", name="b.pcap")
        c = lib.make_synth(self.dir, "--seed", "10", name="c.pcap")
        digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
        self.assertEqual(digest(a), digest(b))
        self.assertNotEqual(digest(a), digest(c))

    def test_synth_flow_counts_follow_the_flags(self):
        path = lib.make_synth(self.dir, "--background-flows", "31", "--flood-flows", "30", "--flood-packets", "10",
                              name="small.pcap")
        ref = lib.CaptureV5(path, port=lib.SYNTH_PORT)
        self.assertEqual(len(ref.records), 61)
        self.assertEqual(ref.datagrams, 3)  # at most 30 records per v5 datagram
        flood = [r for r in ref.records if r["daddr"] == "203.0.113.80" and r["flags"] == 0x02]
        self.assertEqual(len(flood), 30)
        self.assertTrue(all(5 <= r["pcount"] <= 15 for r in flood), [r["pcount"] for r in flood])


if __name__ == "__main__":
    lib.main()

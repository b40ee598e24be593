"""tshark (Wireshark's cflow dissector) as a second, independent source of truth for NetFlow v5:
every record it dissects must come out of `overflowd -r 1` as a report with the same fields."""

import collections
import shutil
import subprocess
import unittest
from decimal import Decimal

import overflowd_testlib as lib

# (report key, tshark field); found with `tshark -G fields | grep cflow`.
PER_RECORD = [
    ("saddr", "cflow.srcaddr"),
    ("daddr", "cflow.dstaddr"),
    ("nexthop", "cflow.nexthop"),
    ("input", "cflow.inputint"),
    ("output", "cflow.outputint"),
    ("pcount", "cflow.packets"),
    ("bcount", "cflow.octets"),
    ("first", "cflow.timestart"),  # uptime of the first packet, as relative seconds
    ("last", "cflow.timeend"),
    ("sport", "cflow.srcport"),
    ("dport", "cflow.dstport"),
    ("flags", "cflow.tcpflags"),
    ("protocol", "cflow.protocol"),
    ("tos", "cflow.tos"),
    ("src_as", "cflow.srcas"),
    ("dst_as", "cflow.dstas"),
    ("src_mask", "cflow.srcmask"),
    ("dst_mask", "cflow.dstmask"),
]
PER_PACKET = ["frame.number", "ip.src", "cflow.count", "cflow.sysuptime", "cflow.unix_secs", "cflow.unix_nsecs",
              "cflow.samplerate"]
ADDRESSES = {"saddr", "daddr", "nexthop"}


def ms(relative_seconds):
    """'1325838.498000000' (tshark's relative time) -> 1325838498."""
    return int(Decimal(relative_seconds) * 1000)


def tshark_records(capture, port):
    """Every v5 record tshark dissects, as the data a report should carry."""
    fields = PER_PACKET + [f for _, f in PER_RECORD]
    cmd = ["tshark", "-n", "-r", str(capture), "-d", f"udp.port=={port},cflow", "-Y", "cflow.version == 5",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    # tshark exits 2 on a capture cut inside its last packet, after printing every whole one.
    if proc.returncode != 0 and "cut short" not in proc.stderr:
        raise AssertionError(f"tshark failed ({proc.returncode}): {proc.stderr}")
    records = []
    for line in proc.stdout.splitlines():
        cols = line.split("\t")
        frame, exporter, count, uptime, secs, nsecs, rate = cols[:len(PER_PACKET)]
        per_record = [c.split(",") for c in cols[len(PER_PACKET):]]
        count = int(count)
        if any(len(values) != count for values in per_record):
            raise AssertionError(f"frame {frame}: tshark gave {[len(v) for v in per_record]} values for {count} records")
        uptime_ms, export_ms = ms(uptime), int(secs) * 1000 + int(nsecs) // 10**6
        for i in range(count):
            r = {}
            for (key, _), values in zip(PER_RECORD, per_record):
                r[key] = values[i] if key in ADDRESSES else (ms(values[i]) if key in ("first", "last")
                                                             else int(values[i], 0))
            # Unix ms = export time - (sys_uptime - stamp); a stamp past sys_uptime lands after it.
            r["stime"] = export_ms - (uptime_ms - r.pop("first"))
            r["etime"] = export_ms - (uptime_ms - r.pop("last"))
            r["exporter"] = exporter
            r["sampling_interval"] = int(rate) or 1
            records.append(r)
    return records


class _AgainstTshark:
    port = None

    @classmethod
    def compare_setup(cls, capture, port):
        if shutil.which("tshark") is None:
            raise unittest.SkipTest("tshark is not installed (apt-get install tshark)")
        cls.expected = tshark_records(capture, port)
        proc = lib.run(["-f", capture, "-r", "1", "-q"], timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"overflowd exited {proc.returncode}: {proc.stderr}")
        import json

        cls.reports = [json.loads(l)["flowdata"]["data"] for l in lib.report_lines(proc.stdout)]

    def test_tshark_dissected_records(self):
        self.assertGreater(len(self.expected), 0)

    def test_every_record_tshark_sees_is_reported_with_the_same_fields(self):
        reportable = [r for r in self.expected if not lib.is_report_port_flow(r)]
        want = collections.Counter(lib.canonical(r) for r in reportable)
        got = collections.Counter(lib.canonical(r) for r in self.reports)
        missing, extra = want - got, got - want
        self.assertEqual((sum(missing.values()), sum(extra.values())), (0, 0),
                         f"records tshark sees but no report has: {list(missing)[:3]}\n"
                         f"reports tshark does not agree with: {list(extra)[:3]}")
        self.assertEqual(len(self.reports), len(reportable))


class RealCaptureAgainstTshark(_AgainstTshark, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.compare_setup(lib.require_netflow_4m(), lib.NETFLOW_4M_PORT)

    def test_tshark_record_count_matches_the_data_readme(self):
        self.assertEqual(len(self.expected), lib.NETFLOW_4M_RECORDS)


class SynthCaptureAgainstTshark(_AgainstTshark, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        d = cls._tmp.__enter__()
        cls.compare_setup(lib.make_synth(d, "--sampling-interval", "10", "--seed", "7"), lib.SYNTH_PORT)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def test_tshark_reads_the_declared_sampling_interval(self):
        self.assertEqual({r["sampling_interval"] for r in self.expected}, {10})


if __name__ == "__main__":
    lib.main()

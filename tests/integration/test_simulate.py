"""`overflowd simulate` from outside (CSV, JSON, refusals of a topology file), and path-coherent
sampling in the sender: at --coherent-share 1 two runs with different private seeds report exactly
the same flows, each marked metadata.coherent and signed (checked with PyNaCl)."""

import csv
import io
import json
import os
import unittest
from pathlib import Path

import overflowd_testlib as lib

FIXTURE = Path(__file__).resolve().parent.parent / "sim" / "fixture.caida"


class Simulate(unittest.TestCase):
    def test_fixture_run_writes_csv_and_json(self):
        with lib.temp_dir() as d:
            proc = lib.run(["simulate", "--topology", FIXTURE, "--victim", "400", "--source", "100", "--source", "300",
                            "--deploy", "list", "--deploy-as", "10", "--deploy-as", "20", "--deploy-as", "30",
                            "--rate", "0.01", "--flood-pps", "1000", "--stop-when-known", "--duration", "100",
                            "--csv", d / "out.csv", "--json", d / "out.json"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rows = list(csv.DictReader(io.StringIO((d / "out.csv").read_text())))
            self.assertEqual(len(rows), 1)
            row = rows[0]
            # Paths (hand-computed, as in routing_test): 100-10-20-40-400 and 300-30-2-20-40-400.
            self.assertEqual(row["deployers_on_paths"], "3")
            self.assertEqual(row["sources_with_deployer"], "2")
            self.assertEqual(row["sources_with_path"], "2")
            first, every = float(row["first_report_s"]), float(row["all_deployers_s"])
            self.assertLessEqual(first, every)
            self.assertLessEqual(float(row["first_origin_s"]), float(row["all_origins_s"]))
            doc = json.loads((d / "out.json").read_text())
            self.assertEqual(doc["victim_asn"], 400)
            reporting = {a["asn"] for a in doc["ases"] if a["reports_to_victim"] > 0}
            self.assertEqual(reporting, {10, 20, 30})
            self.assertAlmostEqual(min(a["first_to_victim_s"] for a in doc["ases"] if a["first_to_victim_s"] is not None),
                                   first, places=4)

    def test_generated_topology_and_lists_make_one_row_per_run(self):
        proc = lib.run(["simulate", "--generate", "2000", "--flood-pps", "1000,10000", "--deploy-share", "0.1,0.5",
                        "--coherent-share", "0,1", "--trials", "2", "--duration", "5", "-q"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        self.assertEqual(len(rows), 2 * 2 * 2 * 2)
        self.assertEqual({(r["flood_pps"], r["deploy_share"], r["coherent_share"]) for r in rows},
                         {(f, s, x) for f in ("1000", "10000") for s in ("0.1", "0.5") for x in ("0", "1")})
        for r in rows:
            if r["coherent_share"] == "0":
                self.assertEqual(r["coherent_reports"], "0")

    def test_a_refused_topology_is_one_line_naming_the_reason_and_line(self):
        with lib.temp_dir() as d:
            bad = d / "bad.caida"
            bad.write_text("# fine\n1|2|-1\n1|x|-1\n")
            proc = lib.run(["simulate", "--topology", bad])
            self.assertEqual(proc.returncode, 2)
            lines = lib.stderr_lines(proc)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("caida.bad_asn", lines[0])
            self.assertIn("line 3", lines[0])
        proc = lib.run(["simulate", "--topology", FIXTURE, "--victim", "5"])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("AS5 is not in the topology", proc.stderr)


class CoherentSender(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._dir = lib.temp_dir()
        cls.dir = cls._dir.__enter__()
        cls.capture = lib.make_synth(cls.dir, "--background-flows", "3000", "--flood-flows", "200")

    @classmethod
    def tearDownClass(cls):
        cls._dir.__exit__(None, None, None)

    def reports(self, *extra):
        proc = lib.run(["-f", self.capture, "-r", "0.01", "-q", *extra])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [json.loads(l) for l in lib.report_lines(proc.stdout)], lib.report_lines(proc.stdout)

    def test_share_one_picks_the_same_flows_whatever_the_private_seed(self):
        a, lines = self.reports("--coherent-share", "1", "--seed", "1")
        b, _ = self.reports("--coherent-share", "1", "--seed", "2")
        key = lambda r: lib.canonical(r["flowdata"]["data"])  # noqa: E731
        self.assertGreater(len(a), 20)
        self.assertEqual(sorted(map(key, a)), sorted(map(key, b)))
        for r, line in zip(a, lines):
            self.assertIs(r["metadata"]["coherent"], True)
            message, _, _ = lib.pynacl_verify(line)
            self.assertIs(message["metadata"]["coherent"], True)
        # Another key, other flows.
        c, _ = self.reports("--coherent-share", "1", "--coherent-key", "00" * 16)
        self.assertNotEqual(sorted(map(key, a)), sorted(map(key, c)))

    def test_share_zero_marks_nothing(self):
        a, _ = self.reports("--seed", "1")
        self.assertGreater(len(a), 20)
        self.assertFalse(any("coherent" in r["metadata"] for r in a))

    def test_bad_share_or_key_is_one_line(self):
        for args, what in ((["--coherent-share", "2"], "--coherent-share"), (["--coherent-key", "abc"], "--coherent-key")):
            proc = lib.run(["-f", self.capture, *args])
            self.assertEqual(proc.returncode, 2)
            lines = lib.stderr_lines(proc)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn(what, lines[0])


if __name__ == "__main__":
    lib.main()

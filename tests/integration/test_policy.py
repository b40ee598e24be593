"""The suspicion policy from outside (issue 16): `overflowd policy example` prints the shipped
example, `overflowd policy check` loads a file and says what it loaded or what is wrong (a list's
file and line), and a run with --policy writes SUSPICIOUS reports with their reasons on the flows a
rule matches, INFORMATIONAL ones as before on the rest, every one verified with PyNaCl."""

import json
import unittest
from pathlib import Path

import overflowd_testlib as lib

SOURCE = Path(__file__).resolve().parents[2]

POLICY = """
[lists.victims]
file = "victims.txt"

[[rule]]
name = "to-victim"
class = "volumetric"
dst_list = "victims"
multiplier = 100

[[rule]]
name = "syn-only"
class = "syn-flood"
protocol = "tcp"
tcp_flags_set = ["SYN"]
tcp_flags_unset = ["ACK"]
multiplier = 2

[volume]
window = 60

[[rule]]
name = "flood"
class = "volumetric"
dst_pps = 10000
multiplier = 50
"""


class PolicyCommands(unittest.TestCase):
    def test_example_is_the_shipped_file_and_checks(self):
        proc = lib.run(["policy", "example"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, (SOURCE / "dist/config/policy.toml").read_text())
        with lib.temp_dir() as d:
            (d / "p.toml").write_text(proc.stdout)
            check = lib.run(["policy", "check", d / "p.toml"])
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertIn(": ok", check.stdout)
            self.assertIn("never-on-internet: 14 prefixes", check.stdout)
            self.assertIn("rules: 5", check.stdout)

    def test_check_names_the_bad_line_and_exits_2(self):
        with lib.temp_dir() as d:
            (d / "victims.txt").write_text("203.0.113.80\n203.0.113.300\n")
            (d / "p.toml").write_text(POLICY)
            check = lib.run(["policy", "check", d / "p.toml"])
            self.assertEqual(check.returncode, 2)
            self.assertIn(f"{d / 'victims.txt'}:2: ", check.stderr)
            (d / "p.toml").write_text(POLICY + "\n[[rule]]\nname = \"x\"\nclass = \"syn-flood\"\nmultiplier = 2\n")
            (d / "victims.txt").write_text("203.0.113.80\n")
            check = lib.run(["policy", "check", d / "p.toml"])
            self.assertEqual(check.returncode, 2)
            self.assertIn("rule 'x': has no condition", check.stderr)
            # And the sender refuses to start on it.
            run = lib.run(["-f", d / "nothing.pcap", "--policy", d / "p.toml", "-q"])
            self.assertEqual(run.returncode, 2)
            self.assertIn("no condition", run.stderr)


class PolicyRun(unittest.TestCase):
    def test_reports_on_matching_flows_are_suspicious_with_reasons(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d, "--background-flows", "3000", "--flood-flows", "3000")
            (d / "victims.txt").write_text("# the synth flood's victim\n203.0.113.80\n")
            (d / "p.toml").write_text(POLICY)
            proc = lib.run(["-f", capture, "-r", "1e-5", "--seed", "7", "--policy", d / "p.toml"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            reports = [lib.pynacl_verify(l)[0] for l in lib.report_lines(proc.stdout)]
            suspicious = [r for r in reports if r["metadata"]["class"] == "SUSPICIOUS"]
            informational = [r for r in reports if r["metadata"]["class"] == "INFORMATIONAL"]
            self.assertEqual(len(suspicious) + len(informational), len(reports))
            self.assertGreater(len(suspicious), 0)
            # The synth flood (3,000 flows of ~5,000 packets to one victim, read in well under the
            # 60 s window) passes 10,000 packets/s: the volume rule detects it.
            self.assertTrue(any(x["rule"] == "flood" for r in suspicious for x in r["metadata"]["reasons"]))
            for r in suspicious:
                reasons = r["metadata"]["reasons"]
                rules = {x["rule"] for x in reasons}
                data = r["flowdata"]["data"]
                self.assertEqual("to-victim" in rules, data["daddr"] == "203.0.113.80", reasons)
                if "flood" in rules:  # per-destination volume: only the flood's victim gets there
                    self.assertEqual(data["daddr"], "203.0.113.80")
                syn_only = data["protocol"] == 6 and data["flags"] & 0x02 and not data["flags"] & 0x10
                self.assertEqual("syn-only" in rules, bool(syn_only), reasons)
                for x in reasons:
                    self.assertEqual(set(x) - {"list"}, {"class", "rule"})
                    if x["rule"] == "to-victim":
                        self.assertEqual(x, {"class": "volumetric", "list": "victims", "rule": "to-victim"})
            for r in informational:
                self.assertEqual(set(r["metadata"]), {"class", "info", "time"})
                self.assertNotEqual(r["flowdata"]["data"]["daddr"], "203.0.113.80")
            summary = lib.parse_summary(proc.stderr)
            self.assertEqual(summary["policy.suspicious_reports"], len(suspicious))
            self.assertGreaterEqual(summary["policy.decided"], len(suspicious))


if __name__ == "__main__":
    lib.main()

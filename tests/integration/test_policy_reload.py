"""SIGHUP re-reads the suspicion policy of a running sender (issue 16 item 1): a good file replaces
the policy (the next reports name the new rule), a bad one keeps the running policy and the log says
why. Flows come from `overflowd replay` of a loopback capture to the sender's UDP port on loopback;
nothing is delivered anywhere (reports go to stdout)."""

import json
import re
import signal
import unittest

import overflowd_testlib as lib


def policy(rule):
    # Every TCP and UDP flow reported (probability 1), under the rule's name.
    return f'[[rule]]\nname = "{rule}"\nclass = "volumetric"\nprotocol = ["tcp", "udp"]\nprobability = 1\n'


class PolicyReload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_sighup_rereads_the_policy_and_a_bad_file_keeps_the_running_one(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d, "--loopback", "--background-flows", "20", "--flood-flows", "5")
            p = d / "policy.toml"
            p.write_text(policy("first"))
            sender = lib.LiveProcess(["-u", "0", "--bind", "127.0.0.1", "--workers", "1", "-r", "0",
                                      "--policy", p, "--key", d / "k"])
            try:
                line = sender.wait_stderr(lambda l: "listening for flow exports on UDP" in l, timeout=30)
                self.assertIsNotNone(line, sender.stderr_seen)
                port = int(line.rsplit(":", 1)[1])

                done = {"flows": 0, "reports": 0}

                def rules_of_one_replay():
                    proc = lib.run(["replay", "-f", capture, "--to", f"127.0.0.1:{port}", "--count", "1"])
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    done["flows"] += int(re.search(r"flows\s+(\d+)", proc.stdout).group(1))
                    # Every report of this replay, counted (not "what comes within 0.5 s", which a
                    # loaded machine stretches into the next replay's read).
                    c = sender.wait_counters(lambda c: c.get("flows", 0) >= done["flows"])
                    lines = sender.read_reports(c["reports"] - done["reports"], timeout=60)
                    self.assertEqual(len(lines), c["reports"] - done["reports"])
                    self.assertTrue(lines, "no report")
                    done["reports"] = c["reports"]
                    reports = [json.loads(l) for l in lines]
                    self.assertTrue(all(r["metadata"]["class"] == "SUSPICIOUS" for r in reports))
                    return {x["rule"] for r in reports for x in r["metadata"]["reasons"]}

                self.assertEqual(rules_of_one_replay(), {"first"})

                p.write_text(policy("second"))
                sender.proc.send_signal(signal.SIGHUP)
                self.assertIsNotNone(sender.wait_stderr(lambda l: "reload: policy" in l and "re-read" in l, timeout=30),
                                     sender.stderr_seen)
                self.assertEqual(rules_of_one_replay(), {"second"})

                p.write_text('[[rule]]\nname = "third"\nmultiplier = "lots"\n')
                sender.proc.send_signal(signal.SIGHUP)
                self.assertIsNotNone(sender.wait_stderr(lambda l: "keeping the running policy" in l, timeout=30),
                                     sender.stderr_seen)
                self.assertEqual(rules_of_one_replay(), {"second"})
            finally:
                code, _, stderr = sender.stop()
            self.assertEqual(code, 0, stderr)


if __name__ == "__main__":
    lib.main()

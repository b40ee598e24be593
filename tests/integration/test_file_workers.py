"""A capture file signed on several threads (issue 17): with --seed and --report-time the output is
byte for byte the same for --workers 1, 2 and 4; the reports come out in the capture's order (the
order of an independent dpkt + struct decode), each verifies with PyNaCl; a key that cannot be
read ends the run with one clear error line, not a hang."""

import os
import unittest

import overflowd_testlib as lib


class FileWorkers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        # ~1,000 flows: 16 batches of 64 reports, enough for several batches in flight per thread.
        cls.synth = lib.make_synth(cls.dir, "--background-flows", "800", "--flood-flows", "200")
        cls.ref = lib.CaptureV5(cls.synth, port=lib.SYNTH_PORT)
        cls.key = cls.dir / "k.key"
        proc = lib.run(["keygen", cls.key])
        assert proc.returncode == 0, proc.stderr

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def run_workers(self, workers, *extra):
        proc = lib.run(["-f", self.synth, "-q", "--key", self.key, "-r", "1", "--seed", "11",
                        "--report-time", "1700000000", "--workers", str(workers), *extra], timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def test_output_is_byte_identical_for_1_2_and_4_workers(self):
        outputs = {w: self.run_workers(w) for w in (1, 2, 4)}
        self.assertGreater(len(lib.report_lines(outputs[1])), 64 * 4, "several batches per thread")
        self.assertEqual(outputs[1], outputs[2])
        self.assertEqual(outputs[1], outputs[4])

    def test_reports_keep_the_captures_order_and_verify(self):
        lines = lib.report_lines(self.run_workers(4))
        expected = [lib.flow_key(r) for r in self.ref.reportable()]
        got = []
        for line in lines:
            report, _message, _key = lib.pynacl_verify(line)
            got.append(lib.flow_key(report["flowdata"]["data"]))
        self.assertEqual(got, expected)

    def test_an_unreadable_key_is_one_error_line_not_a_hang(self):
        if os.geteuid() == 0:
            missing = self.dir / "no-such-dir" / "k.key"  # root reads any file: a path that cannot be made
        else:
            missing = self.dir / "unreadable.key"
            missing.write_bytes(b"x" * 64)
            missing.chmod(0)
        proc = lib.run(["-f", self.synth, "-q", "--key", missing, "-r", "1", "--workers", "4"], timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        errors = [l for l in lib.stderr_lines(proc) if l.startswith("overflowd: error:")]
        self.assertEqual(len(errors), 1, proc.stderr)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    lib.main()

"""--log-format and --log-level (issue 14 item 6): every stderr line of the sender and of the
receiver goes through one logger; in JSON form each line parses on its own (Python's json module)
and carries time, level, program and msg; the summary is one line whose counters equal the text
summary's; --log-level filters."""

import json
import re
import unittest

import overflowd_testlib as lib


def json_lines(stderr):
    out = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)  # every line, on its own
        assert isinstance(obj, dict), line
        for key in ("time", "level", "program", "msg"):
            assert key in obj, f"{key} missing in {line}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["time"]), obj["time"]
        out.append(obj)
    return out


class LogFormat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_sender_json_lines_and_summary(self):
        with lib.temp_dir() as d:
            pcap = lib.make_synth(d)
            text = lib.run(["-f", pcap, "-r", "0.001", "--seed", "7"])
            js = lib.run(["--log-format", "json", "-f", pcap, "-r", "0.001", "--seed", "7"])
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertEqual(js.returncode, 0, js.stderr)
            self.assertEqual(len(lib.report_lines(text.stdout)), len(lib.report_lines(js.stdout)))  # reports stay on stdout
            lines = json_lines(js.stderr)
            levels = [l["level"] for l in lines]
            self.assertIn("warning", levels)  # the ephemeral key
            summaries = [l for l in lines if l["msg"] == "summary"]
            self.assertEqual(len(summaries), 1)
            self.assertEqual(summaries[0]["counters"], lib.parse_summary(text.stderr))
            self.assertTrue(all(l["program"] == "overflowd" for l in lines))

    def test_error_as_json(self):
        proc = lib.run(["--log-format", "json", "-f", "/nonexistent/x.pcap"])
        self.assertEqual(proc.returncode, 2)
        lines = json_lines(proc.stderr)
        self.assertEqual([l["level"] for l in lines], ["error"])
        self.assertIn("/nonexistent/x.pcap", lines[0]["msg"])

    def test_level_filters(self):
        with lib.temp_dir() as d:
            pcap = lib.make_synth(d)
            warn = lib.run(["--log-level", "warn", "-f", pcap])
            self.assertEqual(warn.returncode, 0, warn.stderr)
            self.assertNotIn("summary", warn.stderr)  # info
            self.assertIn("overflowd: warning: no --key given", warn.stderr)
            off = lib.run(["--log-level", "off", "-f", pcap])
            self.assertEqual(off.stderr.strip(), "")
        bad = lib.run(["--log-level", "loud", "-f", "x"])
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--log-level", bad.stderr)
        bad = lib.run(["--log-format", "xml", "-f", "x"])
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--log-format", bad.stderr)

    def test_receiver_json_lines(self):
        with lib.temp_dir() as d:
            # The options after the subcommand's name as well as before it.
            live = lib.LiveProcess(["receive", "--log-format", "json", "--db", d / "r.db", "--udp-port", "0",
                                    "--http-port", "0", "--http-bind", "127.0.0.1"])
            try:
                first = live.wait_stderr(lambda l: "database" in l, timeout=30)
                self.assertIsNotNone(first, live.stderr_seen)
            finally:
                code, _, stderr = live.stop()
            self.assertEqual(code, 0, stderr)
            lines = json_lines(stderr)
            self.assertTrue(all(l["program"] == "overflowd receive" for l in lines), lines)
            self.assertTrue(any(l["msg"].startswith("listening: udp") for l in lines))
            summary = [l for l in lines if l["msg"] == "summary"]
            self.assertEqual(len(summary), 1)
            self.assertEqual(set(summary[0]["counters"]), {"stored", "duplicates", "invalid", "dropped", "write_errors"})

    def test_log_section_of_the_config_file(self):
        """[log] format and level: the same rows as the flags, read by both commands; a flag wins."""
        with lib.temp_dir() as d:
            pcap = lib.make_synth(d, "--background-flows", "20", "--flood-flows", "0")
            conf = d / "o.toml"
            conf.write_text('[log]\nformat = "json"\nlevel = "warn"\n')
            proc = lib.run(["--config", conf, "-f", pcap, "-r", "0.001", "--seed", "7"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            lines = json_lines(proc.stderr)
            self.assertTrue(lines)
            self.assertTrue(all(l["level"] in ("warning", "warn", "error") for l in lines), lines)
            over = lib.run(["--config", conf, "--log-format", "text", "-f", pcap, "-r", "0.001", "--seed", "7"])
            self.assertIn("overflowd: warning: no --key given", over.stderr)
            conf.write_text('[log]\nformat = "xml"\n')
            bad = lib.run(["--config", conf, "-f", pcap])
            self.assertEqual(bad.returncode, 2)
            self.assertIn("log.format: 'xml' is not text or json", bad.stderr)
            rconf = d / "r.toml"
            rconf.write_text(f'[receive]\ndb = "{d / "r.db"}"\nudp_port = 0\nhttp_port = 0\nhttp_bind = "127.0.0.1"\n'
                             '[log]\nformat = "json"\n')
            live = lib.LiveProcess(["receive", "--config", rconf])
            try:
                self.assertIsNotNone(live.wait_stderr(lambda l: "database" in l, timeout=30), live.stderr_seen)
            finally:
                code, _, stderr = live.stop()
            self.assertEqual(code, 0, stderr)
            self.assertTrue(all(l["program"] == "overflowd receive" for l in json_lines(stderr)))


if __name__ == "__main__":
    lib.main()

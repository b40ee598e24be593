"""Log rotation: a live run writing to --output reopens the file by name on SIGHUP. After the file
is renamed and SIGHUP sent, new reports go to a new file at the old name and none to the renamed
one. Exports are sent only to 127.0.0.1."""

import json
import signal
import socket
import time
import unittest

from overflowd_testlib import (LiveProcess, build_v5_datagram, main, parse_summary, pynacl_verify, require_binary,
                               temp_dir)

WAIT = 20  # seconds: a guard against a hang, not a performance claim


def datagram(first_port, n=3):
    return build_v5_datagram([{"saddr": "192.0.2.1", "daddr": "198.51.100.1", "sport": first_port + i, "dport": 80,
                               "pcount": 5} for i in range(n)])


def lines_of(path):
    if not path.exists():
        return []
    return [l for l in path.read_text().splitlines() if l.strip()]


def wait_lines(path, n):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        lines = lines_of(path)
        if len(lines) >= n:
            return lines
        time.sleep(0.02)
    return lines_of(path)


def wait_exists(path):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.02)
    return path.exists()


def sports(lines):
    out = []
    for l in lines:
        pynacl_verify(l)
        out.append(json.loads(l)["flowdata"]["data"]["sport"])
    return sorted(out)


class Reopen(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_sighup_reopens_the_output_file_after_a_rename(self):
        with temp_dir() as d:
            out = d / "reports.jsonl"
            live = LiveProcess(["-u", "0", "--bind", "127.0.0.1", "-r", "1", "--output", out, "--key", d / "key"])
            try:
                line = live.wait_stderr(lambda l: "listening for flow exports" in l, timeout=WAIT)
                self.assertIsNotNone(line, "no listening line")
                port = int(line.rsplit(":", 1)[1])
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(datagram(1000), ("127.0.0.1", port))
                    s.sendto(datagram(2000), ("127.0.0.1", port))
                    self.assertEqual(len(wait_lines(out, 6)), 6)
                    rotated = d / "reports.jsonl.1"
                    out.rename(rotated)
                    live.proc.send_signal(signal.SIGHUP)
                    # The signal is handled, and the file reopened, when a worker next looks at its
                    # flags (at the latest after its idle poll): wait for the new file at the old name,
                    # or reports handled before that go, rightly, to the renamed one.
                    self.assertTrue(wait_exists(out), "no new output file after SIGHUP")
                    s.sendto(datagram(3000), ("127.0.0.1", port))
                    s.sendto(datagram(4000), ("127.0.0.1", port))
                    self.assertEqual(len(wait_lines(out, 6)), 6)
                code, _rest, stderr = live.stop()
            finally:
                live.kill()
            self.assertEqual(code, 0, stderr)
            self.assertEqual(sports(lines_of(rotated)), [1000, 1001, 1002, 2000, 2001, 2002])
            self.assertEqual(sports(lines_of(out)), [3000, 3001, 3002, 4000, 4001, 4002])
            self.assertEqual(parse_summary(stderr)["output.reopened"], 1)

    def test_sighup_on_stdout_output_changes_nothing(self):
        with temp_dir() as d:
            live = LiveProcess(["-u", "0", "--bind", "127.0.0.1", "-r", "1", "--key", d / "key"])
            try:
                line = live.wait_stderr(lambda l: "listening for flow exports" in l, timeout=WAIT)
                self.assertIsNotNone(line)
                port = int(line.rsplit(":", 1)[1])
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(datagram(1000), ("127.0.0.1", port))
                    self.assertEqual(len(live.read_reports(3, timeout=WAIT)), 3)
                    live.proc.send_signal(signal.SIGHUP)
                    s.sendto(datagram(2000), ("127.0.0.1", port))
                    self.assertEqual(len(live.read_reports(3, timeout=WAIT)), 3)
                code, _rest, stderr = live.stop()
            finally:
                live.kill()
            self.assertEqual(code, 0, stderr)


if __name__ == "__main__":
    main()

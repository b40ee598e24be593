"""`-f -`: a capture read from standard input as it comes. While no input arrives, SIGUSR1 is
answered at once (the counters block, counting what was read so far) and SIGHUP too (the output
reopened), without more input; then the rest of the capture is read to its end. Before, both
waited for the next record (the read of the pipe blocked, and the signal's handler restarts it).

The counts are checked against the capture as the test wrote it: its records (struct) and their
NetFlow v5 flows (dpkt + struct, overflowd_testlib.CaptureV5)."""

import signal
import struct
import subprocess
import time
import unittest

import overflowd_testlib as lib


def split_records(data):
    """(file header, [record bytes]) of a classic pcap capture, either byte order."""
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records, at = [], 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from(order + "I", data, at + 8)[0]
        records.append(data[at:at + 16 + caplen])
        at += 16 + caplen
    assert at == len(data), "the capture ends inside a record"
    return data[:24], records


def handles(pid, *signals):
    """True once the process has a handler for each of `signals` (SigCgt in /proc/PID/status):
    a signal sent before would end it (SIGUSR1's and SIGHUP's default action)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(l.split()[1], 16) for l in f if l.startswith("SigCgt:"))
    return all(caught >> (s - 1) & 1 for s in signals)


class StdinInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_signals_answered_while_no_input_comes(self):
        with lib.temp_dir() as d:
            capture = lib.make_synth(d)
            header, records = split_records(capture.read_bytes())
            first = 5
            self.assertGreater(len(records), first)
            (d / "first.pcap").write_bytes(header + b"".join(records[:first]))
            expected_flows = len(lib.CaptureV5(d / "first.pcap").records)
            live = lib.LiveProcess(["-f", "-", "--key", d / "k", "--email", "noc@example.org"], stdin=subprocess.PIPE)
            pipe = live.proc.stdin.buffer  # the process's streams are text; the capture is bytes
            try:
                pipe.write(header + b"".join(records[:first]))
                pipe.flush()
                deadline = time.monotonic() + 60
                while not handles(live.proc.pid, signal.SIGUSR1, signal.SIGHUP):
                    self.assertLess(time.monotonic(), deadline, "no SIGUSR1/SIGHUP handler after 60 s")
                    time.sleep(0.01)  # between polls of the condition only
                # No more input from here on: each SIGUSR1 is answered all the same, and once the
                # records sent are read, the counters say so.
                c = live.wait_counters(lambda c: c.get("source.datagrams") == first)
                self.assertEqual(c["flows"], expected_flows)
                self.assertEqual(c["datagrams.refused"], 0)
                live.proc.send_signal(signal.SIGHUP)
                self.assertIsNotNone(live.wait_stderr(lambda l: "SIGHUP: output reopened" in l), live.stderr_seen)
                self.assertEqual(live.counters()["source.datagrams"], first)  # still nothing more read
                pipe.write(b"".join(records[first:]))
                live.proc.stdin.close()  # the end of the capture: the run ends by itself
                live.proc.wait(timeout=120)
                code, _, stderr = live.stop()
            finally:
                live.kill()
            self.assertEqual(code, 0, stderr)
            summary = lib.parse_summary(stderr)
            self.assertEqual(summary["source.datagrams"], len(records), summary)
            self.assertEqual(summary["flows"], len(lib.CaptureV5(capture).records))


if __name__ == "__main__":
    lib.main()

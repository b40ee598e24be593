#!/usr/bin/python3
"""Rotation over UDP (docs/manual.md, "Rotation over UDP"): the CPU a `-r 1` run with UDP delivery
spends with --rotation against the same run without, interleaved, medians (a report whose compact
datagram would pass 1,200 bytes because of metadata.rotation is signed a second time without it).
Loopback only: a synthetic capture of 127.0.0.2 -> 127.0.0.3 flows; reports go to 127.0.0.3's
port 9 (discard). Usage: bench/rotation_udp_cost.py [BUILD_DIR] [RUNS]"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "build")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
os.environ.setdefault("OVERFLOWD_BINARY", str(BUILD / "overflowd"))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from overflowd_testlib import make_synth  # noqa: E402

B = str(BUILD / "overflowd")


def cpu(args):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([B, *args], capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert p.returncode == 0, p.stderr
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


with tempfile.TemporaryDirectory() as tmp:
    d = Path(tmp)
    cap = make_synth(d, "--loopback", "--background-flows", "10000", "--flood-flows", "10000", "--flood-packets", "2",
                     "--src-host", "127.0.0.2", "--dst-host", "127.0.0.3", "--seed", "1", name="b.pcap")
    subprocess.run([B, "keygen", d / "old.key"], capture_output=True, check=True)
    subprocess.run([B, "rotate-key", "--old", d / "old.key", "--new", d / "new.key", "--out", d / "r.json"],
                   capture_output=True, check=True)
    common = ["-f", cap, "-r", "1", "--seed", "7", "--key", d / "new.key", "--deliver", "udp", "--deliver-to", "dst",
              "--report-port", "9", "--budget", "off", "--per-destination-budget", "off",
              "--allow-destination", "127.0.0.0/8", "--workers", "1", "-q", "--output", "/dev/null",
              "--email", "noc@sender.example", "--identity", "Sender Net"]
    res = {"without": [], "rotation": []}
    for _ in range(RUNS):
        res["without"].append(cpu(common))
        res["rotation"].append(cpu([*common, "--rotation", d / "r.json"]))
    a, b = statistics.median(res["without"]), statistics.median(res["rotation"])
    print(f"20,000 reports over UDP, CPU medians of {RUNS}: without rotation {a:.3f} s, "
          f"with --rotation {b:.3f} s, ratio {b / a:.2f}")

#!/usr/bin/python3
"""Start-up side by side (issue 17): `overflowd --help` and the default-rate run of a capture file,
for one or more overflowd binaries (e.g. the build before a change and after), every command
interleaved in rotating order, N rounds; prints each command's median wall and CPU time and the
load average before and after. bench_table.py's step 2 is the same measurement for one binary.

usage: startup_compare.py [-n N] [--capture PCAP] OVERFLOWD [OVERFLOWD...]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_table import interleaved  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=31, help="rounds (default 31)")
    ap.add_argument("--capture", default=str(HERE.parent.parent / "shared" / "data" / "netflow_4M.pcap"))
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    if not os.access(args.capture, os.R_OK):
        print(f"startup_compare: {args.capture} is absent: skipped", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key"
        subprocess.run([args.binaries[0], "keygen", str(key)], check=True, stdout=subprocess.DEVNULL)
        commands = {}
        for i, b in enumerate(args.binaries):
            name = f"{i + 1}: {b}"
            commands[f"{name} --help"] = [b, "--help"]
            commands[f"{name} -f {Path(args.capture).name} -q"] = [b, "-f", args.capture, "-q", "--key", str(key)]
        before = os.getloadavg()
        medians = interleaved(commands, args.n)
        after = os.getloadavg()
    print(f"N={args.n} rounds, interleaved; {os.cpu_count()} cores, load average {before[0]:.1f} before, "
          f"{after[0]:.1f} after")
    for k, (wall, cpu) in medians.items():
        print(f"  {k:70s} wall median {wall:7.1f} ms   CPU median {cpu:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

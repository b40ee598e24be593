#!/usr/bin/python3
"""overflowd against the prototype's logic in Python (bench/prototype_ref.py), whole process, side
by side in one run (issue 17).

usage: compare_prototype.py --overflowd PATH [--capture PCAP] [-n N] [-r RATE] [--workers 1,2]

Each round runs every command once, in an order that rotates from round to round, so that a
machine loaded by others weighs on all of them alike; N rounds (default 5). Prints, per command,
the median wall time and the median CPU time (user + system of the process and its threads), and
the ratios python / overflowd: wall time is what the issue's target is about ("at least 3.5x
faster on 2 cores"), CPU time says what each costs whatever the load. With --json FILE, the
figures are also written there (bench/bench_table.py reads them).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from whole_process import run_once  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overflowd", required=True)
    ap.add_argument("--capture", default=str(HERE.parent.parent / "shared" / "data" / "netflow_4M.pcap"))
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("-r", default="1")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not os.access(args.capture, os.R_OK):
        print(f"compare_prototype: {args.capture} is absent: skipped", file=sys.stderr)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key"
        subprocess.run([args.overflowd, "keygen", str(key)], check=True, stdout=subprocess.DEVNULL)
        commands = {"python prototype_ref.py": ["/usr/bin/python3", str(HERE / "prototype_ref.py"), "-f", args.capture,
                                                "-r", args.r, "--key", str(key)]}
        for w in args.workers.split(","):
            commands[f"overflowd --workers {w}"] = [args.overflowd, "-f", args.capture, "-q", "--key", str(key),
                                                    "-r", args.r, "--workers", w]
        names = list(commands)
        wall = {n: [] for n in names}
        cpu = {n: [] for n in names}
        with tempfile.TemporaryFile() as err:
            for n in names:
                run_once(commands[n], err)  # warm-up: the page cache, the key
            for i in range(args.n):
                for n in names[i % len(names):] + names[:i % len(names)]:
                    w, c = run_once(commands[n], err)
                    wall[n].append(w)
                    cpu[n].append(c)

    load = open("/proc/loadavg").read().split()[:3]
    print(f"== {Path(args.capture).name} -r {args.r}: N={args.n} rounds, side by side; "
          f"{os.cpu_count()} cores, load average {' '.join(load)}")
    py = names[0]
    out = {"capture": Path(args.capture).name, "rate": args.r, "rounds": args.n, "load": load, "commands": {}}
    for n in names:
        mw, mc = statistics.median(wall[n]), statistics.median(cpu[n])
        line = f"  {n:28s} wall median {mw:8.1f} ms   CPU median {mc:8.1f} ms"
        if n != py:
            rw = statistics.median(wall[py]) / mw
            rc = statistics.median(cpu[py]) / mc
            line += f"   python/overflowd: wall {rw:.2f}x, CPU {rc:.2f}x"
        print(line)
        out["commands"][n] = {"wall_ms": mw, "cpu_ms": mc, "wall_all": wall[n], "cpu_all": cpu[n]}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

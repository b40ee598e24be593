#!/usr/bin/python3
"""Wall time of whole overflowd runs: the median and interquartile range of N runs.

usage: whole_process.py [-n N] [--label TEXT] -- COMMAND [ARGS...]

Runs COMMAND once untimed (to warm the page cache), then N times, each with stdin and stdout on
/dev/null, and prints one line: the median wall time and its IQR (Q1..Q3), min and max, and the
median CPU time (user + system, from wait4), all in milliseconds. Wall time is what was asked for;
CPU time is the steadier number on a shared machine (it leaves out time spent waiting for a core).
The child is started with posix_spawn, so the timer includes little beyond the process itself.
Exits 1 if any run fails, printing its stderr.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time


def run_once(cmd, err):
    err.seek(0)
    err.truncate()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
    ]
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        err.seek(0)
        sys.stderr.write(err.read().decode(errors="replace"))
        sys.exit(f"whole_process: {' '.join(cmd)} exited with {code}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=21, help="timed runs (default 21)")
    ap.add_argument("--label", default=None, help="name printed for this measurement")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd or args.n < 1:
        ap.error("need N >= 1 and a command after --")

    with tempfile.TemporaryFile() as err:
        run_once(cmd, err)  # warm-up, not counted
        runs = [run_once(cmd, err) for _ in range(args.n)]
    wall = sorted(w for w, _ in runs)
    cpu = sorted(c for _, c in runs)
    q1, q3 = quartiles(wall)
    label = args.label or " ".join(cmd)
    print(f"{label}: N={args.n} wall median {statistics.median(wall):.1f} ms, IQR {q3 - q1:.1f} ms "
          f"({q1:.1f} .. {q3:.1f}), min {wall[0]:.1f}, max {wall[-1]:.1f}; "
          f"CPU median {statistics.median(cpu):.1f} ms")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The receiver's HTTP intake under load (issue 12, "Intake that holds"), on loopback:

  baseline  : S senders POST R reports each (one kept-alive connection each, one POST at a time)
  idle      : the same while I idle connections are held open (from distinct loopback addresses)
  slowloris : the same while L connections send their headers a byte a second

For each: every report acknowledged (200) and stored (the receiver's row count), POST latency
median / p99 / max, and the receiver's peak RSS. Medians are compared with the baseline measured
in the same run (a ratio), as docs/benchmarks.md asks. When this process cannot open I + L + a
margin descriptors (RLIMIT_NOFILE), it says so and runs the largest size that fits.

  bench/intake_load.py [--idle 1000] [--slowloris 500] [--senders 50] [--reports 20] [--repeat 5]
                       [--binary PATH] [--receiver-args=--flag=value ...]

Packets go only to loopback addresses (127.0.0.0/8)."""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

import intake_support as ins  # noqa: E402
import receive_support as rs  # noqa: E402


def run(args, label, idle=0, slow=0, key_byte=1):
    bodies = []
    key = rs.signing_key(key_byte)
    for i in range(args.senders * args.reports):
        bodies.append(rs.Signed(key, data=rs.flow_data(sport=1 + i % 60000, dport=1 + i // 60000)).full)
    with tempfile.TemporaryDirectory(prefix="intake-bench-", dir=args.db_dir) as d:
        deadline = ["--http-request-deadline", str(args.deadline)] if args.deadline else []  # 0: an older binary
        rx = rs.Receiver(d, "--udp-port", "off", "--http-timeout", "120", *deadline, "--max-connections", "100000",
                         *args.receiver_args)
        try:
            watch = ins.RssWatch(rx.live.proc.pid)
            base_rss = ins.rss_kib(rx.live.proc.pid)
            # Senders are processes, forked before the attack's connections are opened.
            senders = ins.SenderProcesses(rx.ports["http"], [ins.client_address(2, i) for i in range(args.senders)],
                                          [bodies[i * args.reports:(i + 1) * args.reports] for i in range(args.senders)])
            held = ins.IdleConnections(rx.ports["http"], idle, group=1, per_address=10) if idle else None
            slowl = ins.Slowloris(rx.ports["http"], slow, group=3, per_address=10, interval=1.0) if slow else None
            if slowl:
                time.sleep(1.0)  # the slow headers have begun
            t0 = time.monotonic()
            senders.start()
            results = senders.join(600)
            elapsed = time.monotonic() - t0
            statuses = [x for r in results for x in r[1]]
            lat = [x * 1000 for r in results for x in r[2]]
            retries = sum(r[3] for r in results)
            stored = rx.get("/api/stats")["rows"]["reports"]
            idle_open = held.open_count() if held else 0
            slow_cut = slowl.closed if slowl else 0
            try:
                counters = ins.http_counters(rx)
            except KeyError:  # a binary without the server's counters
                counters = {}
            peak = watch.stop()
            if held:
                held.close()
            if slowl:
                slowl.stop()
        finally:
            rx.stop()
    out = {"scenario": label, "idle": idle, "slowloris": slow, "senders": args.senders, "posts": len(statuses),
           "acknowledged": statuses.count(200), "stored": stored, "retries": retries,
           "median_ms": round(statistics.median(lat), 2), "p99_ms": round(ins.percentile(lat, 99), 2),
           "max_ms": round(max(lat), 2), "posts_per_s": round(len(statuses) / elapsed, 1),
           "idle_still_open": idle_open, "slowloris_cut_by_server": slow_cut,
           "rss_growth_mib": round((peak - base_rss) / 1024, 1),
           "refused": {k: v for k, v in counters.items() if k.startswith("http.refused.") and v}}
    print(json.dumps(out), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slowloris", type=int, default=500)
    ap.add_argument("--senders", type=int, default=50)
    ap.add_argument("--reports", type=int, default=20, help="POSTs per sender (one report each)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved runs of the three scenarios")
    ap.add_argument("--deadline", type=int, default=10, help="--http-request-deadline of the receiver (0: not passed, for a binary without it)")
    ap.add_argument("--receiver-args", nargs="*", default=[], help="more flags for overflowd receive")
    ap.add_argument("--db-dir", help="where the receiver's database goes (default: the system's temporary folder); "
                    "/dev/shm takes the disk's fsync out of the latency")
    ap.add_argument("--binary", help="overflowd to run (default: $OVERFLOWD or build/overflowd)")
    args = ap.parse_args()
    if args.binary:
        os.environ["OVERFLOWD"] = args.binary
    elif "OVERFLOWD" not in os.environ:
        os.environ["OVERFLOWD"] = str(HERE.parent / "build" / "overflowd")
    room = ins.fd_room()
    need = max(args.idle, args.slowloris) + 2 * args.senders + 64
    if room < need:
        fit = max(room - 2 * args.senders - 64, 0)
        print(f"RLIMIT_NOFILE allows {room} descriptors: {need} needed; running {fit} idle / slowloris "
              f"connections instead", file=sys.stderr)
        args.idle, args.slowloris = min(args.idle, fit), min(args.slowloris, fit)
    print(f"# RLIMIT_NOFILE {room}; {os.cpu_count()} CPUs (shared)", file=sys.stderr)
    runs = {"baseline": [], "idle": [], "slowloris": []}
    for rep in range(args.repeat):  # interleaved, so that the machine's load falls on all alike
        runs["baseline"].append(run(args, "baseline", key_byte=1 + 3 * rep))
        runs["idle"].append(run(args, "idle", idle=args.idle, key_byte=2 + 3 * rep))
        runs["slowloris"].append(run(args, "slowloris", slow=args.slowloris, key_byte=3 + 3 * rep))
    med = lambda rs_, k: statistics.median(r[k] for r in rs_)  # noqa: E731
    base = med(runs["baseline"], "median_ms")
    print(f"\nMedians over {args.repeat} interleaved runs of {args.senders} senders x {args.reports} POSTs:")
    print("| scenario | held | POSTs acked/stored (all runs) | median ms | p99 ms | max ms | median / baseline | RSS growth MiB |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for label, rs_ in runs.items():
        held = rs_[0]["idle"] or rs_[0]["slowloris"]
        posts = sum(r["posts"] for r in rs_)
        acked = sum(r["acknowledged"] for r in rs_)
        stored = sum(r["stored"] for r in rs_)
        ok = ok and acked == posts and stored == posts
        print(f"| {label} | {held} | {acked}/{stored} of {posts} | {med(rs_, 'median_ms'):.1f} | {med(rs_, 'p99_ms'):.1f} | "
              f"{med(rs_, 'max_ms'):.1f} | {med(rs_, 'median_ms') / base:.2f} | {med(rs_, 'rss_growth_mib'):.1f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

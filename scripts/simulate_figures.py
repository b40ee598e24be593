#!/usr/bin/python3
"""The figures of docs/SIMULATION.md, one command each:

    /usr/bin/python3 scripts/simulate_figures.py flood       # time to context against flood size
    /usr/bin/python3 scripts/simulate_figures.py deployment  # ... against deployment share and strategy
    /usr/bin/python3 scripts/simulate_figures.py coherent    # full paths with X = 0, 0.5, 1; the informed attacker

Each runs `overflowd simulate` (--overflowd, default build/overflowd) on a generated 70,000-AS
topology, writes its CSV and a PNG under docs/simulation/ (--out), and prints the medians as a
Markdown table and the wall time. Debian's python3-matplotlib draws; nothing else is needed.
"""
import argparse
import csv
import io
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The world every figure shares: a generated internet of 70,000 ASes (seed 4), a stub victim chosen
# by the seed, 20 flood sources at random, overflowd's default rate 1e-5 and budget (10 reports/s
# per AS toward the victim, burst 20), unsampled exporters unless said otherwise.
WORLD = ["--generate", "70000", "--seed", "4", "--sources", "20", "--rate", "1e-5", "--budget", "10",
         "--budget-burst", "20", "--stop-when-known", "--duration", "600"]


def run(overflowd, args, out_csv):
    cmd = [overflowd, "simulate", *WORLD, *args, "--csv", out_csv, "--quiet"]
    print("$ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd), flush=True)
    started = time.monotonic()
    subprocess.run(cmd, check=True)
    wall = time.monotonic() - started
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, wall


def median(rows, column, duration=600.0):
    """The median over runs; a run that never got there counts as the whole simulated time (so a
    median at the duration means 'not within it' for at least half the runs)."""
    values = [float(r[column]) if r[column] else math.inf for r in rows]
    if not values:
        return math.nan
    m = statistics.median(values)
    return m


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if math.isinf(v):
        return "> 600"
    return f"{v:.3g}"


def group(rows, *keys):
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def figure_flood(a):
    rates = ["1000", "3000", "10000", "30000", "100000", "300000", "1000000"]
    rows, wall = run(a.overflowd, ["--flood-pps", ",".join(rates), "--deploy-share", "0.1,0.3", "--trials", str(a.trials)],
                     os.path.join(a.out, "flood.csv"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    print("\n| flood pps | deploy share | k (median) | first report s | origin of a source s | all deploying ASes s | victim reports/s |")
    print("|---|---|---|---|---|---|---|")
    for share, style in (("0.1", "-"), ("0.3", "--")):
        xs, first, origin, every = [], [], [], []
        for rate in rates:
            g = group(rows, "flood_pps", "deploy_share").get((rate, share), [])
            if not g:
                continue
            xs.append(float(rate))
            first.append(median(g, "first_report_s"))
            origin.append(median(g, "first_origin_s"))
            every.append(median(g, "all_deployers_s"))
            print(f"| {rate} | {share} | {statistics.median(int(r['deployers_on_paths']) for r in g)} | {fmt(first[-1])} | "
                  f"{fmt(origin[-1])} | {fmt(every[-1])} | {fmt(statistics.median(float(r['victim_reports_per_s']) for r in g))} |")
        cap = lambda v: [min(x, 600) for x in v]  # noqa: E731
        ax.plot(xs, cap(first), "o" + style, color="C0", label=f"first report, share {share}")
        ax.plot(xs, cap(origin), "s" + style, color="C2", label=f"first true origin, share {share}")
        ax.plot(xs, cap(every), "^" + style, color="C1", label=f"every deploying AS, share {share}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("flood size R (packets/s, 20 spoofed sources)")
    ax.set_ylabel("time to context (s, median; 600 = not within 600 s)")
    ax.set_title("70,000 ASes, random deployment, rate 1e-5")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "flood.png"), dpi=110)
    return wall


def figure_deployment(a):
    shares = ["0.01", "0.03", "0.1", "0.3", "1"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    total = 0.0
    print("\n| strategy | deploy share | k (median) | sources with a deployer | first report s | origin of a source s | all deploying ASes s |")
    print("|---|---|---|---|---|---|---|")
    for i, kind in enumerate(("random", "degree", "transit-first")):
        rows, wall = run(a.overflowd, ["--flood-pps", "100000", "--deploy", kind, "--deploy-share", ",".join(shares),
                                       "--trials", str(a.trials)], os.path.join(a.out, f"deployment-{kind}.csv"))
        total += wall
        xs, first, every = [], [], []
        for share in shares:
            g = group(rows, "deploy_share").get((share,), [])
            if not g:
                continue
            xs.append(float(share))
            first.append(median(g, "first_report_s"))
            every.append(median(g, "all_deployers_s"))
            print(f"| {kind} | {share} | {statistics.median(int(r['deployers_on_paths']) for r in g)} | "
                  f"{statistics.median(int(r['sources_with_deployer']) for r in g)} of 20 | {fmt(first[-1])} | "
                  f"{fmt(median(g, 'first_origin_s'))} | {fmt(every[-1])} |")
        cap = lambda v: [min(x, 600) for x in v]  # noqa: E731
        ax.plot(xs, cap(first), "o-", color=f"C{i}", label=f"first report, {kind}")
        ax.plot(xs, cap(every), "^--", color=f"C{i}", label=f"every deploying AS, {kind}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("share of ASes deploying overflowd")
    ax.set_ylabel("time to context (s, median; 600 = not within 600 s)")
    ax.set_title("70,000 ASes, flood of 100,000 packets/s, rate 1e-5")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "deployment.png"), dpi=110)
    return total


def figure_coherent(a):
    shares = ["0", "0.25", "0.5", "0.75", "1"]
    # 100-packet flood flows (p = 1e-3 per flow at rate 1e-5), 30 % of ASes deploying.
    common = ["--flood-pps", "100000", "--flood-flow-packets", "100", "--deploy-share", "0.3", "--coherent-share",
              ",".join(shares), "--trials", str(a.trials)]
    total = 0.0
    results = {}
    for name, extra in (("n1", []), ("n100", ["--exporter-interval", "100"]), ("attacker", ["--attacker-knows-key"])):
        rows, wall = run(a.overflowd, common + extra, os.path.join(a.out, f"coherent-{name}.csv"))
        total += wall
        results[name] = group(rows, "coherent_share")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    print("\n| X | full path s (exporters 1:1) | full path s (exporters 1:100) | first report s | every deploying AS s | "
          "flood reports left by an informed attacker |")
    print("|---|---|---|---|---|---|")
    xs, full1, full100, left_share = [], [], [], []
    for x in shares:
        g1, g100, ga = results["n1"].get((x,), []), results["n100"].get((x,), []), results["attacker"].get((x,), [])
        xs.append(float(x))
        full1.append(median(g1, "full_path_s"))
        full100.append(median(g100, "full_path_s"))
        # Reports per second of flood at the victim, attacker over honest (same seeds, same runs).
        honest = sum(float(r["victim_flood_reports"]) / max(float(r["simulated_s"]), 1e-9) for r in g1)
        informed = sum(float(r["victim_flood_reports"]) / max(float(r["simulated_s"]), 1e-9) for r in ga)
        left_share.append(informed / honest if honest else math.nan)
        print(f"| {x} | {fmt(full1[-1])} | {fmt(full100[-1])} | {fmt(median(g1, 'first_report_s'))} | "
              f"{fmt(median(g1, 'all_deployers_s'))} | {left_share[-1]:.2f} (model {(1 - float(x)) / (1 - float(x) * 1e-3):.2f}) |")
    cap = lambda v: [min(x, 600) for x in v]  # noqa: E731
    left.plot(xs, cap(full1), "o-", label="exporters unsampled (1:1)")
    left.plot(xs, cap(full100), "s--", label="exporters 1:100")
    left.set_yscale("log")
    left.set_xlabel("coherent share X")
    left.set_ylabel("time to one flow's full path (s, median; 600 = not within)")
    left.set_title("100,000 pps in 100-packet flows, 30 % deploy")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.plot(xs, left_share, "o-", color="C3", label="simulated")
    right.plot(xs, [(1 - x) / (1 - x * 1e-3) for x in xs], ":", color="k", label="model (1-X)/(1-Xp)")
    right.set_xlabel("coherent share X")
    right.set_ylabel("flood reports left, informed attacker / honest")
    right.set_title("what an attacker who knows the key suppresses")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "coherent.png"), dpi=110)
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=["flood", "deployment", "coherent", "all"])
    p.add_argument("--overflowd", default=os.path.join(ROOT, "build", "overflowd"))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "simulation"))
    p.add_argument("--trials", type=int, default=10)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    started = time.monotonic()
    for name in (["flood", "deployment", "coherent"] if a.figure == "all" else [a.figure]):
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        wall = globals()["figure_" + name](a)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu
        print(f"\n{name}: overflowd simulate took {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    print(f"total wall time {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

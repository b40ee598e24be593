#!/usr/bin/python3
"""Instructions per flow of decode_bench's passes, counted by callgrind: exact, whatever the load.

    bench/pass_instructions.py [build/bench/decode_bench] [--cache]

Runs each of BM_DecodeSample and BM_DecodeSamplePolicy/volume:0,1,2 under callgrind, counting
only inside `sample_pass` and `policy_pass` (one pass over the capture each: the set-up, the
capture's reading and the policy's build, left out), and prints per flow: instructions (Ir), and
with --cache the simulated first-level and 2 MiB second-level data misses (D1mr + D1mw, DLmr +
DLmw; the second level sized as this machine's L2), with the ratio of each variant's instructions
to BM_DecodeSample's. The machine has no hardware counters (a VM): these stand in for perf stat.
"""
import os
import re
import subprocess
import sys
import tempfile

FLOWS_PER_PASS = 78_684  # netflow_4M.pcap (decode_bench's header)
VARIANTS = [("BM_DecodeSample$", "sample_pass"),
            ("BM_DecodeSamplePolicy/volume:0$", "policy_pass"),
            ("BM_DecodeSamplePolicy/volume:1$", "policy_pass"),
            ("BM_DecodeSamplePolicy/volume:2$", "policy_pass")]


def run(binary, bench_filter, function, cache):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect=*{function}*"]
        if cache:
            cmd += ["--cache-sim=yes", "--D1=49152,12,64", "--LL=2097152,16,64"]
        cmd += [binary, f"--benchmark_filter={bench_filter}", "--benchmark_min_time=0.05"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = open(out).read()
    events = re.search(r"^events: (.*)$", text, re.M).group(1).split()
    totals = [int(v) for v in re.search(r"^totals: (.*)$", text, re.M).group(1).split()]
    # Calls of the pass function: "cfn=(id) name" names it once, later "cfn=(id)"; "calls=N" follows.
    ident = re.search(r"^c?fn=\((\d+)\) [^\n]*" + function, text, re.M).group(1)
    calls = sum(int(m.group(1)) for m in re.finditer(r"^cfn=\(" + ident + r"\)[^\n]*\ncalls=(\d+)", text, re.M))
    return dict(zip(events, totals)), calls


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    cache = "--cache" in sys.argv
    binary = args[0] if args else "build/bench/decode_bench"
    base = None
    for bench_filter, function in VARIANTS:
        totals, calls = run(binary, bench_filter, function, cache)
        flows = calls * FLOWS_PER_PASS
        ir = totals["Ir"] / flows
        base = base or ir
        line = f"{bench_filter.rstrip('$'):34s} passes {calls:3d}  Ir/flow {ir:7.1f} (x{ir / base:.3f})"
        if cache:
            d1 = (totals.get("D1mr", 0) + totals.get("D1mw", 0)) / flows
            ll = (totals.get("DLmr", 0) + totals.get("DLmw", 0)) / flows
            line += f"  D1 misses/flow {d1:6.2f}  L2 misses/flow {ll:6.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

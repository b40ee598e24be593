#!/usr/bin/python3
"""`make bench`: the headline figures in one table, with their targets and the peers' figures from
the same run (issue 17). A few minutes in all; every figure is a median or a ratio measured side by
side in this run, never an absolute time from elsewhere.

usage: bench_table.py BUILD_DIR [--readme README.md] [--quick]

Runs, briefly:
  1. bench/compare_prototype.py: `overflowd -f netflow_4M.pcap -r 1` with --workers 1 and 2 against
     bench/prototype_ref.py (the prototype's logic in Python with PyNaCl), rotating order.
  2. bench/whole_process.py's timing, interleaved: `overflowd --help` and the default-rate run.
  3. signing_bench: the signing pool's reports per CPU second against crypto_sign_detached alone.
  4. decode_bench BM_Decode: v5 decoding in memory, CPU s per million flows; and decode + sample +
     policy against decode + sample, interleaved (issue 16's ratio, >= 0.8).
  5. bench/compare_collectors.py (short search): the live UDP worker against nfcapd and nfacctd, CPU s per
     million flows at the highest lossless rate each reached (skipped for a collector that is not
     installed, and said so); then overflowd (recvmmsg and af_packet) and nfcapd at one rate
     for all, 4 M flows/s, 3 rounds: CPU per flow at equal rates, the fair comparison (issue 17's >= 3x).
  6. decode_bench: decode + sample + the suspicion policy (100,000 CIDRs, 20 rules; no volume rule,
     a dst_pps rule, a dst_sources rule) against decode + sample alone, flows per CPU second: the
     median ratio of 3 interleaved runs (issue 16).
  7. goflow_bench: goflow2 protobuf messages from Kafka, flows per CPU second (issue 18): the consuming
     thread's whole per-message path (librdkafka's mock cluster in process, KafkaSource, decode,
     sample; librdkafka's fetch threads not counted) and decode + sample alone.
  8. seal_bench: build + sign + seal against build + sign, CPU time per report (issue 15).
  9. bench/store_postgres.sh: reports/s stored by 1 and 2 PostgreSQL receivers against SQLite, on a
     cluster made for the run (skipped, and said so, without PostgreSQL 15's server; issue 18).
Then prints the table (Markdown). With --readme FILE, the table replaces what lies between the
markers `<!-- bench-table:begin -->` and `<!-- bench-table:end -->` in FILE, dated and with the CPU
model from /proc/cpuinfo: the README's performance table is made here, not edited by hand.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from whole_process import run_once  # noqa: E402

BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
STEPS = 9


def log(msg):
    print(f"bench_table: {msg}", file=sys.stderr, flush=True)


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def gbench(binary, filt, reps, min_time=0.2, extra=()):
    out = subprocess.run([binary, f"--benchmark_filter={filt}", f"--benchmark_repetitions={reps}",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}", *extra], capture_output=True, text=True, check=True).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            medians[b["run_name"]] = b
    return medians


def interleaved(commands, n):
    names = list(commands)
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    with tempfile.TemporaryFile() as err:
        for k in names:
            run_once(commands[k], err)
        for i in range(n):
            for k in names[i % len(names):] + names[:i % len(names)]:
                w, c = run_once(commands[k], err)
                wall[k].append(w)
                cpu[k].append(c)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in names}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--readme", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer rounds (for a try-out)")
    args = ap.parse_args()
    build = Path(args.build).resolve()
    overflowd = str(build / "overflowd")
    capture = ROOT.parent / "shared" / "data" / "netflow_4M.pcap"
    rounds = 3 if args.quick else 5
    load_start = os.getloadavg()
    rows = []  # (figure, overflowd, peer, target, met)
    notes = []

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key"
        subprocess.run([overflowd, "keygen", str(key)], check=True, stdout=subprocess.DEVNULL)
        if not capture.is_file():
            capture = Path(tmp) / "synth.pcap"
            subprocess.run([overflowd, "synth", "--out", str(capture), "--background-flows", "60000",
                            "--flood-flows", "20000"], check=True, capture_output=True)
            notes.append("../shared/data/netflow_4M.pcap is absent: a synthetic capture was timed instead.")

        log(f"1/{STEPS} -r 1 against the Python rendering, {rounds} rounds")
        j = Path(tmp) / "cmp.json"
        subprocess.run(["/usr/bin/python3", str(HERE / "compare_prototype.py"), "--overflowd", overflowd,
                        "--capture", str(capture), "-n", str(rounds), "--json", str(j)], check=True,
                       stdout=sys.stderr)
        cmp = json.loads(j.read_text())["commands"]
        py = cmp["python prototype_ref.py"]
        for w in ("1", "2"):
            o = cmp[f"overflowd --workers {w}"]
            ratio = py["wall_ms"] / o["wall_ms"]
            rows.append((f"`-f {capture.name} -r 1`, --workers {w}: wall time, Python rendering / overflowd",
                         f"{o['wall_ms']:.0f} ms ({ratio:.2f}x faster)", f"Python + PyNaCl {py['wall_ms']:.0f} ms",
                         ">= 3.5x with 2 workers" if w == "2" else "(1.7-2.3x before issue 17)",
                         ("yes" if ratio >= 3.5 else "no") if w == "2" else ""))
        o1, o2 = cmp["overflowd --workers 1"], cmp["overflowd --workers 2"]
        rows.append(("`-r 1` CPU time, --workers 2 / --workers 1 (the pool's overhead)",
                     f"{o2['cpu_ms'] / o1['cpu_ms']:.2f}", "", "about 1", ""))

        log(f"2/{STEPS} start-up: --help and the default-rate run, {4 * rounds + 1} rounds interleaved")
        load2 = os.getloadavg()[0]
        t = interleaved({"help": [overflowd, "--help"],
                         "default": [overflowd, "-f", str(capture), "-q", "--key", str(key)]}, 4 * rounds + 1)
        load2 = max(load2, os.getloadavg()[0])  # wall time waits for a core: it depends on the load
        rows.append((f"`overflowd --help` (process start), wall / CPU median (load average up to {load2:.1f})",
                     f"{t['help'][0]:.1f} / {t['help'][1]:.1f} ms", "", "", ""))
        rows.append((f"`-f {capture.name}` at the default rate, wall / CPU median",
                     f"{t['default'][0]:.1f} / {t['default'][1]:.1f} ms", f"--help: {t['help'][0]:.1f} ms",
                     "< 15 ms wall", "yes" if t["default"][0] < 15 else "no"))

    log(f"3/{STEPS} signing per CPU second: the pool against crypto_sign_detached alone")
    sb = build / "bench" / "signing_bench"
    if sb.exists():
        # 1 s each: the batches still in flight when the timing stops count against the pool.
        m = gbench(str(sb), "BM_CryptoSignDetached|BM_PoolSign", 3, 1.0)
        alone = m["BM_CryptoSignDetached/process_time"]["items_per_second"]
        for threads in (1, 2):
            pool = m[f"BM_PoolSign/threads:{threads}/process_time"]["items_per_second"]
            rows.append((f"signing pool, {threads} thread(s): reports per CPU second / crypto_sign_detached alone",
                         f"{pool / 1e3:.1f} k/s ({pool / alone:.2f})", f"crypto_sign_detached {alone / 1e3:.1f} k/s",
                         ">= 0.90", "yes" if pool / alone >= 0.9 else "no"))
    else:
        notes.append("signing_bench not built (Google Benchmark missing?): signing row left out.")

    log(f"4/{STEPS} v5 decoding in memory, and with the suspicion policy")
    db = build / "bench" / "decode_bench"
    if db.exists():
        m = gbench(str(db), "BM_Decode$", 3)
        b = m.get("BM_Decode")
        if b:
            rows.append(("v5 decoding in memory (BM_Decode), CPU s per million flows",
                         f"{1e6 / b['items_per_second']:.4f}", "", "", ""))
        # Issue 16: decode + sample + policy (100,000 CIDRs, 20 rules) against decode + sample, side by
        # side in one run (interleaved), without a volume rule, with dst_pps, with dst_sources.
        m = gbench(str(db), "BM_DecodeSample", 5, 0.3, ["--benchmark_enable_random_interleaving=true"])
        b = m.get("BM_DecodeSample")
        pol = [m.get(f"BM_DecodeSamplePolicy/volume:{v}") for v in (0, 1, 2)]
        if b and all(pol):
            r = [x["items_per_second"] / b["items_per_second"] for x in pol]
            rows.append(("decode + sample + policy (100,000 CIDRs, 20 rules) / decode + sample, per core: "
                         "no volume rule / `dst_pps` / `dst_sources`", " / ".join(f"{x:.2f}" for x in r),
                         f"decode + sample {b['items_per_second'] / 1e6:.1f} M flows/s", ">= 0.8",
                         "yes" if min(r) >= 0.8 else "no"))

    log(f"5/{STEPS} live UDP against nfcapd (short search)")
    cc = subprocess.run(["/usr/bin/python3", str(HERE / "compare_collectors.py"), str(build),
                         "--only", "overflowd,overflowd1,overflowd_afp,nfcapd,nfacctd", "--duration", "1.5", "--steps", "3"],
                        capture_output=True, text=True)
    found = {}
    lossy = set()  # ran, but lost flows at every rate the short search tried
    for line in cc.stdout.splitlines():
        mm = re.match(r"\| (.+?) \| (>= )?([\d.]+) M \| .*? \| ([\d.]+) \|", line)
        if mm:
            found[mm.group(1)] = (mm.group(2) or "", float(mm.group(3)), float(mm.group(4)))
        elif (mm := re.match(r"\| (.+?) \| none found \|", line)):
            lossy.add(mm.group(1).split(" (")[0])
    nf = next((v for k, v in found.items() if k.startswith("nfcapd")), None)
    na = next((v for k, v in found.items() if k.startswith("nfacctd")), None)
    nf_absent = "nfcapd lost flows at every rate tried" if "nfcapd" in lossy else "nfcapd not installed"
    for k, (ge, rate, cpu) in found.items():
        if k.startswith("overflowd"):
            peer = f"nfcapd {nf[2]:.3f} at {nf[0]}{nf[1]:.2f} M/s" if nf else nf_absent
            if na:
                peer += f"; nfacctd {na[2]:.3f} at {na[0]}{na[1]:.2f} M/s"
            target = "<= 1/3 of nfcapd's"
            met = ("yes" if cpu <= nf[2] / 3 else "no") if nf else "not measured"
            rows.append((f"live UDP, {k}: CPU s per million flows at {ge}{rate:.2f} M flows/s lossless",
                         f"{cpu:.3f}", peer, target, met))
    if not nf and "nfcapd" in lossy:
        notes.append("nfcapd lost flows at every rate of the short search, so the search has no peer figure; the "
                     "equal-rate rows compare CPU per flow at one rate.")
    elif not nf:
        notes.append("nfcapd (nfdump) is not installed here, so the live comparison has no peer figure in this run.")
    # At one rate for all (at its own ceiling a collector's batches are fuller, which flatters the
    # faster one): the fair comparison of CPU per flow.
    rate = 4e6
    eq = subprocess.run(["/usr/bin/python3", str(HERE / "compare_collectors.py"), str(build),
                         "--only", "overflowd,overflowd_afp,nfcapd", "--duration", "2", "--fixed-rate", str(rate),
                         "--rounds", "3"], capture_output=True, text=True)
    med = {}
    for line in eq.stdout.splitlines():
        mm = re.match(r"\| (.+?) \| ([\d.]+) \| .*? \| (\d+) of (\d+) \|", line)
        if mm:
            med[mm.group(1)] = (float(mm.group(2)), f"{mm.group(3)} of {mm.group(4)} rounds lossless")
    nfe = next((v for k, v in med.items() if k.startswith("nfcapd")), None)
    for k, (cpu, lossless) in med.items():
        if k.startswith("overflowd") and nfe:
            rows.append((f"live UDP at {rate / 1e6:.0f} M flows/s for all, {k}: CPU s per million flows (median of 3; "
                         f"{lossless}) and nfcapd's / overflowd's", f"{cpu:.3f} ({nfe[0] / cpu:.2f}x)",
                         f"nfcapd {nfe[0]:.3f} ({nfe[1]})", ">= 3x", "yes" if nfe[0] / cpu >= 3 else "no"))
    if any(k.startswith("overflowd af_packet") for k in found):
        notes.append("af_packet: on loopback the kernel copies into the ring in the sender's softirq, so part of its "
                     "receive cost is charged to the replayer, not to overflowd (docs/benchmarks.md).")
    if any(ge for ge, _, _ in found.values()):
        notes.append('">=": lossless as fast as the replayer went; the replayer (same 2 cores) set the limit.')
    if not found:
        notes.append("compare_collectors gave no figures: " + (cc.stderr.strip().splitlines() or ["?"])[-1])

    log(f"6/{STEPS} the suspicion policy's cost (decode + sample + policy / decode + sample)")
    if db.exists():
        # Three runs, each with the four benchmarks' repetitions randomly interleaved; per run the
        # ratio of medians to BM_DecodeSample of the same run, then the median of the three ratios
        # (a shared machine scatters single runs by up to +-0.15).
        ratios = {"0": [], "1": [], "2": []}
        bases = []
        for _ in range(3):
            m = gbench(str(db), "BM_DecodeSample$|BM_DecodeSamplePolicy/volume:[012]$", 5, 0.3,
                       ["--benchmark_enable_random_interleaving=true"])
            base = m.get("BM_DecodeSample")
            if not base:
                continue
            bases.append(base["items_per_second"])
            for arg in ratios:
                pol = m.get(f"BM_DecodeSamplePolicy/volume:{arg}")
                if pol:
                    ratios[arg].append(pol["items_per_second"] / base["items_per_second"])
        for arg, rule in (("0", "no volume rule"), ("1", "a dst_pps rule"), ("2", "a dst_sources rule")):
            if ratios[arg]:
                ratio = statistics.median(ratios[arg])
                rows.append((f"decode + sample + policy (100,000 CIDRs, 20 rules, {rule}) / decode + sample, flows per CPU s",
                             f"{ratio:.2f} (median of {len(ratios[arg])} runs: "
                             + ", ".join(f"{r:.2f}" for r in ratios[arg]) + ")",
                             f"no policy {statistics.median(bases) / 1e6:.2f} M/s", ">= 0.80",
                             "yes" if ratio >= 0.8 else "no"))

    log(f"7/{STEPS} goflow2 protobuf from Kafka: decode + sample per core")
    gb = build / "bench" / "goflow_bench"
    if gb.exists():
        m = gbench(str(gb), "BM_GoflowPbDecodeSample/1$|BM_V5DecodeSample$|BM_GoflowKafkaSource/", 3)
        g, v = m.get("BM_GoflowPbDecodeSample/1"), m.get("BM_V5DecodeSample")
        k = next((b for name, b in m.items() if name.startswith("BM_GoflowKafkaSource/")), None)
        if k:
            # The per-message path as the worker pays it: librdkafka's batch consume, a free per
            # message, the offsets stored per batch, decode, sample (CPU time of the consuming thread).
            rate = k["items_per_second"]
            rows.append(("Kafka (goflow2 protobuf, one flow per message): consume + decode + sample, flows per CPU s",
                         f"{rate / 1e6:.2f} M/s", f"decode + sample alone {g['items_per_second'] / 1e6:.2f} M/s" if g else "",
                         ">= 5 M/s", "yes" if rate >= 5e6 else "no"))
        if g:
            rate = g["items_per_second"]
            rows.append(("Kafka (goflow2 protobuf, one flow per message): decode + sample, flows per CPU s",
                         f"{rate / 1e6:.2f} M/s", f"v5 decode + sample {v['items_per_second'] / 1e6:.2f} M/s" if v else "",
                         ">= 5 M/s", "yes" if rate >= 5e6 else "no"))
    else:
        notes.append("goflow_bench not built: the Kafka row is left out.")

    log(f"8/{STEPS} sealing: build + sign + seal against build + sign")
    sl = build / "bench" / "seal_bench"
    if sl.exists():
        m = gbench(str(sl), "BM_SignPlain$|BM_SignSeal$|BM_SignSealDatagram$", 3)
        plain = m.get("BM_SignPlain")
        for name, what in (("BM_SignSeal", "JSON envelope"), ("BM_SignSealDatagram", "binary UDP datagram")):
            s = m.get(name)
            if plain and s:
                rows.append((f"sealing ({what}): CPU per report, sign + seal / sign alone",
                             f"{s['cpu_time'] / plain['cpu_time']:.2f}x ({s['items_per_second'] / 1e3:.1f} k/s per core)",
                             f"unsealed {plain['items_per_second'] / 1e3:.1f} k/s", "(no target: the cost, measured)", ""))
    else:
        notes.append("seal_bench not built: the sealing rows are left out.")

    log(f"9/{STEPS} PostgreSQL against SQLite: reports/s stored")
    pb = build / "bench" / "store_postgres_bench"
    if pb.exists() and Path("/usr/lib/postgresql/15/bin/initdb").exists():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "pg.json"
            os.chmod(tmp, 0o755)
            r = subprocess.run([str(HERE / "store_postgres.sh"), str(build), "1"], capture_output=True, text=True,
                               env=dict(os.environ, OVERFLOWD_BENCH_JSON=str(out)))
            if r.returncode == 0 and out.exists():
                per = {b["run_name"]: b["reports_per_s"] for b in json.loads(out.read_text())["benchmarks"]
                       if b.get("aggregate_name") == "median" or b.get("run_type") == "iteration"}
                lite = next((v for k, v in per.items() if k.startswith("BM_StoreSqlite")), None)
                for n in ("1", "2"):
                    pg = next((v for k, v in per.items() if k.startswith(f"BM_StorePostgres/receivers:{n}")), None)
                    if lite and pg:
                        rows.append((f"PostgreSQL store, {n} receiver(s): reports/s stored / SQLite's",
                                     f"{pg:,.0f}/s ({pg / lite:.3f})", f"SQLite {lite:,.0f}/s",
                                     "(no target: the ratio, measured)", ""))
            else:
                notes.append("store_postgres.sh failed: " + ((r.stderr or r.stdout).strip().splitlines() or ["?"])[-1])
    else:
        notes.append("PostgreSQL 15's server or store_postgres_bench is missing here: the PostgreSQL rows are left out.")

    load_end = os.getloadavg()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"Measured {date} on {cpu_model()}, {os.cpu_count()} cores; load average "
            f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end"
            + (" (the machine was shared: ratios from this one run are the figures to read, absolute times are not)"
               if max(load_start[0], load_end[0]) > 1.5 else "") + ". Made by `make bench` (bench/bench_table.py).")
    lines = [head, "", "| figure | overflowd | peer, same run | target | met |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    table = "\n".join(lines)
    print(table)
    if args.readme:
        p = Path(args.readme)
        text = p.read_text()
        if BEGIN not in text or END not in text:
            sys.exit(f"bench_table: {p} has no {BEGIN} ... {END} block")
        a, rest = text.split(BEGIN, 1)
        _, b = rest.split(END, 1)
        p.write_text(a + BEGIN + "\n" + table + "\n" + END + b)
        log(f"{p}: performance table replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())

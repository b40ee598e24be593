#!/usr/bin/env bash
# Reports/s stored in PostgreSQL by 1 and 2 receivers against SQLite, side by side in one run
# (bench/store_postgres_bench.cpp): a PostgreSQL 15 cluster is made in a temporary folder (its Unix
# socket only, listen_addresses=''; fsync and synchronous_commit on, as a real deployment), the
# benchmark runs REPETITIONS times with its cases interleaved at random, and the cluster is removed.
# Prints the medians (and writes Google Benchmark's JSON to $OVERFLOWD_BENCH_JSON when set, for
# bench/bench_table.py).   bench/store_postgres.sh [BUILD_DIR] [REPETITIONS] [BASE_BUILD_DIR]
# With BASE_BUILD_DIR (another build's tree, e.g. main's), the two builds' benchmarks run side by
# side on the one cluster: REPETITIONS rounds, each running both (which goes first alternates), and
# the medians of each case per build and their ratios (this build / the base) are printed.
set -euo pipefail
build=${1:-build}
reps=${2:-5}
base=${3:-}
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_owner=(runuser -u postgres --)
fi
cleanup() {
  "${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as_owner[@]}" "$pgbin/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale C >/dev/null
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories='$work' -c shared_buffers=128MB" start >/dev/null
export OVERFLOWD_BENCH_PG_URL="postgresql:///postgres?host=$work&user=postgres"
if [ -z "$base" ]; then
  "$build/bench/store_postgres_bench" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_report_aggregates_only=true --benchmark_counters_tabular=true \
    ${OVERFLOWD_BENCH_JSON:+--benchmark_out="$OVERFLOWD_BENCH_JSON" --benchmark_out_format=json} 2>&1 |
    grep -E "median|Benchmark|^-"
  exit 0
fi
echo "load at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$reps"); do
  order=("base:$base" "this:$build")
  [ $((round % 2)) = 0 ] && order=("this:$build" "base:$base")
  for entry in "${order[@]}"; do
    tag=${entry%%:*}
    "${entry#*:}/bench/store_postgres_bench" --benchmark_enable_random_interleaving=true \
      --benchmark_out="$work/$tag-$round.json" --benchmark_out_format=json >/dev/null 2>&1
  done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$work" "$reps" <<'PY'
import json, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
figures = {}  # (tag, case, counter) -> values
for tag in ("base", "this"):
    for r in range(1, reps + 1):
        for b in json.load(open(f"{work}/{tag}-{r}.json"))["benchmarks"]:
            for counter in ("reports_per_s", "reports_per_cpu_s"):
                case = b["run_name"].replace("/iterations:2", "").replace("/real_time", "")
                figures.setdefault((tag, case, counter), []).append(b[counter])
cases = sorted({case for _, case, _ in figures})
print(f"medians of {reps} rounds (each case 2 iterations a round)")
print(f"{'case':30} {'counter':18} {'base':>10} {'this':>10} {'this/base':>9}")
for case in cases:
    for counter in ("reports_per_s", "reports_per_cpu_s"):
        b = statistics.median(figures[("base", case, counter)])
        t = statistics.median(figures[("this", case, counter)])
        print(f"{case:30} {counter:18} {b:10,.0f} {t:10,.0f} {t / b:9.2f}")
lite = [c for c in cases if c.startswith("BM_StoreSqlite")]
for tag in ("base", "this"):
    for case in cases:
        if lite and case != lite[0]:
            pg = statistics.median(figures[(tag, case, "reports_per_s")])
            sq = statistics.median(figures[(tag, lite[0], "reports_per_s")])
            print(f"{tag}: {case} / SQLite, reports/s: {pg / sq:.2f}")
PY

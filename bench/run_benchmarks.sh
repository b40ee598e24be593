#!/usr/bin/env bash
# usage: bench/run_benchmarks.sh BUILD_DIR
#
# 1. Every Google Benchmark suite in BUILD_DIR/bench (*_bench), 5 repetitions each; the median of
#    each benchmark is printed (mean, stddev and cv are in BUILD_DIR/bench/results/*.json).
# 2. Whole-process wall time: `overflowd -f CAPTURE -q > /dev/null` at the default rate and at
#    -r 1, N=21 runs each (median and IQR), with one key file made beforehand so that every run
#    loads the same key; first `overflowd --help`, the cost of starting the process at all.
#    CAPTURE is ../shared/data/netflow_4M.pcap, or a synthetic capture when ../shared/data is
#    absent.
# The machine may be shared: compare numbers from one run of this script, not across runs.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
overflowd="$build/overflowd"
runs=${OVERFLOWD_BENCH_RUNS:-21}

shopt -s nullglob
benches=("$build"/bench/*_bench)
if ((${#benches[@]} == 0)); then
  echo "run_benchmarks: no benchmarks in $build/bench (is libbenchmark-dev installed?)" >&2
  exit 1
fi
[[ -x $overflowd ]] || { echo "run_benchmarks: $overflowd not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$build/bench/results"
for b in "${benches[@]}"; do
  name=$(basename "$b")
  echo "== $name (5 repetitions, medians; items_per_second is per CPU second, or per second of wall time for names ending in real_time)"
  "$b" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
       --benchmark_out="$build/bench/results/$name.json" --benchmark_out_format=json 2> "$tmp/stderr" |
    grep -E '^(Benchmark|-+$)|_median ' || true
  # The harness's context lines go; anything else on stderr (a skipped input, an error) stays.
  # (Debian's libbenchmark says it "was built as DEBUG": that concerns the harness, not our code.)
  grep -vE '^([0-9]{4}-|Running |Run on |CPU Caches:|  L[123] |Load Average:|\*\*\*WARNING\*\*\* Library was built as DEBUG)' \
    "$tmp/stderr" >&2 || true
done

"$overflowd" keygen "$tmp/key" > /dev/null

capture="$root/../shared/data/netflow_4M.pcap"
label=netflow_4M
if [[ ! -r $capture ]]; then
  echo "== ../shared/data/netflow_4M.pcap is absent: timing a synthetic capture instead"
  capture="$tmp/synth.pcap"
  label=synth
  "$overflowd" synth --out "$capture" --background-flows 60000 --flood-flows 20000 2> /dev/null
fi

echo "== whole process, $label, $runs runs each (wall time)"
# The floor: starting the process (exec, the dynamic loader, argument parsing) and nothing else.
/usr/bin/python3 "$here/whole_process.py" -n "$runs" --label "overflowd --help (process start only)" -- \
  "$overflowd" --help
/usr/bin/python3 "$here/whole_process.py" -n "$runs" --label "overflowd -f $label -q (rate 1e-5)" -- \
  "$overflowd" -f "$capture" -q --key "$tmp/key"
/usr/bin/python3 "$here/whole_process.py" -n "$runs" --label "overflowd -f $label -q -r 1" -- \
  "$overflowd" -f "$capture" -q --key "$tmp/key" -r 1

#!/usr/bin/env bash
# Reports/s stored in PostgreSQL by 1 and 2 receivers against SQLite, side by side in one run
# (bench/store_postgres_bench.cpp): a PostgreSQL 15 cluster is made in a temporary folder (its Unix
# socket only, listen_addresses=''; fsync and synchronous_commit on, as a real deployment), the
# benchmark runs REPETITIONS times with its cases interleaved at random, and the cluster is removed.
# Prints the medians (and writes Google Benchmark's JSON to $OVERFLOWD_BENCH_JSON when set, for
# bench/bench_table.py).   bench/store_postgres.sh [BUILD_DIR] [REPETITIONS]
set -euo pipefail
build=${1:-build}
reps=${2:-5}
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
OVERFLOWD_BENCH_PG_URL="postgresql:///postgres?host=$work&user=postgres" \
  "$build/bench/store_postgres_bench" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_counters_tabular=true \
  ${OVERFLOWD_BENCH_JSON:+--benchmark_out="$OVERFLOWD_BENCH_JSON" --benchmark_out_format=json} 2>&1 |
  grep -E "median|Benchmark|^-"

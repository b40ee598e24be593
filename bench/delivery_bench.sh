#!/usr/bin/env bash
# Whole-process delivery benchmark, loopback only: the decode rate of `overflowd -f` on a synthetic
# loopback capture with delivery off, and with UDP delivery on (budgets off, 127/8 allowed, to a
# port nothing listens on: each admitted report is still one sendto), at rate 1 (every flow
# reported and signed) and at the default rate; and with the default budgets (100/s in all, 1/s per
# address), where the Guard refuses nearly every report of a flood. Prints the median of RUNS runs of each.
#   bench/delivery_bench.sh [BUILD_DIR] [FLOWS] [RUNS]
set -euo pipefail
build=${1:-build}
flows=${2:-200000}
runs=${3:-5}
bin="$build/overflowd"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" synth --out "$work/lo.pcap" --loopback --background-flows $((flows / 2)) --flood-flows $((flows / 2)) \
  --flood-packets 10 --src-host 127.0.0.2 --dst-host 127.0.0.3 2>/dev/null
"$bin" keygen "$work/key" >/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
deliver=(--deliver udp --report-port "$port" --allow-destination 127.0.0.0/8 --budget off --per-destination-budget off)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

measure() {  # label, rate, extra args...
  local label=$1 rate=$2
  shift 2
  local times=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s.%N)
    "$bin" -f "$work/lo.pcap" -r "$rate" --key "$work/key" -q "$@" >/dev/null
    e=$(date +%s.%N)
    times+=("$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.6f", e - s}')")
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | median)
  printf '%-34s rate %-7s median %.3f s  %10.0f flows/s\n' "$label" "$rate" "$med" "$(awk -v f="$flows" -v m="$med" 'BEGIN {print f / m}')"
}

echo "delivery_bench: $flows flows, median of $runs runs"
measure "delivery off" 1
measure "delivery udp (2 datagrams/report)" 1 "${deliver[@]}"
measure "delivery udp, default budgets" 1 --deliver udp --report-port "$port" --allow-destination 127.0.0.0/8
measure "delivery off" 0.00001
measure "delivery udp" 0.00001 "${deliver[@]}"

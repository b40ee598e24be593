#!/usr/bin/env bash
# Whole-process cost of the encryption mode, loopback only, side by side (runs alternate):
#  1. `overflowd -f netflow_4M.pcap -r 1` unsealed (no delivery) against the same run with
#     --deliver udp --encrypt require and a pinned key (for 127.0.0.0/8 only, and every real
#     address denied too: under require an endpoint with no key gets nothing, so nothing leaves
#     the machine and no report is sealed; this is the cost of the mode on traffic it has no key for);
#  2. a synthetic loopback capture (flows 127.0.0.2 -> 127.0.0.3) at -r 1 with UDP delivery to a
#     port nothing listens on, plain against --encrypt require with 127.0.0.3 pinned: every report
#     is signed again and sealed (most sealed datagrams are then over 1,200 bytes: counted
#     udp.too_large, not sent).
# Prints the median wall and CPU (user+sys) seconds of RUNS runs of each.
#   bench/seal_whole.sh [BUILD_DIR] [RUNS] [FLOWS]
set -euo pipefail
build=${1:-build}
runs=${2:-7}
flows=${3:-100000}
bin="$build/overflowd"
data="$(dirname "$0")/../../shared/data/netflow_4M.pcap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" keygen "$work/key" >/dev/null
"$bin" keygen --x25519 "$work/x" >/dev/null
echo "127.0.0.0/8 $("$bin" pubkey --x25519 "$work/x" | cut -d' ' -f1)" >"$work/peers"
"$bin" synth --out "$work/lo.pcap" --loopback --background-flows $((flows / 2)) --flood-flows $((flows / 2)) \
  --flood-packets 10 --src-host 127.0.0.2 --dst-host 127.0.0.3 2>/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
safe=(--deny-destination 0.0.0.0/0 --deny-destination ::/0)
lo=(--deliver udp --deliver-to dst --report-port "$port" --allow-destination 127.0.0.0/8 --budget off --per-destination-budget off)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A wall cpu
one() {  # label, args...
  local label=$1
  shift
  local t
  /usr/bin/time -o "$work/t" -f "%e %U %S" "$bin" "$@" -r 1 --key "$work/key" -q >/dev/null 2>/dev/null
  t=$(tail -1 "$work/t")
  wall[$label]+="$(echo "$t" | cut -d' ' -f1) "
  cpu[$label]+="$(echo "$t" | awk '{print $2 + $3}') "
}
for _ in $(seq "$runs"); do
  if [ -f "$data" ]; then
    one 4M-plain -f "$data"
    one 4M-require-pinned -f "$data" --deliver udp --encrypt require --peer-keys "$work/peers" "${safe[@]}"
  fi
  one lo-plain -f "$work/lo.pcap" "${lo[@]}"
  one lo-sealed -f "$work/lo.pcap" "${lo[@]}" --encrypt require --peer-keys "$work/peers"
done
for label in 4M-plain 4M-require-pinned lo-plain lo-sealed; do
  [ -n "${wall[$label]:-}" ] || continue
  printf '%-20s median wall %.3f s  CPU %.3f s\n' "$label" \
    "$(echo ${wall[$label]} | tr ' ' '\n' | median)" "$(echo ${cpu[$label]} | tr ' ' '\n' | median)"
done

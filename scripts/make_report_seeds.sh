#!/usr/bin/env bash
# Writes the seed corpus of the report_verify fuzz target (fuzz/corpus/report_verify/) with the built
# overflowd: one report of a synthetic capture, signed by the fixed test key (seed 0x2a x 32, as in
# fuzz/report_verify_fuzz.cpp), as a full line and in the compact form (first byte 0: verify as it
# is), and its unsigned message (first byte 1: the target signs it). Our own synthetic data.
# Usage: scripts/make_report_seeds.sh [BUILD_DIR]   (from the repository root)
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/overflowd-seeds.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '2a%.0s' $(seq 32) >"$tmp/key" && echo >>"$tmp/key" && chmod 600 "$tmp/key"
"$build/overflowd" synth --out "$tmp/s.pcap" >/dev/null
"$build/overflowd" -q -f "$tmp/s.pcap" -r 1 --seed 1 --key "$tmp/key" --email noc@example.net \
  --identity "Example Net (fuzz seed)" | head -1 >"$tmp/full.json"
/usr/bin/python3 - "$tmp/full.json" "$root/fuzz/corpus/report_verify" <<'PY'
import json, os, sys
line = open(sys.argv[1]).read().strip()
out = sys.argv[2]
cut = line.index(',"signature":')
compact = line[cut + len(',"signature":'):-1]
assert json.loads(compact) == json.loads(line)["signature"]
os.makedirs(out, exist_ok=True)
for name, data in (("full_report.bin", b"\0" + line.encode()), ("compact_report.bin", b"\0" + compact.encode()),
                   ("unsigned_report.bin", b"\1" + (line[:cut] + "}").encode())):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{out}: 3 seeds")
PY

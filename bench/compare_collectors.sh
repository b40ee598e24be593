#!/usr/bin/env bash
# usage: bench/compare_collectors.sh [BUILD_DIR] [--duration S] [--only overflowd,overflowd1,overflowd_afp,nfcapd,nfacctd]
#        [--fixed-rate FLOWS_PER_S [--rounds N]] [--also OTHER_BUILD_DIR] ...
#
# Replays ../shared/data/netflow_4M.pcap (a synthetic capture when it is absent) on loopback with
# `overflowd replay` to overflowd (-u PORT -q: default sampling rate, signing on, reports to
# /dev/null), to nfcapd (Debian's nfdump) and to nfacctd (Debian's pmacct), one after the other in
# one run, and prints a table: for each, the highest replay rate (flows/s) it took with no loss,
# and its CPU time per million flows at that rate. The work is done by compare_collectors.py (see
# its header for the method); every other argument is passed to it.
#
# Nothing is installed: a collector whose binary is absent is skipped with a message
# (apt-get install nfdump pmacct). This is a benchmark, not a test; run it on a quiet machine and
# compare numbers from one run only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build="$here/../build"
if [[ $# -gt 0 && $1 != -* ]]; then
  build=$1
  shift
fi
build=$(cd "$build" && pwd)
[[ -x $build/overflowd ]] || { echo "compare_collectors: $build/overflowd not built" >&2; exit 1; }
exec /usr/bin/python3 "$here/compare_collectors.py" "$build" "$@"

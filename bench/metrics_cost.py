#!/usr/bin/python3
"""The cost of metrics on the sender's hot path (issue 14, benchmarks): decode + sample of a capture
(`-f`, rate 0 so no report is signed) with --metrics off and on, runs alternated side by side; in
the "on" runs a scraper reads /metrics every 100 ms (each scrape asks the workers for their
counters). Prints the medians of wall time and of overflowd's own CPU time (user + sys, from
wait4: the scraper's CPU is not in it), their ratios, and the median scrape time.

    bench/metrics_cost.py [BINARY] [CAPTURE] [RUNS]   (defaults: build/overflowd,
                                                       ../shared/data/netflow_4M.pcap, 7)
"""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

root = Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "build" / "overflowd")
capture = sys.argv[2] if len(sys.argv) > 2 else str(root.parent / "shared" / "data" / "netflow_4M.pcap")
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one(metrics):
    args = [binary, "-f", capture, "-r", "0", "-q"]
    scrapes = []
    stop = threading.Event()
    if metrics:
        port = free_port()
        args += ["--metrics", f"127.0.0.1:{port}"]

        def scrape():
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                        r.read()
                    scrapes.append(time.perf_counter() - t)
                except OSError:
                    pass
                stop.wait(0.1)
        scraper = threading.Thread(target=scrape)
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if metrics:
        scraper.start()
    _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time: the scraper's is not in it
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    stop.set()
    if metrics:
        scraper.join()
    if proc.returncode != 0:
        sys.exit(f"overflowd failed: {proc.stderr.read().decode()}")
    return elapsed, cpu, scrapes


off, on, cpu_off, cpu_on, scrape_times = [], [], [], [], []
for i in range(runs):
    for metrics in ((False, True) if i % 2 == 0 else (True, False)):
        elapsed, cpu, scrapes = one(metrics)
        (on if metrics else off).append(elapsed)
        (cpu_on if metrics else cpu_off).append(cpu)
        scrape_times += scrapes
m_off, m_on = statistics.median(off), statistics.median(on)
print(f"capture {capture}, {runs} runs each, alternated")
print(f"metrics off: median {m_off:.3f} s   on (scraped every 100 ms): median {m_on:.3f} s   on/off {m_on / m_off:.3f}")
c_off, c_on = statistics.median(cpu_off), statistics.median(cpu_on)
print(f"CPU time of overflowd (user+sys): off median {c_off:.3f} s   on median {c_on:.3f} s   on/off {c_on / c_off:.3f}")
if scrape_times:
    print(f"scrapes: {len(scrape_times)}, median {statistics.median(scrape_times) * 1000:.1f} ms")

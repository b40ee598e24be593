#!/usr/bin/python3
"""Side-by-side benchmark of flow collectors on loopback: overflowd, nfcapd (nfdump) and nfacctd
(pmacct), fed by `overflowd replay` with the same capture in one run.

For each collector it finds the highest replay rate (flows/s) it takes with no loss, and the CPU
time it spends per million flows at that rate. The collectors' trials take turns, so that each sees
the machine's load of the same minutes. A trial starts the collector afresh, waits until its
start-up work is done, replays the capture (looped) for a few seconds at a rate, waits until the
collector has drained its socket and its CPU time stops growing, then compares what the collector
counted with what was sent:

  overflowd  its counters on SIGUSR1 ("flows", "source.kernel_drops"), run as `-u PORT -q` at the
             default sampling rate, signing every sampled flow, reports to /dev/null
  nfcapd     `nfdump -I` over the files it wrote (Flows:), after SIGTERM
  nfacctd    the print plugin's CSV (aggregate proto, flows: the FLOWS column), after SIGINT

A trial is lossless when the collector counted every flow sent and the kernel dropped nothing on
its socket(s) (/proc/net/udp "drops"). The search starts as fast as the replayer goes; when that
is lossless the collector's rate is at least the replayer's (shown as ">="), else it bisects
(geometrically) between the highest lossless and the lowest lossy achieved rate; a lossy trial is
tried once more (--retries) before its rate counts as lossy, since on a shared machine another
process can take the CPU for long enough to fill any buffer. CPU time is
utime + stime from /proc/PID/stat of the collector and its child processes, before and after the
trial's replay.

--fixed-rate R skips the search: every collector at the one rate R, in turn, --rounds times, and
the medians of CPU s per 1M flows (at a collector's own ceiling its batches are fuller, so its cost
per flow is lower: comparing each at its own ceiling flatters the faster one). --also DIR adds
another overflowd build to the same run, as each overflowd variant chosen.

Every collector is asked for the same socket receive buffer (net.core.rmem_max unless --buffer is
given); what the kernel granted is in the table. Nothing is installed: a collector whose binary is
absent is skipped with a message. Packets go to 127.0.0.1 only.
"""

import argparse
import glob
import os
import re
import resource
import socket
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# /proc


def cpu_ticks(pid):
    """utime + stime of `pid` and every live descendant, in clock ticks."""
    children = {}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(d))
        stats[int(d)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def udp_sockets(port):
    """(rx_queue bytes, drops) summed over the UDP sockets bound to `port` (IPv4 and IPv6)."""
    rx = drops = 0
    found = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) != port:
                continue
            found += 1
            rx += int(f[4].split(":")[1], 16)
            drops += int(f[-1])
    return rx, drops, found


def wait_bound(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if udp_sockets(port)[2]:
            return True
        time.sleep(0.05)
    return False


def wait_drained(port, pid, timeout=60):
    """Until the socket(s) hold nothing and the CPU time has not grown for 0.3 s."""
    deadline = time.monotonic() + timeout
    last = cpu_ticks(pid)
    still = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        rx = udp_sockets(port)[0]
        still = still + 1 if (now == last and rx == 0) else 0
        last = now
        if still >= 3:
            return
    log(f"  warning: port {port} did not drain within {timeout} s")


def settle(pid, timeout=20):
    """At least 1 s after start, and until the CPU time has not grown for 0.5 s."""
    time.sleep(1)
    deadline = time.monotonic() + timeout
    last, still = cpu_ticks(pid), 0
    while time.monotonic() < deadline and still < 5:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        still = still + 1 if now == last else 0
        last = now


def free_port():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# Collectors


class Collector:
    name = "?"

    def __init__(self, workdir, buffer):
        self.workdir = Path(workdir)
        self.buffer = buffer
        self.proc = None
        self.granted = None

    def available(self):
        return True

    def start(self, port):
        raise NotImplementedError

    def counted(self):
        """Flows the collector counted (after stop() for file-based ones)."""
        raise NotImplementedError

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Overflowd(Collector):
    def __init__(self, workdir, buffer, binary, workers, engine="recvmmsg"):
        super().__init__(workdir, buffer)
        self.binary = binary
        self.workers = workers
        self.engine = engine
        self.name = f"overflowd ({workers} worker{'s' if workers > 1 else ''})"
        if engine != "recvmmsg":
            self.name = f"overflowd {engine} ({workers} worker{'s' if workers > 1 else ''})"
        # af_packet: the UDP socket on the port only holds it and drops every datagram, so its
        # /proc/net/udp drops are not losses; the ring's own drops (tp_drops) are.
        self.port_holder_only = engine == "af_packet"
        self.lines = []
        self.cond = threading.Condition()

    def available(self):
        if self.engine != "af_packet":
            return True
        try:  # CAP_NET_RAW
            socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0).close()
            return True
        except OSError:
            return False

    def start(self, port):
        self.key = self.workdir / "overflowd.key"
        cmd = [self.binary, "-u", str(port), "--bind", "127.0.0.1", "-q", "--workers", str(self.workers),
               "--receive-buffer", str(self.buffer), "--key", str(self.key), "--output", "/dev/null",
               "--udp-engine", self.engine]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def counters(self):
        with self.cond:
            start = len(self.lines)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 15
        with self.cond:
            while time.monotonic() < deadline:
                block = self.lines[start:]
                if "overflowd: end of counters" in block:
                    at = block.index("overflowd: counters")
                    end = block.index("overflowd: end of counters")
                    return {l.split()[0]: int(l.split()[1]) for l in block[at + 1:end]}
                self.cond.wait(timeout=0.5)
        raise RuntimeError(f"overflowd printed no counters on SIGUSR1: {self.lines[-5:]}")

    def counted(self):
        return self._final

    def before_stop(self):
        c = self.counters()
        self._final = c["flows"]
        self.own_drops = c.get("source.kernel_drops", 0)


class Nfcapd(Collector):
    name = "nfcapd (nfdump)"

    def available(self):
        return shutil.which("nfcapd") and shutil.which("nfdump")

    def start(self, port):
        self.dir = self.workdir / f"nfcapd-{port}"
        self.dir.mkdir()
        cmd = ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(self.dir), "-B", str(self.buffer)]
        self.log = open(self.workdir / f"nfcapd-{port}.log", "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def counted(self):
        total = 0
        for f in sorted(glob.glob(str(self.dir / "nfcapd.*"))):
            out = subprocess.run(["nfdump", "-I", "-r", f], capture_output=True, text=True).stdout
            m = re.search(r"^Flows: (\d+)", out, re.M)
            if m:
                total += int(m.group(1))
        shutil.rmtree(self.dir, ignore_errors=True)  # ~100 bytes a flow: do not keep them
        return total


class Nfacctd(Collector):
    name = "nfacctd (pmacct)"

    def available(self):
        return shutil.which("nfacctd")

    def start(self, port):
        self.csv = self.workdir / f"nfacctd-{port}.csv"
        conf = self.workdir / f"nfacctd-{port}.conf"
        conf.write_text(f"""daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: {port}
nfacctd_pipe_size: {self.buffer}
plugin_pipe_size: 268435456
plugin_buffer_size: 1048576
plugins: print
aggregate: proto, flows
print_output: csv
print_output_file: {self.csv}
print_refresh_time: 3600
""")
        self.log = open(self.workdir / f"nfacctd-{port}.log", "w")
        self.proc = subprocess.Popen(["nfacctd", "-f", str(conf)], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # pmacct purges its caches on SIGINT
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def counted(self):
        total = 0
        for line in self.csv.read_text().splitlines()[1:] if self.csv.exists() else []:
            cols = line.split(",")
            if len(cols) >= 3:
                total += int(cols[2])
        return total


# ------------------------------------------------------------------------------------------------
# Trials


def replay(overflowd, capture, port, rate, count, duration, exporters):
    cmd = [overflowd, "replay", "-f", capture, "--to", f"127.0.0.1:{port}", "--loop", "--exporters", str(exporters)]
    if rate:
        cmd += ["--rate", f"{rate:.3f}", "--count", str(count), "--duration", str(duration * 3)]
    else:
        cmd += ["--duration", str(duration)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration * 5 + 60)
    if out.returncode != 0:
        raise RuntimeError(f"replay failed: {out.stderr.strip()}")
    return {l.split()[0]: float(l.split()[1]) for l in out.stdout.splitlines()[1:]}


def trial(c, args, flows_per_datagram, rate_fps):
    """One trial at `rate_fps` flows/s (None: as fast as the replayer goes)."""
    port = free_port()
    c.start(port)
    try:
        if not wait_bound(port, c.proc):
            raise RuntimeError(f"{c.name} did not start (see {c.workdir})")
        settle(c.proc.pid)  # start-up work done (nfacctd forks its plugin and fills its caches)
        before = cpu_ticks(c.proc.pid)
        dps = rate_fps / flows_per_datagram if rate_fps else None
        count = int(dps * args.duration) if dps else 0
        # The replayer's CPU too: on loopback the kernel's receive work up to the socket or the ring
        # (softirq) runs mostly in the sender's context, so a collector whose copy happens there
        # (af_packet) moves cost to the sender's side rather than only removing it.
        child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        sent = replay(args.overflowd, args.capture, port, dps, max(count, 1), args.duration, args.exporters)
        child_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        replayer_s = (child_after.ru_utime + child_after.ru_stime) - (child_before.ru_utime + child_before.ru_stime)
        wait_drained(port, c.proc.pid)
        after = cpu_ticks(c.proc.pid)
        _, drops, _ = udp_sockets(port)
        if hasattr(c, "before_stop"):
            c.before_stop()
        if getattr(c, "port_holder_only", False):
            drops = c.own_drops
    finally:
        c.stop()
    counted = c.counted()
    achieved = sent["flows"] / sent["elapsed_s"]
    lost = int(sent["flows"]) - counted
    cpu_s = (after - before) / CLK_TCK
    r = dict(asked=rate_fps, achieved=achieved, sent=int(sent["flows"]), counted=counted, lost=lost, drops=drops,
             cpu_per_m=cpu_s / (counted / 1e6) if counted else float("nan"), lossless=(lost == 0 and drops == 0),
             replayer_per_m=replayer_s / (sent["flows"] / 1e6) if sent["flows"] else float("nan"))
    log(f"  {c.name}: asked {fmt_rate(rate_fps) if rate_fps else 'max':>8} flows/s, sent {fmt_rate(achieved):>8}/s: "
        f"{counted}/{r['sent']} flows counted, {drops} kernel drops, {r['cpu_per_m']:.3f} CPU s per 1M flows "
        f"(replayer {r['replayer_per_m']:.3f})"
        f" -> {'lossless' if r['lossless'] else 'LOSS'}")
    return r


def fmt_rate(x):
    if x is None:
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def search(c, args, fpd):
    """A generator: one trial per step; its return value is the result."""
    top = trial(c, args, fpd, None)
    yield
    if top["lossless"]:
        return dict(best=top, bounded_by_replayer=True)
    best, lo, hi = None, 0.0, top["achieved"]
    guess = hi / 2
    for _ in range(args.steps):
        r = trial(c, args, fpd, guess)
        yield
        for _ in range(args.retries):  # a loss may be the machine's (another process took the CPU)
            if r["lossless"]:
                break
            r = trial(c, args, fpd, guess)
            yield
        if r["lossless"]:
            if best is None or r["achieved"] > best["achieved"]:
                best = r
            lo = max(lo, r["achieved"])
        else:
            hi = min(hi, r["achieved"])
        if lo and hi / lo < 1 + args.precision:
            break
        guess = (lo * hi) ** 0.5 if lo else hi / 2
    return dict(best=best, bounded_by_replayer=False)


def interleave(searches):
    """Runs the searches a trial at a time, in turn, so that every collector sees the machine's
    load of the same minutes. Returns their results in order."""
    results = [None] * len(searches)
    running = list(range(len(searches)))
    while running:
        for i in list(running):
            try:
                next(searches[i])
            except StopIteration as done:
                results[i] = done.value
                running.remove(i)
    return results


def fixed(runs, args, fpd):
    """Every collector at one rate, in turn, --rounds times: medians of CPU s per 1M flows."""
    import statistics

    got = {c.name: [] for c in runs}
    for _ in range(args.rounds):
        for c in runs:
            got[c.name].append(trial(c, args, fpd, args.fixed_rate))
    print()
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"| collector (at {args.fixed_rate / 1e6:.2f} M flows/s asked, {args.rounds} rounds) | CPU s per 1M flows, "
          f"median | each round | lossless rounds | replayer CPU s per 1M flows, median |")
    print("| --- | ---: | --- | ---: | ---: |")
    med = {}
    for c in runs:
        rs = got[c.name]
        med[c.name] = statistics.median(r["cpu_per_m"] for r in rs)
        each = ", ".join(f"{r['cpu_per_m']:.3f}" for r in rs)
        print(f"| {c.name} | {med[c.name]:.3f} | {each} | "
              f"{sum(r['lossless'] for r in rs)} of {len(rs)} | "
              f"{statistics.median(r['replayer_per_m'] for r in rs):.3f} |")
    n = next((v for k, v in med.items() if k.startswith("nfcapd")), None)
    if n:
        for k, v in med.items():
            if k.startswith("overflowd"):
                print(f"nfcapd / {k}: {n / v:.2f}x CPU per flow")


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default=str(here.parent / "build"), help="build folder (overflowd in it)")
    ap.add_argument("--capture", help="default: ../shared/data/netflow_4M.pcap, else a synthetic capture")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of replay per trial (default 3)")
    ap.add_argument("--steps", type=int, default=8, help="trials of the search after the first (default 8)")
    ap.add_argument("--retries", type=int, default=1,
                    help="a lossy trial is tried again this many times before the rate counts as lossy (default 1)")
    ap.add_argument("--precision", type=float, default=0.05, help="stop when hi/lo < 1 + this (default 0.05)")
    ap.add_argument("--exporters", type=int, default=4, help="replayer source ports (default 4)")
    ap.add_argument("--buffer", type=int, help="socket receive buffer asked of every collector (default: rmem_max)")
    ap.add_argument("--workdir", help="where collectors write (default: /dev/shm when there, so that nfcapd's "
                                      "files go to memory, not to a disk that would set its pace)")
    ap.add_argument("--only", help="comma-separated subset: overflowd,overflowd1,overflowd_afp,nfcapd,nfacctd "
                                   "(overflowd_afp: --udp-engine af_packet, needs CAP_NET_RAW; not in the default set)")
    ap.add_argument("--fixed-rate", type=float,
                    help="no search: every collector at this replay rate (flows/s), --rounds times in turn; "
                         "prints the median CPU s per 1M flows of each (the same rate and minutes for all)")
    ap.add_argument("--rounds", type=int, default=3, help="with --fixed-rate: trials per collector (default 3)")
    ap.add_argument("--also", action="append", default=[],
                    help="another overflowd build folder to compare (e.g. the main branch's), run as each overflowd "
                         "variant chosen (overflowd, overflowd1, overflowd_afp) and shown with DIR in its name")
    args = ap.parse_args()

    args.overflowd = str(Path(args.build) / "overflowd")
    if not os.access(args.overflowd, os.X_OK):
        sys.exit(f"no overflowd binary at {args.overflowd}: build it first")
    base = args.workdir or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    work = Path(tempfile.mkdtemp(prefix="overflowd-compare-", dir=base))
    try:
        if not args.capture:
            real = here.parent.parent / "shared" / "data" / "netflow_4M.pcap"
            if real.is_file():
                args.capture = str(real)
            else:
                args.capture = str(work / "synth.pcap")
                log(f"{real} is absent: using a synthetic NetFlow v5 capture instead ({args.capture})")
                subprocess.run([args.overflowd, "synth", "--out", args.capture, "--background-flows", "60000",
                                "--flood-flows", "20000"], check=True, capture_output=True)
        if args.buffer is None:
            args.buffer = int(Path("/proc/sys/net/core/rmem_max").read_text())
        # Flows per datagram of the capture (as overflowd counts them).
        probe = subprocess.run([args.overflowd, "replay", "-f", args.capture, "--to", "127.0.0.1:9", "--count", "1000000"],
                               capture_output=True, text=True)
        sent = {l.split()[0]: float(l.split()[1]) for l in probe.stdout.splitlines()[1:]}
        fpd = sent["flows"] / sent["datagrams"]
        log(f"capture {args.capture}: {int(sent['datagrams'])} datagrams, {int(sent['flows'])} flows "
            f"({fpd:.2f} per datagram); each trial replays it looped for {args.duration} s; receive buffer asked: "
            f"{args.buffer} bytes; {os.cpu_count()} CPUs, replayer included; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        collectors = {
            "overflowd": Overflowd(work, args.buffer, args.overflowd, os.cpu_count() or 1),
            "overflowd1": Overflowd(work, args.buffer, args.overflowd, 1),
            "overflowd_afp": Overflowd(work, args.buffer, args.overflowd, os.cpu_count() or 1, "af_packet"),
            "nfcapd": Nfcapd(work, args.buffer),
            "nfacctd": Nfacctd(work, args.buffer),
        }
        if (os.cpu_count() or 1) == 1:
            del collectors["overflowd1"]
        chosen = args.only.split(",") if args.only else [k for k in collectors if k != "overflowd_afp"]
        # Each other build runs as each overflowd variant chosen (recvmmsg, 1 worker, af_packet).
        variants = [k for k in ("overflowd", "overflowd1", "overflowd_afp") if k in chosen and k in collectors]
        for i, other in enumerate(args.also):
            for key in variants:
                mine = collectors[key]
                c = Overflowd(work, args.buffer, str(Path(other) / "overflowd"), mine.workers, mine.engine)
                c.name = f"{mine.name[:-1]}, {other})"
                collectors[f"also{i}_{key}"] = c
                chosen.append(f"also{i}_{key}")
        runs = []
        for key in chosen:
            c = collectors.get(key)
            if c is None:
                continue
            if not c.available():
                log(f"{c.name}: not installed (or, af_packet, no CAP_NET_RAW), skipped (Debian: apt-get install nfdump pmacct)")
                continue
            runs.append(c)
        if args.fixed_rate:
            fixed(runs, args, fpd)
            return
        results = list(zip(runs, interleave([search(c, args, fpd) for c in runs])))

        print()
        print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("| collector | lossless rate (flows/s) | datagrams/s | CPU s per 1M flows | trial at that rate |")
        print("| --- | ---: | ---: | ---: | --- |")
        for c, res in results:
            b = res["best"]
            if b is None:
                print(f"| {c.name} | none found | | | |")
                continue
            mark = ">= " if res["bounded_by_replayer"] else ""
            print(f"| {c.name} | {mark}{b['achieved'] / 1e6:.2f} M | {mark}{b['achieved'] / fpd / 1e3:.0f} k | "
                  f"{b['cpu_per_m']:.3f} | {b['counted']} of {b['sent']} flows, {b['drops']} drops |")
        print()
        print(f'">=": lossless even as fast as the replayer went, so the replayer set the limit. '
              f"Capture: {Path(args.capture).name}, {fpd:.1f} flows per datagram; {os.cpu_count()} CPUs shared "
              f"with the replayer.")
        ref = {c.name: r["best"]["achieved"] for c, r in results if r["best"]}
        o, n = ref.get(collectors["overflowd"].name), ref.get(collectors["nfcapd"].name)
        if o and n:
            print(f"overflowd / nfcapd lossless rate: {o / n:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Reports never trigger reports, end to end with a real exporter (issue 13 item 5): the loop the
issue saw (one seed flow grew to 43 UDP and 166 HTTP reports in 30 s) must not start.

Two network namespaces this test creates and removes, joined by a veth pair; every address is in
192.0.2.0/24 and exists only inside them, and nothing is sent anywhere else:

  A (the sender's host): vA 192.0.2.1/24, lo. An exporter watches vA and exports NetFlow v5 to the
    sender at 127.0.0.1 in A; the sender delivers over UDP and HTTP (192.0.2.0/24 allow-listed).
  B (a peer): vB 192.0.2.2/24. It sends the seed, one UDP datagram to 192.0.2.50 (an address no one
    has, reached through a static neighbour entry, so the seed crosses vA without involving A).

The exporter is EXPORTER below, an AF_PACKET sniffer that exports every IPv4 packet it sees on vA
as a one-packet v5 flow (ICMP type and code in the destination port, as softflowd does), at most
MAX_EXPORTS of them. softflowd 1.1.0 would be the natural choice, but on a live veth here it
processes none of the packets libpcap receives ("Packets processed: 0"), so it cannot be used.

The sender reports the seed to 192.0.2.2 and 192.0.2.50. Its UDP reports draw ICMP port
unreachable from B, its HTTP POSTs draw SYN / RST; the exporter exports all of those flows back to the
sender, which must skip each (sampler.skipped.report_port, .report_icmp, .delivery_tcp; it finds
192.0.2.1 on its interfaces) and report the seed only. Waits on those counters (SIGUSR1), with a
deadline; the default budgets bound the flood even if the skip failed.

Skipped, saying why, when namespaces cannot be made here (not root, no CAP_SYS_ADMIN); the loopback
test test_own_traffic.py covers the same without them."""

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import overflowd_testlib as lib

A_ADDR, B_ADDR, GHOST = "192.0.2.1", "192.0.2.2", "192.0.2.50"
MAX_EXPORTS = 300

# Run inside namespace A: argv = test dir, interface, collector port, how many packets at most.
EXPORTER = r"""
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
import overflowd_testlib as lib
dev, port, left = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# ETH_P_ALL, not ETH_P_IP: the kernel hands packets a host sends only to ETH_P_ALL taps (dev_queue_xmit_nit
# walks ptype_all), and the reports leaving A are what this exporter must see.
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((dev, 0))
s.settimeout(0.5)
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
end = time.monotonic() + 60
while left > 0 and time.monotonic() < end:
    try:
        frame = s.recv(65535)
    except socket.timeout:
        continue
    ip = frame[14:]
    if frame[12:14] != b"\x08\x00" or len(ip) < 20 or ip[0] >> 4 != 4:
        continue
    ihl = (ip[0] & 15) * 4
    proto, src, dst = ip[9], socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    l4 = ip[ihl:]
    sport = dport = flags = 0
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack("!HH", l4[:4])
        if proto == 6 and len(l4) >= 14:
            flags = l4[13]
    elif proto == 1 and len(l4) >= 2:
        dport = l4[0] << 8 | l4[1]
    rec = dict(saddr=src, daddr=dst, sport=sport, dport=dport, protocol=proto, flags=flags, pcount=1,
               bcount=len(ip))
    out.sendto(lib.build_v5_datagram([rec], sequence=MAX - left), ("127.0.0.1", port))
    left -= 1
""".replace("MAX", str(MAX_EXPORTS))


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check, timeout=30)


def mac_of(ns, dev):
    out = sh("ip", "-n", ns, "-o", "link", "show", dev).stdout
    return out.split("link/ether")[1].split()[0]


class Netns:
    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.a, self.b = f"ovfA{tag}", f"ovfB{tag}"

    def __enter__(self):
        sh("ip", "netns", "add", self.a)
        try:
            sh("ip", "netns", "add", self.b)
            sh("ip", "-n", self.a, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", self.b)
            for ns, dev, addr in ((self.a, "vA", A_ADDR), (self.b, "vB", B_ADDR)):
                sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            # 192.0.2.50 is no one's: each side sends it to the other's MAC, which drops it.
            sh("ip", "-n", self.b, "neigh", "add", GHOST, "lladdr", mac_of(self.a, "vA"), "dev", "vB")
            sh("ip", "-n", self.a, "neigh", "add", GHOST, "lladdr", mac_of(self.b, "vB"), "dev", "vA")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)  # takes the veth pair with it

    def popen(self, ns, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args], **kw)


def netns_unavailable():
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN"
    if not shutil.which("ip"):
        return "iproute2 (ip) is not installed"
    probe = f"ovfprobe{os.getpid() % 100000}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace here: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Pump:
    """A process's stdout and stderr, line by line, into queues."""

    def __init__(self, proc):
        self.proc = proc
        self.out, self.err = queue.Queue(), queue.Queue()
        self.err_seen = []
        for stream, q in ((proc.stdout, self.out), (proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    def err_line(self, predicate, deadline):
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None:
                return None
            self.err_seen.append(line)
            if predicate(line):
                return line
        return None

    def counters(self, deadline):
        """Asks for the counters (SIGUSR1) and reads the block."""
        self.proc.send_signal(signal.SIGUSR1)
        if self.err_line(lambda l: l == "overflowd: counters", deadline) is None:
            return None
        counters = {}
        while True:
            line = self.err_line(lambda l: True, deadline)
            if line is None or not line.startswith("  "):
                return counters
            name, value = line.split()
            counters[name] = int(value)

    def stdout_lines(self, timeout=10):
        """Every stdout line, up to the end of the stream (the process has exited)."""
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return lines


class OwnTrafficNetns(unittest.TestCase):
    def test_reports_do_not_loop_through_a_real_exporter(self):
        why = netns_unavailable()
        if why:
            self.skipTest(why)
        binary = str(lib.require_binary())
        with lib.temp_dir() as d, Netns() as net:
            port = 20555
            sender = net.popen(net.a, [binary, "-u", port, "--bind", "127.0.0.1", "-r", "1", "--seed", "1",
                                       "--key", d / "k", "--deliver", "udp,http", "--allow-destination",
                                       "192.0.2.0/24", "--http-connect-timeout", "500", "--http-timeout", "1000"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               bufsize=1)
            pump = Pump(sender)
            exporter = None
            try:
                start = time.monotonic() + 30
                line = pump.err_line(lambda l: "listening" in l or "error" in l, start)
                self.assertIsNotNone(line, pump.err_seen)
                self.assertIn("listening", line)
                exporter = net.popen(net.a, ["/usr/bin/python3", "-c", EXPORTER, os.path.dirname(os.path.abspath(__file__)),
                                             "vA", port, MAX_EXPORTS],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.assertEqual(exporter.stdout.readline().strip(), "ready", "the exporter did not start")
                seed = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        f"s.bind(('{B_ADDR}', 4000)); s.sendto(b'seed', ('{GHOST}', 9))")
                sh("ip", "netns", "exec", net.b, "/usr/bin/python3", "-c", seed)

                # Wait until the report traffic has come back and been skipped, each kind.
                want = ("sampler.skipped.report_port", "sampler.skipped.report_icmp", "sampler.skipped.delivery_tcp")
                deadline = time.monotonic() + 90  # a guard against a hang (ASan at load 30), not a claim
                counters = {}
                while time.monotonic() < deadline:
                    counters = pump.counters(time.monotonic() + 15) or counters
                    if all(counters.get(k, 0) >= 1 for k in want) and counters.get("reports", 0) >= 1:
                        break
                    time.sleep(0.2)  # between polls only; the loop ends on the condition
                for k in want:
                    self.assertGreaterEqual(counters.get(k, 0), 1, (k, counters))
            finally:
                if exporter:
                    exporter.terminate()
                    exporter.communicate(timeout=10)
                sender.send_signal(signal.SIGTERM)
                sender.wait(timeout=60)
            reports = [l for l in pump.stdout_lines() if l.strip()]
        # Only the seed is reported (one packet: one flow), never a flow of the sender's own address.
        self.assertEqual(len(reports), 1, reports)
        for r in reports:
            self.assertNotIn(f'"{A_ADDR}"', r)
            self.assertIn(f'"saddr":"{B_ADDR}"', r)
            self.assertIn(f'"daddr":"{GHOST}"', r)
        self.assertEqual(counters.get("sampler.kept"), counters.get("reports"), counters)


if __name__ == "__main__":
    lib.main()

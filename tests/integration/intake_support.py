"""Raw HTTP clients for the intake tests and bench/intake_load.py: idle connections, slowloris,
honest senders timing their POSTs, the receiver's RSS. Each client binds a loopback source address
of its own (127.0.0.0/8 has room) so that the per-client connection cap sees distinct clients.

Packets go only to loopback addresses (127.0.0.0/8)."""

import http.client
import resource
import socket
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssWatch:
    """Samples a process's RSS every 50 ms on a thread; `peak` is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, rss_kib(pid), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.peak


def fd_room():
    """How many more descriptors this process may open (soft limit, raised to the hard one if allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except (ValueError, OSError):
        pass
    return soft


def connect(port, source="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def client_address(group, i):
    """A distinct loopback address per client: 127.<group>.<i // 250>.<i % 250 + 1>."""
    return f"127.{group}.{i // 250}.{i % 250 + 1}"


def closed_by_peer(sock, timeout):
    """True when the peer closes (EOF or reset) within `timeout` seconds; data read is discarded."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:
            return True


def still_open(sock):
    """True when nothing (no EOF, no reset) has come from the peer."""
    sock.setblocking(False)
    try:
        data = sock.recv(1)
        return False if data == b"" else True
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def read_response(sock, timeout=10):
    """(status, {lower-case header: value}, body) of one HTTP/1.1 response read from a raw socket;
    (None, {}, b"") when the connection ends first."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None, {}, b""
            data += chunk
    except OSError:
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    try:
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except OSError:
        pass
    return status, headers, body


def send_until_closed(sock, head, filler, limit):
    """Sends `head`, then `filler` over and over until the peer stops taking it or `limit` bytes went;
    returns the bytes sent."""
    sent = 0
    sock.settimeout(5)
    try:
        sock.sendall(head)
        sent += len(head)
        while sent < limit:
            sock.sendall(filler)
            sent += len(filler)
    except OSError:
        pass
    return sent


class IdleConnections:
    """`n` connections that send nothing, from distinct loopback addresses (`per_address` each)."""

    def __init__(self, port, n, group=1, per_address=10):
        self.socks = []
        for i in range(n):
            self.socks.append(connect(port, client_address(group, i // per_address)))

    def open_count(self):
        return sum(1 for s in self.socks if still_open(s))

    def close(self):
        for s in self.socks:
            s.close()


class Slowloris:
    """`n` connections sending a request header a byte every `interval` seconds (on one thread),
    from distinct loopback addresses; `closed` counts those the server ended."""

    HEAD = b"POST /.well-known/overflowd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"a" * 4000

    def __init__(self, port, n, group=3, per_address=10, interval=1.0):
        self.socks = [connect(port, client_address(group, i // per_address)) for i in range(n)]
        self.alive = [True] * n
        self.interval = interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        pos = 0
        while not self._stop.is_set() and any(self.alive):
            for i, s in enumerate(self.socks):
                if not self.alive[i]:
                    continue
                try:
                    s.setblocking(False)
                    try:
                        if s.recv(4096) == b"":
                            self.alive[i] = False
                            continue
                    except BlockingIOError:
                        pass
                    s.send(self.HEAD[pos % len(self.HEAD):pos % len(self.HEAD) + 1])
                except OSError:
                    self.alive[i] = False
            pos += 1
            self._stop.wait(self.interval)

    @property
    def closed(self):
        return self.alive.count(False)

    def stop(self):
        self._stop.set()
        self._t.join()
        for s in self.socks:
            s.close()


class Sender:
    """An honest sender: one kept-alive connection from its own address, POSTing bodies one after
    the other; `latencies` (seconds) and `statuses` of each."""

    def __init__(self, port, source, bodies):
        self.port, self.source, self.bodies = port, source, bodies
        self.latencies, self.statuses, self.errors = [], [], []
        self.retries = 0
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._t.start()
        return self

    def _run(self):
        conn = None
        for body in self.bodies:
            t0 = time.monotonic()
            for attempt in range(2):  # a kept-alive connection the server closed is opened again once
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                          source_address=(self.source, 0))
                    conn.request("POST", "/.well-known/overflowd", body=body,
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    self.statuses.append(r.status)
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    self.retries += 1
                    if attempt == 1:
                        self.errors.append(repr(e))
                        self.statuses.append(None)
            self.latencies.append(time.monotonic() - t0)
        if conn is not None:
            conn.close()

    def join(self, timeout=None):
        self._t.join(timeout)


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def http_counters(rx):
    """The HTTP server's counters of the receiver's plain-HTTP listener (/api/stats runtime.http)."""
    return rx.get("/api/stats")["runtime"]["http"]["http"]

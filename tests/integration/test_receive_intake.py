"""The receiver's HTTP intake holds under the attacks of issue 12 (finding 7, and finding 1's idle
connections), each of which worked against the old server (cpp-httplib, 8 threads per listener);
the tests that run with the old server's flags (chunked PUT/PATCH/DELETE, lines and headers without
newline, Range) were run against it and fail there. The memory tests assert the receiver's RSS
stays under a bound while the attack runs. Reports are signed with PyNaCl; every attack is bounded
in connections, bytes and time.

Packets go only to loopback addresses (127.0.0.0/8)."""

import http.client
import time
import unittest

import intake_support as ins
import overflowd_testlib as lib
import receive_support as rs

MIB = 1024 * 1024
RSS_GROWTH_KIB = 48 * 1024  # what an attack may add to the receiver's RSS


def reports(n, key_byte=7, first_port=1):
    key = rs.signing_key(key_byte)
    return [rs.Signed(key, data=rs.flow_data(sport=first_port + i)).full for i in range(n)]


class Intake(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def receiver(self, d, *args):
        rx = rs.Receiver(d, "--udp-port", "off", *args)
        self.addCleanup(rx.stop)
        return rx

    def test_idle_connections_do_not_starve_senders(self):
        # 100 idle connections held while 10 senders POST 5 reports each: every report answered
        # 200 and stored, quickly, and the idle connections are still open at the end.
        if ins.fd_room() < 400:
            self.skipTest("not enough file descriptors for 100 idle connections")
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--http-timeout", "60", "--http-request-deadline", "60")
            idle = ins.IdleConnections(rx.ports["http"], 100, group=1, per_address=25)
            try:
                bodies = reports(50)
                senders = [ins.Sender(rx.ports["http"], ins.client_address(2, i), bodies[i * 5:(i + 1) * 5]).start()
                           for i in range(10)]
                for s in senders:
                    s.join(60)
                statuses = [x for s in senders for x in s.statuses]
                latencies = [x for s in senders for x in s.latencies]
                self.assertEqual(statuses, [200] * 50, [s.errors for s in senders])
                self.assertEqual(sum(s.retries for s in senders), 0)
                # Starved, a POST would wait for an idle connection's 60 s time-out; the margin
                # below it is for a loaded 2-core machine under ASan.
                self.assertLess(max(latencies), 15.0, "a POST waited behind idle connections")
                self.assertEqual(rx.get("/api/stats")["rows"]["reports"], 50)
                self.assertEqual(idle.open_count(), 100, "idle connections are kept (within the time-outs)")
                self.assertGreaterEqual(ins.http_counters(rx)["http.open_connections"], 100)
            finally:
                idle.close()

    def test_slowloris_does_not_delay_honest_posts_and_is_cut_at_the_deadline(self):
        # What is checked is an order, not a time: every POST is answered while all 50 slow requests
        # are still held (a server they starved would answer only once their deadline had cut
        # them), then each slow request is cut. The deadline is long enough for a loaded machine to
        # finish the POSTs within it.
        deadline_s = 15
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--http-request-deadline", str(deadline_s))
            slow = ins.Slowloris(rx.ports["http"], 50, group=3, per_address=10, interval=0.5)
            try:
                time.sleep(0.2)  # the slow headers have begun (a pace, not a wait for a result)
                bodies = reports(20)
                senders = [ins.Sender(rx.ports["http"], ins.client_address(2, i), bodies[i * 4:(i + 1) * 4]).start()
                           for i in range(5)]
                for s in senders:
                    s.join(60)
                self.assertEqual([x for s in senders for x in s.statuses], [200] * 20)
                self.assertEqual(slow.closed, 0, "a POST was answered only after slow requests were cut")
                self.assertEqual(ins.http_counters(rx).get("http.refused.request_deadline", 0), 0)
                # Every slow request is ended at its deadline, not kept alive by its trickle.
                deadline = time.monotonic() + deadline_s + 30
                while slow.closed < 50 and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertEqual(slow.closed, 50)
                self.assertGreaterEqual(ins.http_counters(rx)["http.refused.request_deadline"], 50)
            finally:
                slow.stop()

    def test_whole_request_deadline_covers_the_body(self):
        # A body a byte every 0.3 s: each read is quick, the request as a whole is not.
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--http-request-deadline", "2", "--http-timeout", "5")
            s = ins.connect(rx.ports["http"])
            t0 = time.monotonic()
            s.sendall(b"POST /.well-known/overflowd HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            ended = None
            for _ in range(30):
                try:
                    s.sendall(b" ")
                except OSError:
                    ended = time.monotonic() - t0
                    break
                if ins.closed_by_peer(s, 0.3):
                    ended = time.monotonic() - t0
                    break
            s.close()
            self.assertIsNotNone(ended, "the trickled request was never cut off")
            self.assertLess(ended, 4.0)
            self.assertGreaterEqual(ins.http_counters(rx)["http.refused.request_deadline"], 1)

    def test_chunked_put_patch_delete_refused_before_the_body(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d)
            watch = ins.RssWatch(rx.live.proc.pid)
            base = ins.rss_kib(rx.live.proc.pid)
            for method in ("PUT", "PATCH", "DELETE"):
                s = ins.connect(rx.ports["http"], "127.0.5.1")
                head = (f"{method} /.well-known/overflowd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n").encode()
                s.sendall(head)
                # The answer comes before any of the body is sent.
                status, headers, _ = ins.read_response(s, timeout=30)  # no body is sent: the answer cannot wait for one
                self.assertEqual(status, 405, method)
                self.assertEqual(headers.get("allow"), "POST, GET")
                s.close()
                # And a body sent regardless is not taken in: the connection ends.
                s = ins.connect(rx.ports["http"], "127.0.5.1")
                chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
                sent = ins.send_until_closed(s, head, chunk * 16, 256 * MIB)
                s.close()
                self.assertLess(sent, 64 * MIB, method)
            self.assertLess(watch.stop() - base, RSS_GROWTH_KIB)
            self.assertGreaterEqual(ins.http_counters(rx)["http.refused.method"], 6)

    def test_request_line_or_header_without_newline_and_unlimited_headers(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d)
            watch = ins.RssWatch(rx.live.proc.pid)
            base = ins.rss_kib(rx.live.proc.pid)
            cases = [
                (b"GET /", b"a" * 65536),                                   # a request line without newline
                (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ", b"a" * 65536),  # a header without newline
                (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Many: 1\r\n" * 4096),  # headers without end
            ]
            for head, filler in cases:
                for _ in range(4):
                    s = ins.connect(rx.ports["http"], "127.0.5.2")
                    sent = ins.send_until_closed(s, head, filler, 128 * MIB)
                    s.close()
                    self.assertLess(sent, 64 * MIB, head)
            self.assertLess(watch.stop() - base, RSS_GROWTH_KIB)
            c = ins.http_counters(rx)
            self.assertGreaterEqual(c["http.refused.header_too_large"], 12)
            # Many small headers within the byte limit: refused by count.
            s = ins.connect(rx.ports["http"])
            s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-a: 1\r\n" * 100 + b"\r\n")
            self.assertEqual(ins.read_response(s)[0], 431)
            s.close()
            # A long target: 414.
            s = ins.connect(rx.ports["http"])
            s.sendall(b"GET /api/stats?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertEqual(ins.read_response(s)[0], 414)
            s.close()
            c = ins.http_counters(rx)
            self.assertEqual((c["http.refused.too_many_headers"], c["http.refused.request_line_too_long"]), (1, 1))

    def test_range_is_ignored(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d)
            for body in reports(5):
                self.assertEqual(rx.post(body)[0], 200)
            ranges = "bytes=" + ",".join(f"{i}-{i + 2000}" for i in range(500))
            for path in ("/api/reports?limit=5", "/"):
                conn = http.client.HTTPConnection("127.0.0.1", rx.ports["http"], timeout=30)
                conn.request("GET", path)
                r = conn.getresponse()
                whole = r.read()
                conn.request("GET", path, headers={"Range": ranges})
                r = conn.getresponse()
                ranged = r.read()
                conn.close()
                self.assertEqual(r.status, 200, path)
                self.assertIsNone(r.getheader("Content-Range"))
                self.assertEqual(len(ranged), len(whole), path)
            self.assertEqual(ins.http_counters(rx)["http.range_ignored"], 2)

    def test_host_must_name_this_receiver_for_the_api(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--http-host", "receiver.example")
            port = rx.ports["http"]

            def get(path, host):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers={"Host": host})
                r = conn.getresponse()
                r.read()
                conn.close()
                return r.status

            # DNS rebinding: a page of attacker.example that resolves to 127.0.0.1.
            self.assertEqual(get("/api/stats", "attacker.example"), 421)
            self.assertEqual(get("/", f"attacker.example:{port}"), 421)
            for host in (f"127.0.0.1:{port}", "localhost", f"localhost:{port}", "[::1]", "127.0.0.2",
                         "receiver.example", f"RECEIVER.example:{port}"):
                self.assertEqual(get("/api/stats", host), 200, host)
            # Reports and discovery are taken under any name.
            self.assertEqual(get("/.well-known/overflowd", "reports.example.org"), 200)
            status, _ = rx.post(reports(1)[0], headers={"Host": "reports.example.org"})
            self.assertEqual(status, 200)
            self.assertEqual(ins.http_counters(rx)["http.refused.host"], 2)

    def test_connections_capped_per_client_and_in_all(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--max-connections-per-client", "4", "--max-connections", "8",
                               "--http-timeout", "30", "--http-request-deadline", "30")
            port = rx.ports["http"]
            held = [ins.connect(port, "127.0.6.1") for _ in range(4)]
            extra = ins.connect(port, "127.0.6.1")
            self.assertTrue(ins.closed_by_peer(extra, 5), "a 5th connection from one address is closed at once")
            extra.close()
            self.assertTrue(all(ins.still_open(s) for s in held))
            held += [ins.connect(port, f"127.0.6.{i}") for i in (2, 3) for _ in range(2)]
            extra = ins.connect(port, "127.0.6.9")
            self.assertTrue(ins.closed_by_peer(extra, 5), "a connection beyond the total is closed at once")
            extra.close()
            self.assertTrue(all(ins.still_open(s) for s in held))
            for s in held:
                s.close()
            deadline = time.monotonic() + 10
            turned_away = 0  # our own stats requests refused while the server still counted the closed ones
            while True:  # until the server has seen the closed ones and answers again
                try:
                    c = ins.http_counters(rx)
                    break
                except OSError:
                    turned_away += 1
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.assertEqual(c["http.refused.connections_per_client"], 1)
            self.assertEqual(c["http.refused.connections_total"], 1 + turned_away)

    def test_https_idle_and_stalled_handshakes_do_not_starve_and_are_cut(self):
        # 40 connections to the HTTPS port that never start TLS, and 10 that stop half-way through
        # the ClientHello: HTTPS POSTs are answered while every one of them is still held (a server
        # they starved would answer only once the deadline had cut them: an order, not a time), then
        # every stalled one is closed at the request deadline (which covers a new connection's
        # handshake). The deadline is long enough for a loaded machine to finish the POSTs within it.
        deadline_s = 15
        with lib.temp_dir() as d:
            pair = rs.self_signed_cert(d)
            if pair is None:
                self.skipTest("the openssl command is not available to make a test certificate")
            rx = self.receiver(d, "--https-port", "0", "--tls-cert", pair[0], "--tls-key", pair[1],
                               "--http-request-deadline", str(deadline_s), "--http-timeout", "60")
            port = rx.ports["https"]
            idle = ins.IdleConnections(port, 40, group=7, per_address=10)
            stalled = [ins.connect(port, "127.0.8.1") for _ in range(10)]
            for s in stalled:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
            try:
                for body in reports(8):  # a new TLS connection each (the client's CA store too)
                    status, answer = rx.post(body, scheme="https")
                    self.assertEqual(status, 200, answer)
                self.assertEqual(sum(1 for s in idle.socks + stalled if ins.still_open(s)), 50,
                                 "an HTTPS POST was answered only after stalled connections were cut")
                self.assertEqual(rx.get("/api/stats")["runtime"]["http"]["https"].get("http.refused.tls_handshake", 0), 0)
                for s in idle.socks + stalled:
                    self.assertTrue(ins.closed_by_peer(s, deadline_s + 30), "a stalled connection outlived the deadline")
                # The server counts a cut after it closes the socket: wait for the count (a hang guard,
                # not a claim), then it must be exactly one per stalled connection.
                count_by = time.monotonic() + 30
                while True:
                    c = rx.get("/api/stats")["runtime"]["http"]["https"]
                    if c.get("http.refused.tls_handshake", 0) >= 50 or time.monotonic() > count_by:
                        break
                    time.sleep(0.05)
                self.assertEqual(c["http.refused.tls_handshake"], 50)
                self.assertEqual(rx.get("/api/stats")["rows"]["reports"], 8)
            finally:
                idle.close()
                for s in stalled:
                    s.close()

    def test_methods_paths_and_keepalive_are_bounded(self):
        with lib.temp_dir() as d:
            rx = self.receiver(d, "--http-keepalive-requests", "3")
            port = rx.ports["http"]
            s = ins.connect(port)
            for i in range(3):
                s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                status, headers, _ = ins.read_response(s)
                self.assertEqual(status, 200)
                self.assertEqual(headers.get("connection", "").lower() == "close", i == 2)
            self.assertTrue(ins.closed_by_peer(s, 5))
            s.close()
            for request, expected in [(b"BREW /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501),
                                      (b"POST /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n", 405),
                                      (b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404),
                                      (b"POST /.well-known/overflowd HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413)]:
                s = ins.connect(port)
                s.sendall(request)
                self.assertEqual(ins.read_response(s)[0], expected, request)
                s.close()


if __name__ == "__main__":
    lib.main()

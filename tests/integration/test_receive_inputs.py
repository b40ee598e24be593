"""overflowd receive, end to end: the sender's reports reach a receiver over UDP (compact form,
IPv4 and IPv6), HTTP and HTTPS (full form) and a capture file; every one is stored once and
re-verifies with PyNaCl from what the API returns; forged, malformed and replayed reports are
refused or counted, never stored twice; a claimed time far off is flagged.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import json
import time
import unittest

import overflowd_testlib as lib
import receive_support as rs


class ReceiveInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.lines = rs.sender_reports(cls.dir, cls.dir / "sender.key", "noc@sender.example", "Sender Net")
        assert len(cls.lines) >= 15, len(cls.lines)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def check_all_stored(self, rx, lines, input_name):
        stored = rx.reports(limit=1000, raw=1)
        by_message = {r["signed"]["signature"]: r for r in stored}
        for line in lines:
            _, message, key = lib.pynacl_verify(line)
            sig = json.loads(line)["signature"]["signature"]
            self.assertIn(sig, by_message, "a report the sender made was not stored")
            r = by_message[sig]
            self.assertEqual(r["key"], key)
            self.assertEqual(r["input"], input_name)
            self.assertEqual(rs.pynacl_check_stored(r), message, "the stored message is the signed one")
            self.assertTrue(r["reverified"])
            data = json.loads(message)["flowdata"]["data"]
            self.assertEqual((r["flow"]["saddr"], r["flow"]["daddr"], r["flow"]["sport"], r["flow"]["dport"]),
                             (data["saddr"], data["daddr"], data["sport"], data["dport"]))
            self.assertEqual(r["contact"], {"email": "noc@sender.example", "identity": "Sender Net"})

    def test_udp_compact_form_every_report_stored_and_verified(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                rx.send_udp([rs.compact_of(l) for l in self.lines])
                self.assertEqual(rx.wait_counter("stored", len(self.lines)), len(self.lines))
                self.check_all_stored(rx, self.lines, "udp")
                self.assertTrue(all(r["form"] == "compact" for r in rx.reports(limit=1000)))
                self.assertEqual(rx.counters().get("received.udp"), len(self.lines))
            finally:
                code, _ = rx.stop()
            self.assertEqual(code, 0)

    def test_udp_over_ipv6_loopback(self):
        if not lib.ipv6_loopback_available():
            self.skipTest("no IPv6 loopback on this machine")
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--bind", "::")
            try:
                rx.send_udp([rs.compact_of(self.lines[0]), self.lines[1]], host="::1")
                self.assertEqual(rx.wait_counter("stored", 2), 2)
                peers = {r["peer"] for r in rx.reports()}
                self.assertEqual(peers, {"::1"})
            finally:
                rx.stop()

    def test_http_full_form_answered_after_storing(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                for line in self.lines[:5]:
                    status, body = rx.post(line)
                    self.assertEqual(status, 200, body)
                    self.assertEqual(body, {"stored": 1, "duplicates": 0, "rejected": []})
                # Several reports in one body, one per line; one of them already stored.
                status, body = rx.post("\n".join(self.lines[4:]) + "\n")
                self.assertEqual(status, 200, body)
                self.assertEqual(body["stored"], len(self.lines) - 5)
                self.assertEqual(body["duplicates"], 1)
                # A 2xx means stored: no waiting needed before reading.
                self.check_all_stored(rx, self.lines, "http")
                self.assertTrue(all(r["form"] == "full" for r in rx.reports(limit=1000)))
            finally:
                rx.stop()

    def test_https(self):
        with lib.temp_dir() as d:
            pair = rs.self_signed_cert(d)
            if pair is None:
                self.skipTest("the openssl command is not available to make a test certificate")
            rx = rs.Receiver(d, "--https-port", "0", "--tls-cert", pair[0], "--tls-key", pair[1])
            try:
                self.assertIn("https", rx.ports)
                status, body = rx.post(self.lines[0], scheme="https")
                self.assertEqual(status, 200, body)
                self.assertEqual(body["stored"], 1)
                self.assertEqual(rx.reports()[0]["input"], "https")
            finally:
                rx.stop()

    def test_capture_file(self):
        with lib.temp_dir() as d:
            pcap = d / "reports.pcap"
            forged = json.loads(self.lines[0])
            forged["contact"]["email"] = "someone@else.example"  # no longer the signed message
            datagrams = [("127.0.0.9", "127.0.0.1", rs.compact_of(l).encode()) for l in self.lines]
            datagrams += [("127.0.0.9", "127.0.0.1", self.lines[0].encode()),                   # the full form: a duplicate
                          ("127.0.0.9", "127.0.0.1", lib.canonical(forged).encode()),          # forged
                          ("127.0.0.9", "127.0.0.1", b"\x00\x01 not a report"),                # garbage
                          ("127.0.0.9", "127.0.0.1", rs.compact_of(self.lines[1]).encode(), 2055)]  # another port
            rs.write_udp_pcap(pcap, datagrams)
            # Only a capture file: the receiver reads it, stores it and exits by itself.
            proc = lib.run(["receive", "--db", d / "r.db", "--udp-port", "off", "--http-port", "off",
                            "--capture-file", pcap, "-q"], timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rx = rs.Receiver(d, db=d / "r.db", udp=False)
            try:
                self.check_all_stored(rx, self.lines, "capture")
                c = rx.counters()
                self.assertEqual(c["stored"], len(self.lines))
                self.assertEqual(c["duplicates"], 1)
                self.assertEqual(c["invalid.message_mismatch"], 1)
                self.assertEqual(c["invalid.not_json"], 1)
                self.assertEqual(c["received.capture"], len(self.lines) + 3, "the datagram to port 2055 is not a report")
                self.assertEqual({r["peer"] for r in rx.reports(limit=1000)}, {"127.0.0.9"})
            finally:
                rx.stop()

    def test_live_capture_on_loopback(self):
        # The report port is the UDP port: the receiver's socket listens on 127.0.0.2, the reports
        # go to 127.0.0.1, where only the capture on lo sees them.
        port = lib.free_udp_port("127.0.0.1")
        with lib.temp_dir() as d:
            try:
                rx = rs.Receiver(d, "--udp-port", port, "--bind", "127.0.0.2", "--capture-interface", "lo")
            except AssertionError as e:
                if "capture on lo" in str(e):
                    self.skipTest(f"no live capture here (needs CAP_NET_RAW): {str(e).splitlines()[-1]}")
                raise
            try:
                with rs.socket.socket(rs.socket.AF_INET, rs.socket.SOCK_DGRAM) as s:
                    # The capture is open once the receiver says it listens; the reports go out once
                    # it has counted a probe it captured (a datagram that is no report).
                    deadline = time.monotonic() + 30
                    while True:
                        s.sendto(b"probe: not a report", ("127.0.0.1", port))
                        if rx.wait_counter("received.capture", 1, timeout=0.5) >= 1:
                            break
                        self.assertLess(time.monotonic(), deadline, "the capture on lo saw no probe in 30 s")
                    for line in self.lines[:5]:
                        s.sendto(rs.compact_of(line).encode(), ("127.0.0.1", port))
                self.assertEqual(rx.wait_counter("stored", 5), 5)
                self.assertEqual({r["input"] for r in rx.reports()}, {"capture"})
            finally:
                rx.stop()

    def test_forged_and_replayed_reports_are_refused_and_counted(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                good = self.lines[0]
                self.assertEqual(rx.post(good)[0], 200)
                # Replays: the same report again over HTTP, and in the compact form over UDP.
                status, body = rx.post(good)
                self.assertEqual((status, body["duplicates"], body["stored"]), (200, 1, 0))
                rx.send_udp([rs.compact_of(good)])
                self.assertEqual(rx.wait_counter("duplicates", 2), 2)
                # Forged: a field changed after signing; a signature from another key; a flipped bit.
                changed = json.loads(self.lines[1])
                changed["flowdata"]["data"]["pcount"] += 1
                other = rs.Signed(rs.signing_key(9))
                stolen = json.loads(other.full)
                stolen["signature"]["key"] = json.loads(self.lines[1])["signature"]["key"]
                block = json.loads(self.lines[2])["signature"]
                sig = bytearray(block["signature"].encode())
                sig[10] = ord("A") if sig[10] != ord("A") else ord("B")
                block["signature"] = sig.decode()
                for bad, reason in [(lib.canonical(changed), "message_mismatch"), (lib.canonical(stolen), "bad_signature"),
                                    (lib.canonical(block), "bad_signature")]:
                    status, body = rx.post(bad)
                    self.assertEqual(status, 400, body)
                    self.assertEqual(body["rejected"][0]["reason"], reason)
                rx.send_udp(["{\"key\":\"00\",\"signature\":\"AA==\"}", "[1,2,3]", "{" * 100])
                self.assertGreaterEqual(rx.wait_counter("invalid", 6), 6)
                c = rx.counters()
                self.assertEqual(c["stored"], 1)
                self.assertEqual(c["invalid.bad_signature"], 2)
                self.assertEqual(c["invalid.message_mismatch"], 1)
                self.assertEqual(c["invalid.bad_key"], 1)
                self.assertEqual(c["invalid.not_an_object"], 1)
                self.assertEqual(c["invalid.too_deep"], 1)
                reports = rx.reports()
                self.assertEqual(len(reports), 1)
                self.assertEqual(reports[0]["duplicates"], 2)
                invalid = rx.get("/api/invalid")["invalid"]
                self.assertEqual(len(invalid), 6)
                self.assertEqual({i["reason"] for i in invalid}, {"bad_signature", "message_mismatch", "bad_key", "not_an_object", "too_deep"})
            finally:
                rx.stop()

    def test_a_claimed_time_far_off_is_flagged(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--skew-future", "3600", "--skew-past", "86400")
            try:
                k = rs.signing_key(3)
                now = time.time()
                cases = {"future": rs.Signed(k, data=rs.flow_data(sport=1), when=now + 7200),
                         "past": rs.Signed(k, data=rs.flow_data(sport=2), when=now - 2 * 86400),
                         "ok": rs.Signed(k, data=rs.flow_data(sport=3), when=now - 600)}
                for c in cases.values():
                    self.assertEqual(rx.post(c.full)[0], 200)
                flags = {r["flow"]["sport"]: r["time_flag"] for r in rx.reports()}
                self.assertEqual(flags, {1: "future", 2: "past", 3: "ok"})
                c = rx.counters()
                self.assertEqual((c.get("time.future"), c.get("time.past")), (1, 1))
            finally:
                rx.stop()

    def test_http_limits(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--api-allow", "10.0.0.0/8")
            try:
                status, _ = rx.post(" " * (70 * 1024))
                self.assertEqual(status, 413)
                status, _ = rx.post(self.lines[0], headers={"Content-Encoding": "gzip"})
                self.assertEqual(status, 415)
                status, _ = rx.post("")
                self.assertEqual(status, 400)
                # A chunked body declares no length: it is cut off at the cap all the same.
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", rx.ports["http"], timeout=30)
                conn.request("POST", "/.well-known/overflowd", body=iter([b" " * 8192] * 10),
                             headers={"Content-Type": "application/json"}, encode_chunked=True)
                self.assertEqual(conn.getresponse().status, 413)
                conn.close()
                # Reports are taken from anyone; the API only from --api-allow.
                self.assertEqual(rx.post(self.lines[0])[0], 200)
                status, _ = rx.request("GET", "/api/reports")
                self.assertEqual(status, 403)
                status, _ = rx.request("GET", "/")
                self.assertEqual(status, 403)
                status, disc = rx.request("GET", "/.well-known/overflowd")
                self.assertEqual(status, 200)
            finally:
                rx.stop()

    def test_discovery_names_the_receivers_key_and_contact(self):
        with lib.temp_dir() as d:
            key = d / "receiver.key"
            rx = rs.Receiver(d, "--key", key, "--email", "abuse@receiver.example", "--identity", "Receiver Net")
            try:
                disc = rx.get("/.well-known/overflowd")
                pub = lib.run(["pubkey", key]).stdout.strip()
                self.assertEqual(disc["keys"], [{"key": pub, "algorithm": "ed25519"}])
                self.assertEqual(disc["contact"], {"email": "abuse@receiver.example", "identity": "Receiver Net"})
                self.assertEqual(disc["accepts"]["udp_port"], rx.ports["udp"])
                self.assertEqual(set(disc["accepts"]["forms"]), {"full", "compact"})
            finally:
                rx.stop()

    def test_api_filters_and_limits(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                k1, k2 = rs.signing_key(1), rs.signing_key(2)
                a = rs.Signed(k1, data=rs.flow_data(saddr="192.0.2.10", daddr="198.51.100.1", sport=1))
                b = rs.Signed(k1, data=rs.flow_data(saddr="192.0.2.200", daddr="203.0.113.5", sport=2))
                c = rs.Signed(k2, data=rs.flow_data(saddr="2001:db8::5", daddr="2001:db8:1::9", sport=3))
                for r in (a, b, c):
                    self.assertEqual(rx.post(r.full)[0], 200)
                sports = lambda rows: [r["flow"]["sport"] for r in rows]
                self.assertEqual(sports(rx.reports()), [3, 2, 1], "newest first")
                self.assertEqual(sports(rx.reports(key=a.key)), [2, 1])
                self.assertEqual(sports(rx.reports(saddr="192.0.2.0/25")), [1])
                self.assertEqual(sports(rx.reports(daddr="2001:db8:1::/48")), [3])
                self.assertEqual(sports(rx.reports(limit=1)), [3])
                first = rx.reports(limit=1)[0]["id"]
                self.assertEqual(sports(rx.reports(before=first)), [2, 1])
                self.assertEqual(rx.reports(since=time.time() + 60), [])
                for bad in ["limit=0", "limit=1001", "key=xyz", "saddr=192.0.2.1/24", "since=soon"]:
                    status, body = rx.request("GET", "/api/reports?" + bad)
                    self.assertEqual(status, 400, bad)
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

"""The encryption mode, sender side (docs/manual.md, "Encryption"), against PyNaCl and against
overflowd's own receiver, on loopback only:
- a Python endpoint with an X25519 key pinned in --peer-keys takes HTTP POSTs: with --encrypt
  require every body is a sealed envelope (no report JSON readable in it) that PyNaCl's SealedBox
  opens to a compact report that verifies with nacl.signing and names the endpoint as its
  recipient; an endpoint with no key gets nothing (counted no_key); with --encrypt auto it gets the
  plain report; over UDP every report goes as the binary sealed datagram (README, "The binary
  sealed datagram"), none over 1,200 bytes, which PyNaCl opens to key || signature || message;
- sender -> `overflowd receive` over UDP and HTTP at once with --encrypt require and a pinned key:
  the receiver stores every report verified, sealed, with the kid of its key, each one from both
  inputs (a duplicate);
- rotation: a sender whose key was rotated (overflowd rotate-key) carries the statement in its
  reports (metadata.rotation, --rotation); the receiver, which knew the old key, links the keys
  (/api/keys rotated_from, event key_rotated); a sender given a statement for another key than its
  own is refused at start.
Every capture here has flows between 127.x addresses only."""

import base64
import hashlib
import json
import re
import unittest

import nacl.public
import nacl.signing

import receive_support as rs
from delivery_testlib import (DST, OTHER, SRC, HttpServer, UdpListeners, loopback_capture, new_key, run_sender,
                              stdout_reports, verify_compact)
from overflowd_testlib import canonical, main, parse_summary, pynacl_verify, require_binary, run, temp_dir

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]
REPORT_TEXT = re.compile(rb"flowdata|saddr|daddr|FLOWSEEN|signature|127\.0\.0\.")


def kid(pub: bytes) -> str:
    return hashlib.sha256(pub).digest()[:8].hex()


def open_sealed(payload: bytes, sk: nacl.public.PrivateKey):
    env = json.loads(payload)
    assert set(env) == {"sealed"} and set(env["sealed"]) == {"v", "kid", "box"}, payload[:200]
    assert env["sealed"]["v"] == 1
    assert env["sealed"]["kid"] == kid(bytes(sk.public_key))
    return nacl.public.SealedBox(sk).decrypt(base64.b64decode(env["sealed"]["box"], validate=True))


class EncryptionSend(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_require_seals_to_a_pinned_key_and_pynacl_opens_every_report(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=40)
            key, pub = new_key(d)
            sk = nacl.public.PrivateKey.generate()
            pins = d / "peers"
            pins.write_text(f"# the test's endpoint\n{DST}/32 {bytes(sk.public_key).hex()}\n")
            dst = HttpServer(DST)
            other = HttpServer(OTHER, port=dst.port)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--http-port", dst.port, "--encrypt", "require",
                                     "--peer-keys", pins, *NO_BUDGETS)
            finally:
                dst.close()
                other.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            reports = stdout_reports(proc)
            to_dst = [m for m, r in reports.items() if DST in (r["flowdata"]["data"]["saddr"], r["flowdata"]["data"]["daddr"])]
            self.assertGreater(len(to_dst), 5)
            self.assertEqual(other.requests, [])  # no key: nothing, under --encrypt require
            bodies = [r["body"] for r in dst.requests]
            self.assertEqual(len(bodies), len(to_dst))
            opened = set()
            for body in bodies:
                self.assertIsNone(REPORT_TEXT.search(body), "report text readable on the wire")
                report, message, k = verify_compact(open_sealed(body, sk))
                self.assertEqual(k, pub)
                self.assertEqual(report["metadata"]["recipient"], DST)
                # The report on stdout, with the recipient added inside the signed part.
                plain = dict(report, metadata={m: v for m, v in report["metadata"].items() if m != "recipient"})
                self.assertIn(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode(), reports)
                opened.add(message)
            self.assertEqual(len(opened), len(bodies))
            s = parse_summary(proc.stderr)
            self.assertEqual(s["encrypt.sealed"], len(bodies))
            self.assertEqual(s["encrypt.plain"], 0)
            self.assertEqual(s["encrypt.no_key"], 2 * len(reports) - len(bodies))

    def test_sealed_datagrams_are_binary_and_never_over_1200_bytes(self):
        # The binary sealed datagram: b"OFDS", version 1, kid (8 bytes), SealedBox(vk || sig || message).
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=20)
            key, pub = new_key(d)
            sk = nacl.public.PrivateKey.generate()
            pins = d / "peers"
            pins.write_text(f"{DST} {bytes(sk.public_key).hex()}\n")
            udp = UdpListeners([SRC, DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port, "--encrypt", "require",
                                     "--peer-keys", pins, "--email", "noc@sender.example", "--identity", "Sender Net",
                                     *NO_BUDGETS)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(got[SRC], [])
            s = parse_summary(proc.stderr)
            self.assertGreater(s["encrypt.sealed"], 0)
            self.assertEqual(s.get("udp.too_large", 0), 0, "realistic sealed reports fit one datagram")
            self.assertEqual(s.get("udp.sent", 0), s["encrypt.sealed"])
            self.assertEqual(len(got[DST]), s["encrypt.sealed"])
            for p in got[DST]:
                self.assertLessEqual(len(p), 1200)
                self.assertIsNone(REPORT_TEXT.search(p))
                self.assertEqual(p[:5], b"OFDS\x01")
                self.assertEqual(p[5:13].hex(), kid(bytes(sk.public_key)))
                inner = nacl.public.SealedBox(sk).decrypt(p[13:])
                vk, sig, message = inner[:32], inner[32:96], inner[96:]
                self.assertEqual(vk.hex(), pub)
                self.assertEqual(nacl.signing.VerifyKey(vk).verify(message, sig), message)
                report = json.loads(message)
                self.assertEqual(report["metadata"]["recipient"], DST)
                self.assertEqual(len(p), 157 + len(message))

    def test_auto_sends_plain_where_no_key_is_known(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=10)
            key, _ = new_key(d)
            sk = nacl.public.PrivateKey.generate()
            pins = d / "peers"
            pins.write_text(f"{DST} {bytes(sk.public_key).hex()}\n")
            dst = HttpServer(DST)
            src = HttpServer(SRC, port=dst.port)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "http", "--http-port", dst.port, "--encrypt", "auto",
                                     "--peer-keys", pins, *NO_BUDGETS)
            finally:
                dst.close()
                src.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertGreater(len(src.requests), 0)
            for r in src.requests:
                pynacl_verify(r["body"].decode())  # plain
            for r in dst.requests:
                verify_compact(open_sealed(r["body"], sk))
            s = parse_summary(proc.stderr)
            self.assertEqual(s["encrypt.plain"], len(src.requests))
            self.assertEqual(s["encrypt.sealed"], len(dst.requests))

    def test_bad_peer_keys_file_is_refused(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=4)
            key, _ = new_key(d)
            pins = d / "peers"
            pins.write_text("127.0.0.3/32 nothex\n")
            proc, _ = run_sender(cap, key, "--deliver", "udp", "--encrypt", "require", "--peer-keys", pins)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("line 1", proc.stderr)

    def test_end_to_end_to_overflowd_receive_over_udp_and_http(self):
        with temp_dir() as d:
            ek = d / "x25519.key"
            self.assertEqual(run(["keygen", "--x25519", ek]).returncode, 0)
            x_pub = run(["pubkey", "--x25519", ek]).stdout.split()[0]
            rx = rs.Receiver(d, "--encryption-key", ek, "--my-prefix", "127.0.0.0/8", "--bind", DST, "--http-bind", DST)
            rx.url = lambda path, scheme="http": f"{scheme}://{DST}:{rx.ports[scheme]}{path}"
            try:
                cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=20)
                key, pub = new_key(d)
                pins = d / "peers"
                pins.write_text(f"{DST}/32 {x_pub}\n")
                proc, _ = run_sender(cap, key, "--deliver", "udp,http", "--deliver-to", "dst",
                                     "--report-port", rx.ports["udp"], "--http-port", rx.ports["http"],
                                     "--encrypt", "require", "--peer-keys", pins, *NO_BUDGETS)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                n = len(stdout_reports(proc))
                s = parse_summary(proc.stderr)
                self.assertEqual(s["encrypt.sealed"], n)
                # The same report over UDP and HTTP is one report and a duplicate.
                self.assertEqual(rx.wait_counter("stored", n), n)
                stored = rx.reports(raw=1, limit=1000)
                self.assertEqual(len(stored), n)
                for r in stored:
                    self.assertTrue(r["sealed"])
                    self.assertEqual(r["kid"], kid(bytes.fromhex(x_pub)))
                    self.assertEqual(r["key"], pub)
                    rs.pynacl_check_stored(r)
                # Every report went over UDP too, as a binary sealed datagram: stored once, the other a duplicate.
                self.assertEqual(s.get("udp.sent", 0), n)
                self.assertEqual(s.get("udp.too_large", 0), 0)
                self.assertEqual(rx.wait_counter("duplicates", n), n)
                self.assertEqual(rx.counters().get("received.udp"), n)
                self.assertLessEqual({r["input"] for r in stored}, {"udp", "http"})
            finally:
                rx.stop()


    def test_rotation_statement_links_the_keys_at_the_receiver(self):
        with temp_dir() as d:
            rx = rs.Receiver(d, "--bind", DST, "--http-bind", DST)
            rx.url = lambda path, scheme="http": f"{scheme}://{DST}:{rx.ports[scheme]}{path}"
            try:
                cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=5)
                old, old_pub = new_key(d)
                new = d / "new.key"
                # Over HTTP: a plain compact report carrying the statement is mostly over the UDP cap.
                common = ["--deliver", "http", "--deliver-to", "dst", "--http-port", rx.ports["http"],
                          "--email", "noc@sender.example", "--identity", "Sender Net", *NO_BUDGETS]
                proc, _ = run_sender(cap, old, *common)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                n_old = len(stdout_reports(proc))
                self.assertEqual(rx.wait_counter("stored", n_old), n_old)
                made = run(["rotate-key", "--old", old, "--new", new, "--out", d / "rotation.json"])
                self.assertEqual(made.returncode, 0, made.stderr)
                proc, _ = run_sender(cap, new, "--rotation", d / "rotation.json", *common)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                reports = stdout_reports(proc)
                st = json.loads((d / "rotation.json").read_text())
                self.assertGreater(len(reports), 0)
                for report in reports.values():
                    rot = report["metadata"]["rotation"]
                    self.assertEqual(rot["old"], old_pub)
                    self.assertEqual(rot["time"], st["rotate"]["time"])
                    message = canonical({"rotate": st["rotate"]}).encode()
                    nacl.signing.VerifyKey(bytes.fromhex(old_pub)).verify(message, base64.b64decode(rot["signatures"][0]))
                    nacl.signing.VerifyKey(bytes.fromhex(st["rotate"]["new"])).verify(
                        message, base64.b64decode(rot["signatures"][1]))
                self.assertEqual(rx.wait_counter("stored", n_old + len(reports)), n_old + len(reports))
                keys = {k["key"]: k for k in rx.get("/api/keys")["keys"]}
                new_pub = st["rotate"]["new"]
                self.assertEqual(keys[new_pub]["rotated_from"], old_pub)
                self.assertEqual(keys[old_pub]["rotated_from"], "")
                self.assertEqual(keys[new_pub]["first_seen"], keys[old_pub]["first_seen"])
                kinds = [a["kind"] for a in rx.get("/api/alerts")["alerts"]]
                self.assertIn("key_rotated", kinds)
                self.assertNotIn("identity_new_key", kinds)
                # A statement for another key than --key is refused at start.
                other = d / "other.key"
                self.assertEqual(run(["keygen", other]).returncode, 0)
                proc, _ = run_sender(cap, other, "--rotation", d / "rotation.json", *common)
                self.assertEqual(proc.returncode, 2, proc.stderr)
            finally:
                rx.stop()


if __name__ == "__main__":
    main()

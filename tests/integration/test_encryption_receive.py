"""The encryption mode, receiver side (docs/manual.md, "Encryption"), against PyNaCl: the published
document (GET /.well-known/overflowd) verifies with nacl.signing and names the X25519 key by its kid;
reports sealed by Python with nacl.public.SealedBox to that key, over HTTP and UDP, are stored
verified with sealed=true and the kid; unknown kid, bad box, recipient mismatch and sealed input to
a receiver without an encryption key are refused under their counters. A rotation statement made by
`overflowd rotate-key` is published and verifies with PyNaCl. The binary sealed datagram (README,
"The binary sealed datagram") made by PyNaCl over UDP is stored verified; a key outside its
validity window (--encryption-key PATH,not_before=..,not_after=..) is not published and opens
nothing (sealed.expired_kid). Sealed input over HTTPS and from a capture file is opened and stored
too. Loopback only."""

import base64
import hashlib
import json
import unittest

import nacl.public
import nacl.signing

import overflowd_testlib as lib
import receive_support as rs


def kid(pub: bytes) -> str:
    return hashlib.sha256(pub).digest()[:8].hex()


def seal(report: bytes, pub: bytes, kid_text=None) -> bytes:
    box = nacl.public.SealedBox(nacl.public.PublicKey(pub)).encrypt(report)
    return lib.canonical({"sealed": {"v": 1, "kid": kid_text or kid(pub), "box": base64.b64encode(box).decode()}}).encode()


def verify_document(raw: bytes):
    doc = json.loads(raw)
    block = doc.pop("signature")
    message = nacl.signing.VerifyKey(bytes.fromhex(block["key"])).verify(base64.b64decode(block["signature"]))
    assert message == lib.canonical(doc).encode(), "the document's message is not the document"
    assert block["key"] == doc["identity"]
    return doc


def seal_datagram(signed, pub: bytes, kid_bytes=None, version=1) -> bytes:
    """The binary sealed datagram: b"OFDS", version, kid (8 bytes), SealedBox(vk || sig || message)."""
    inner = bytes(signed.verify_key) + signed.signature + signed.message
    box = nacl.public.SealedBox(nacl.public.PublicKey(pub)).encrypt(inner)
    return b"OFDS" + bytes([version]) + (kid_bytes or bytes.fromhex(kid(pub))) + box


class SignedFor(rs.Signed):
    """A PyNaCl-signed report with metadata.recipient."""

    def __init__(self, key, recipient, **kw):
        super().__init__(key, **kw)
        self.report["metadata"]["recipient"] = recipient
        self.message = lib.canonical(self.report).encode()
        signed = key.sign(self.message)
        self.verify_key = key.verify_key
        self.signature = signed.signature
        self.block = {"key": self.key, "signature": base64.b64encode(bytes(signed)).decode()}
        self.compact = lib.canonical(self.block)
        self.full = self.message[:-1].decode() + ',"signature":' + self.compact + "}"


class EncryptionReceive(unittest.TestCase):
    def setUp(self):
        lib.require_binary()

    def test_document_and_sealed_reports_from_pynacl(self):
        with lib.temp_dir() as d:
            ek = d / "x25519.key"
            rx = rs.Receiver(d, "--key", d / "id.key", "--encryption-key", ek, "--my-prefix", "198.51.100.0/24",
                             "--email", "abuse@receiver.example")
            try:
                status, raw = rx.request("GET", "/.well-known/overflowd")
                self.assertEqual(status, 200)
                doc = verify_document(lib.canonical(raw).encode() if isinstance(raw, dict) else raw)
                self.assertEqual(doc["service"], "overflowd")
                self.assertEqual(doc["version"], 1)
                self.assertEqual(doc["identity"], rx.key)
                self.assertEqual(doc["prefixes"], ["198.51.100.0/24"])
                self.assertEqual(len(doc["encryption_keys"]), 1)
                k = doc["encryption_keys"][0]
                pub = nacl.public.PrivateKey(bytes.fromhex(ek.read_text().strip())).public_key.encode()
                self.assertEqual(k["x25519"], pub.hex())
                self.assertEqual(k["kid"], kid(pub))
                self.assertLessEqual(k["not_before"], doc["expires"])
                self.assertEqual(oct(ek.stat().st_mode & 0o777), "0o600")

                key = rs.signing_key(7)
                a = SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=1))
                b = SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=2))
                self.assertEqual(rx.post(seal(a.full.encode(), pub))[0], 200)
                rx.send_udp([seal(b.compact.encode(), pub)])
                self.assertEqual(rx.wait_counter("stored", 2), 2)
                stored = rx.reports(raw=1)
                self.assertEqual(len(stored), 2)
                for r in stored:
                    self.assertTrue(r["sealed"])
                    self.assertEqual(r["kid"], kid(pub))
                    rs.pynacl_check_stored(r)

                # Refusals, each under its counter.
                other = nacl.public.PrivateKey.generate().public_key.encode()
                c = SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=3))
                self.assertEqual(rx.post(seal(c.full.encode(), other))[0], 400)                 # unknown kid
                self.assertEqual(rx.post(seal(c.full.encode(), other, kid(pub)))[0], 400)       # bad box
                elsewhere = SignedFor(key, "203.0.113.9", data=rs.flow_data(sport=4))
                self.assertEqual(rx.post(seal(elsewhere.full.encode(), pub))[0], 400)          # recipient
                counters = rx.counters()
                self.assertEqual(counters.get("invalid.sealed.unknown_kid"), 1, counters)
                self.assertEqual(counters.get("invalid.sealed.bad_box"), 1, counters)
                self.assertEqual(counters.get("invalid.sealed.recipient_mismatch"), 1, counters)
                # A plain report is still taken.
                self.assertEqual(rx.post(rs.Signed(key, data=rs.flow_data(sport=5)).full)[0], 200)
                plain = [r for r in rx.reports() if not r["sealed"]]
                self.assertEqual(len(plain), 1)
                self.assertEqual(plain[0]["kid"], "")
            finally:
                rx.stop()

    def test_without_an_encryption_key_sealed_input_is_refused(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                pub = nacl.public.PrivateKey.generate().public_key.encode()
                r = SignedFor(rs.signing_key(3), "198.51.100.7")
                self.assertEqual(rx.post(seal(r.full.encode(), pub))[0], 400)
                self.assertEqual(rx.counters().get("invalid.sealed.no_key"), 1)
            finally:
                rx.stop()

    def test_rotation_statement_is_published(self):
        with lib.temp_dir() as d:
            old, new = d / "old.key", d / "new.key"
            lib.run(["keygen", old], check_crash=True)
            proc = lib.run(["rotate-key", "--old", old, "--new", new, "--out", d / "rotation.json"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            st = json.loads((d / "rotation.json").read_text())
            message = lib.canonical({"rotate": st["rotate"]}).encode()
            signers = set()
            for block in st["signatures"]:
                got = nacl.signing.VerifyKey(bytes.fromhex(block["key"])).verify(base64.b64decode(block["signature"]))
                self.assertEqual(got, message)
                signers.add(block["key"])
            self.assertEqual(signers, {st["rotate"]["old"], st["rotate"]["new"]})
            rx = rs.Receiver(d, "--key", new, "--rotation", d / "rotation.json")
            try:
                _, raw = rx.request("GET", "/.well-known/overflowd")
                doc = verify_document(lib.canonical(raw).encode() if isinstance(raw, dict) else raw)
                self.assertEqual(doc["rotations"], [st])
                self.assertEqual(doc["encryption_keys"], [])
            finally:
                rx.stop()
            # A statement for another key than --key is refused at start.
            proc = lib.run(["receive", "--db", d / "x.db", "--key", old, "--rotation", d / "rotation.json",
                            "--udp-port", "off", "--http-port", "off"], timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stderr)


    def test_binary_datagrams_from_pynacl_and_key_validity_windows(self):
        with lib.temp_dir() as d:
            ek, old = d / "x25519.key", d / "old-x25519.key"
            # The old key's window ended long ago: not published, and it opens nothing.
            rx = rs.Receiver(d, "--encryption-key", ek, "--encryption-key", f"{old},not_before=1000,not_after=2000",
                             "--my-prefix", "198.51.100.0/24")
            try:
                _, raw = rx.request("GET", "/.well-known/overflowd")
                doc = verify_document(lib.canonical(raw).encode() if isinstance(raw, dict) else raw)
                pub = nacl.public.PrivateKey(bytes.fromhex(ek.read_text().strip())).public_key.encode()
                old_pub = nacl.public.PrivateKey(bytes.fromhex(old.read_text().strip())).public_key.encode()
                self.assertEqual([k["kid"] for k in doc["encryption_keys"]], [kid(pub)])
                key = rs.signing_key(8)
                good = [SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=10 + i)) for i in range(3)]
                datagrams = [seal_datagram(g, pub) for g in good]
                for g in datagrams:
                    self.assertLessEqual(len(g), 1200)
                    self.assertNotIn(b"flowdata", g)
                expired = seal_datagram(SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=20)), old_pub)
                unknown = seal_datagram(SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=21)),
                                        nacl.public.PrivateKey.generate().public_key.encode())
                v2 = seal_datagram(SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=22)), pub, version=2)
                rx.send_udp(datagrams + [expired, unknown, v2, b"OFDS\x01short"])
                self.assertEqual(rx.wait_counter("stored", 3), 3)
                c = rx.wait_counter("invalid", 4)
                counters = rx.counters()
                self.assertEqual(counters.get("invalid.sealed.expired_kid"), 1, counters)
                self.assertEqual(counters.get("invalid.sealed.unknown_kid"), 1, counters)
                self.assertEqual(counters.get("invalid.sealed.bad_version"), 1, counters)
                self.assertEqual(counters.get("invalid.sealed.too_short"), 1, counters)
                self.assertEqual(c, 4)
                stored = rx.reports(raw=1)
                self.assertEqual(len(stored), 3)
                for r in stored:
                    self.assertTrue(r["sealed"])
                    self.assertEqual(r["kid"], kid(pub))
                    self.assertEqual(r["input"], "udp")
                    rs.pynacl_check_stored(r)
            finally:
                rx.stop()


    def test_sealed_over_https_and_from_a_capture(self):
        # The receiver opens sealed input on every input: an HTTPS POST (the JSON envelope) and a
        # capture file (the binary datagram and the JSON envelope), all sealed by PyNaCl.
        with lib.temp_dir() as d:
            pair = rs.self_signed_cert(d)
            if pair is None:
                self.skipTest("the openssl command is not available to make a test certificate")
            ek = d / "x25519.key"
            self.assertEqual(lib.run(["keygen", "--x25519", ek]).returncode, 0)
            pub = nacl.public.PrivateKey(bytes.fromhex(ek.read_text().strip())).public_key.encode()
            key = rs.signing_key(41)
            over_https = SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=1))
            in_capture = [SignedFor(key, "198.51.100.7", data=rs.flow_data(sport=2 + i)) for i in range(2)]
            pcap = d / "sealed.pcap"
            rs.write_udp_pcap(pcap, [("192.0.2.1", "198.51.100.7", seal_datagram(in_capture[0], pub)),
                                     ("192.0.2.1", "198.51.100.7", seal(in_capture[1].compact.encode(), pub))])
            rx = rs.Receiver(d, "--encryption-key", ek, "--my-prefix", "198.51.100.0/24", "--capture-file", pcap,
                             "--https-port", "0", "--tls-cert", pair[0], "--tls-key", pair[1])
            try:
                status, answer = rx.post(seal(over_https.full.encode(), pub), scheme="https")
                self.assertEqual(status, 200, answer)
                self.assertEqual(rx.wait_counter("stored", 3), 3)
                stored = rx.reports(raw=1)
                self.assertEqual(sorted(r["input"] for r in stored), ["capture", "capture", "https"])
                for r in stored:
                    self.assertTrue(r["sealed"])
                    self.assertEqual(r["kid"], kid(pub))
                    rs.pynacl_check_stored(r)
                self.assertEqual(rx.counters().get("invalid", 0), 0)
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

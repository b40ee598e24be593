"""Rotation over UDP (docs/manual.md, "Rotation over UDP"), on loopback only: a UDP-only sender
whose key was rotated, with the largest contact its start-up check allows, delivers every report
(udp.sent = reports, no udp.too_large): a report whose datagram would pass 1,200 bytes because of
metadata.rotation goes without it (a plain compact report here; a sealed one with IPv4 flows still
carries it), and the endpoint gets the statement itself as a datagram of its own; the receiver, which knew the old key, links the keys (/api/keys rotated_from, key_rotated,
no identity_new_key). Sealed (--encrypt require, pinned key) and plain. The start-up check refuses
a contact that would not fit a sealed datagram, naming the setting and the room left."""

import base64
import json
import re
import time
import unittest

import receive_support as rs
from delivery_testlib import DST, SRC, loopback_capture, new_key, run_sender, stdout_reports
from overflowd_testlib import canonical, main, parse_summary, require_binary, run, temp_dir


def pynacl_statement(old, new, when, signers=None):
    """A rotation statement made with PyNaCl alone from the README's contract."""
    rotate = {"new": new.verify_key.encode().hex(), "old": old.verify_key.encode().hex(), "time": when}
    message = canonical({"rotate": rotate}).encode()
    blocks = [{"key": k.verify_key.encode().hex(), "signature": base64.b64encode(bytes(k.sign(message))).decode()}
              for k in (signers or (old, new))]
    return canonical({"rotate": rotate, "signatures": blocks}).encode()

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]


class RotationOverUdp(unittest.TestCase):
    def setUp(self):
        require_binary()

    def run_rotation(self, sealed):
        with temp_dir() as d:
            args = ["--bind", DST, "--http-bind", DST]
            common = ["--deliver", "udp", "--deliver-to", "dst", *NO_BUDGETS]
            if sealed:
                ek = d / "x25519.key"
                self.assertEqual(run(["keygen", "--x25519", ek]).returncode, 0)
                x_pub = run(["pubkey", "--x25519", ek]).stdout.split()[0]
                pins = d / "peers"
                pins.write_text(f"{DST}/32 {x_pub}\n")
                args += ["--encryption-key", ek, "--my-prefix", "127.0.0.0/8"]
                common += ["--encrypt", "require", "--peer-keys", pins]
            rx = rs.Receiver(d, *args)
            rx.url = lambda path, scheme="http": f"{scheme}://{DST}:{rx.ports[scheme]}{path}"
            try:
                common += ["--report-port", rx.ports["udp"]]
                cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=20)
                old, old_pub = new_key(d)
                new = d / "new.key"
                made = run(["rotate-key", "--old", old, "--new", new, "--out", d / "rotation.json"])
                self.assertEqual(made.returncode, 0, made.stderr)
                if sealed:
                    # The largest contact: what the start-up check says is left for it.
                    proc, _ = run_sender(cap, old, *common, "--email", "e" * 256, "--identity", "i" * 256)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertIn("--email/--identity", proc.stderr)
                    room = int(re.search(r"at most (\d+) bytes together", proc.stderr).group(1))
                    email, identity = "e" * (room // 2), "i" * (room - room // 2)
                    proc, _ = run_sender(cap, old, *common, "--email", email + "e", "--identity", identity)
                    self.assertEqual(proc.returncode, 2, "one byte over the room is refused")
                else:
                    email, identity = "noc@sender.example", "Sender Net"
                contact = ["--email", email, "--identity", identity]
                # The old key, known to the receiver first.
                proc, _ = run_sender(cap, old, *common, *contact)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                n_old = len(stdout_reports(proc))
                self.assertEqual(rx.wait_counter("stored", n_old), n_old)
                # The new key, carrying the rotation, over UDP only.
                proc, _ = run_sender(cap, new, "--rotation", d / "rotation.json", *common, *contact)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                reports = stdout_reports(proc)
                n = len(reports)
                self.assertGreater(n, 5)
                self.assertTrue(all("rotation" in r["metadata"] for r in reports.values()))
                s = parse_summary(proc.stderr)
                self.assertEqual(s.get("udp.sent", 0), n, "every report went")
                self.assertEqual(s.get("udp.too_large", 0), 0, "none dropped for size")
                if sealed:
                    # IPv4 flows leave room for the rotation in a sealed datagram even with the
                    # largest contact (the check reserves room for IPv6): carried in the reports.
                    self.assertEqual(s["encrypt.sealed"], n)
                    self.assertEqual(s["rotation.udp_left_out"], 0)
                    self.assertEqual(s["rotation.udp_statements"], 0)
                else:
                    # A plain compact report with the rotation is over 1,200 bytes: left out, and
                    # the statement sent on its own, once for the one endpoint.
                    self.assertEqual(s["rotation.udp_left_out"], n)
                    self.assertEqual(s["rotation.udp_statements"], 1)
                self.assertEqual(rx.wait_counter("stored", n_old + n), n_old + n, "every report arrived")
                stats = rx.get("/api/stats")
                self.assertEqual(stats["runtime"]["rotation_statements"]["valid"], 0 if sealed else 1)
                keys = {k["key"]: k for k in rx.get("/api/keys")["keys"]}
                new_pub = json.loads((d / "rotation.json").read_text())["rotate"]["new"]
                self.assertEqual(keys[new_pub]["rotated_from"], old_pub)
                self.assertEqual(keys[new_pub]["first_seen"], keys[old_pub]["first_seen"])
                kinds = [a["kind"] for a in rx.get("/api/alerts")["alerts"]]
                self.assertEqual(kinds.count("key_rotated"), 1)
                self.assertNotIn("identity_new_key", kinds)
                return n, s
            finally:
                rx.stop()

    def test_statement_datagram_made_by_pynacl_links_the_keys(self):
        # Interop: the statement datagram and the reports are PyNaCl's; a forged statement (both
        # blocks by the new key) is refused and links nothing.
        with temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                old, new, third = rs.signing_key(31), rs.signing_key(32), rs.signing_key(33)
                rx.send_udp([rs.Signed(old, data=rs.flow_data(sport=1)).compact.encode()])
                self.assertEqual(rx.wait_counter("stored", 1), 1)
                forged = json.loads(pynacl_statement(old, third, int(time.time()), signers=(third, third)))
                rx.send_udp([pynacl_statement(old, new, int(time.time())), canonical(forged).encode()])
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    st = rx.get("/api/stats")["runtime"]["rotation_statements"]
                    if st["valid"] + st["invalid"] >= 2:
                        break
                    time.sleep(0.05)
                self.assertEqual((st["valid"], st["invalid"], st["kept"]), (1, 1, 1))
                rx.send_udp([rs.Signed(new, data=rs.flow_data(sport=2)).compact.encode(),
                             rs.Signed(third, data=rs.flow_data(sport=3)).compact.encode()])
                self.assertEqual(rx.wait_counter("stored", 3), 3)
                self.assertEqual(rx.counters().get("invalid", 0), 0, "a statement is not a refused report")
                keys = {k["key"]: k for k in rx.get("/api/keys")["keys"]}
                old_hex, new_hex, third_hex = (k.verify_key.encode().hex() for k in (old, new, third))
                self.assertEqual(keys[new_hex]["rotated_from"], old_hex)
                self.assertEqual(keys[third_hex]["rotated_from"], "")
                alerts = rx.get("/api/alerts")["alerts"]
                self.assertEqual([a["key"] for a in alerts if a["kind"] == "key_rotated"], [new_hex])
            finally:
                rx.stop()

    def test_rotation_period_zero_carries_nothing(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=4)
            old, _ = new_key(d)
            new = d / "new.key"
            self.assertEqual(run(["rotate-key", "--old", old, "--new", new, "--out", d / "r.json"]).returncode, 0)
            for period, carried in (("0", False), ("30", True)):
                proc, _ = run_sender(cap, new, "--rotation", d / "r.json", "--rotation-period", period)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                reports = stdout_reports(proc).values()
                self.assertTrue(reports)
                self.assertTrue(all(("rotation" in r["metadata"]) == carried for r in reports), period)

    def test_sealed_udp_only_with_the_largest_contact(self):
        self.run_rotation(sealed=True)

    def test_plain_udp_only(self):
        self.run_rotation(sealed=False)


if __name__ == "__main__":
    main()

"""Key continuity in `overflowd receive`: each key's history (first and last seen, report count,
exporters, prefixes, contacts) and the alerts a change raises: a key whose contact changes, and a
known identity (or email) that appears under a new key. Reports are made by overflowd's own sender
with key files, as a network running it would make them.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import json
import unittest

import overflowd_testlib as lib
import receive_support as rs


class KeyContinuity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def post_all(self, rx, lines):
        for i in range(0, len(lines), 50):
            status, body = rx.post("\n".join(lines[i:i + 50]))
            self.assertEqual(status, 200, body)

    def test_a_keys_history_and_a_contact_change(self):
        with lib.temp_dir() as d:
            key = d / "a.key"
            first = rs.sender_reports(d, key, "noc@a.example", "A Net")
            rx = rs.Receiver(d)
            try:
                self.post_all(rx, first)
                self.assertEqual(rx.get("/api/alerts")["alerts"], [])
                keys = rx.get("/api/keys")["keys"]
                self.assertEqual(len(keys), 1)
                k = keys[0]
                self.assertEqual(k["key"], lib.run(["pubkey", key]).stdout.strip())
                self.assertEqual(k["reports"], len(first))
                self.assertEqual(k["exporters"], 1)  # the synthetic capture has one exporter
                # Distinct /24s among every source and destination the reports name.
                prefixes = set()
                for line in first:
                    data = json.loads(line)["flowdata"]["data"]
                    for a in (data["saddr"], data["daddr"]):
                        prefixes.add(".".join(a.split(".")[:3]))
                self.assertEqual(k["prefixes"], len(prefixes))
                self.assertEqual(k["contact"], {"email": "noc@a.example", "identity": "A Net"})
                self.assertLessEqual(k["first_seen"], k["last_seen"])

                # The same key, now with another contact (a second capture, so new reports).
                second = rs.sender_reports(d, key, "takeover@b.example", "A Net", "--seed", "7")
                self.post_all(rx, second)
                alerts = rx.get("/api/alerts")["alerts"]
                self.assertEqual([a["kind"] for a in alerts], ["contact_changed"])
                a = alerts[0]
                self.assertEqual(a["key"], k["key"])
                self.assertEqual(a["detail"]["from"], {"email": "noc@a.example", "identity": "A Net"})
                self.assertEqual(a["detail"]["to"], {"email": "takeover@b.example", "identity": "A Net"})
                first_new = [r for r in rx.reports(limit=1000) if r["id"] == a["report_id"]]
                self.assertEqual(first_new[0]["contact"]["email"], "takeover@b.example")
                k = rx.get("/api/keys")["keys"][0]
                self.assertEqual(k["reports"], len(first) + len(second))
                self.assertEqual([c["email"] for c in k["contacts"]], ["noc@a.example", "takeover@b.example"])
                self.assertEqual(k["alerts"], 1)
            finally:
                rx.stop()

    def test_a_known_identity_under_a_new_key(self):
        with lib.temp_dir() as d:
            old = rs.sender_reports(d, d / "old.key", "noc@a.example", "A Net")
            new = rs.sender_reports(d, d / "new.key", "noc@a.example", "A Net", "--seed", "9")
            other = rs.sender_reports(d, d / "other.key", "noc@c.example", "C Net", "--seed", "11")
            rx = rs.Receiver(d)
            try:
                self.post_all(rx, old)
                self.post_all(rx, other)
                self.assertEqual(rx.get("/api/alerts")["alerts"], [], "distinct networks raise nothing")
                self.post_all(rx, new)
                alerts = rx.get("/api/alerts")["alerts"]
                self.assertEqual([a["kind"] for a in alerts], ["identity_new_key"])
                a = alerts[0]
                old_key = lib.run(["pubkey", d / "old.key"]).stdout.strip()
                new_key = lib.run(["pubkey", d / "new.key"]).stdout.strip()
                self.assertEqual(a["key"], new_key)
                self.assertEqual(a["detail"]["previous_keys"], [old_key])
                self.assertEqual(sorted(a["detail"]["matched"]), ["email", "identity"])
                self.assertEqual(len(rx.get("/api/keys")["keys"]), 3)
                # Filtered by key.
                self.assertEqual(len(rx.get(f"/api/alerts?key={old_key}")["alerts"]), 0)
                self.assertEqual(len(rx.get(f"/api/alerts?key={new_key}")["alerts"]), 1)
            finally:
                rx.stop()

    def test_history_survives_a_restart(self):
        with lib.temp_dir() as d:
            lines = rs.sender_reports(d, d / "a.key", "noc@a.example", "A Net")
            rx = rs.Receiver(d)
            try:
                self.post_all(rx, lines)
            finally:
                rx.stop()
            rx = rs.Receiver(d)
            try:
                k = rx.get("/api/keys")["keys"][0]
                self.assertEqual(k["reports"], len(lines))
                # A report under another contact after the restart is still a change.
                changed = rs.sender_reports(d, d / "a.key", "new@a.example", "A Net", "--seed", "5")
                self.post_all(rx, changed[:1])
                self.assertEqual([a["kind"] for a in rx.get("/api/alerts")["alerts"]], ["contact_changed"])
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

"""The receiver advertises (GET /.well-known/overflowd, accepts.max_report_bytes) the largest signed
report it accepts in each wire form, signature block included in its 64 KiB line and body (issue 13
item 9): a report of exactly that size, signed with PyNaCl, is stored, and one byte more is refused.

Everything is sent to a receiver on loopback."""

import base64
import time
import unittest

import overflowd_testlib as lib
import receive_support as rs


def report_of_size(key, size, tag):
    """A report whose canonical signed message is exactly `size` bytes (padded in metadata), and its
    full and compact lines, signed with PyNaCl."""
    r = rs.Signed(key, data=rs.flow_data(sport=tag))
    r.report["metadata"]["pad"] = ""
    base = len(lib.canonical(r.report).encode())
    assert size >= base, (size, base)
    r.report["metadata"]["pad"] = "x" * (size - base)
    message = lib.canonical(r.report).encode()
    assert len(message) == size
    signed = key.sign(message)
    compact = lib.canonical({"key": key.verify_key.encode().hex(),
                             "signature": base64.b64encode(bytes(signed)).decode()})
    full = message[:-1].decode() + ',"signature":' + compact + "}"
    return {"full": full, "compact": compact}


class AdvertisedSizes(unittest.TestCase):
    def test_a_report_of_the_advertised_size_is_stored_and_one_byte_more_is_refused(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, udp=False)
            try:
                disc = rx.get("/.well-known/overflowd")
                sizes = disc["accepts"]["max_report_bytes"]
                self.assertEqual(set(sizes), set(disc["accepts"]["forms"]))
                # The full form carries the message twice (itself and in base64): about 3/7 of 64 KiB.
                self.assertGreater(sizes["compact"], 49_000)
                self.assertGreater(sizes["full"], 28_000)
                key = rs.signing_key(7)
                stored_signatures = set()
                for tag, form in enumerate(("full", "compact"), start=1000):
                    with self.subTest(form=form):
                        at = report_of_size(key, sizes[form], tag)
                        over = report_of_size(key, sizes[form] + 1, tag + 100)
                        self.assertLessEqual(len(at[form].encode()), disc["accepts"]["max_body_bytes"])
                        status, body = rx.post(at[form])
                        self.assertEqual(status, 200, body)
                        self.assertEqual(body.get("stored"), 1, body)
                        stored_signatures.add(signature_of(at["compact"]))
                        status, body = rx.post(over[form])
                        self.assertIn(status, (400, 413), body)
                stored = {r["signed"]["signature"] for r in rx.reports(limit=100, raw=1)}
                self.assertEqual(stored, stored_signatures, "exactly the reports of the advertised sizes")
            finally:
                rx.stop()


    def test_a_report_of_the_advertised_udp_size_is_stored_from_an_ipv4_datagram(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, http=True)
            try:
                disc = rx.get("/.well-known/overflowd")
                sizes = disc["accepts"]["max_udp_report_bytes"]
                self.assertLess(sizes["compact"], disc["accepts"]["max_report_bytes"]["compact"])
                key = rs.signing_key(8)
                expected = set()
                for n, form in enumerate(("full", "compact"), start=1):
                    at = report_of_size(key, sizes[form], 2000 + n)
                    self.assertLessEqual(len(at[form].encode()), 65_507)
                    rx.send_udp([at[form]])
                    expected.add(signature_of(at["compact"]))
                    self.assertEqual(rx.wait_counter("stored", n), n, f"the {form} form of the advertised UDP size")
                    # One byte more does not fit an IPv4 datagram at all (EMSGSIZE), whatever the form.
                    over = report_of_size(key, sizes[form] + 1, 2100 + n)
                    with self.assertRaises(OSError):
                        rx.send_udp([over[form]])
                stored = {r["signed"]["signature"] for r in rx.reports(limit=100, raw=1)}
                self.assertEqual(stored, expected)
            finally:
                rx.stop()


def signature_of(compact):
    import json
    return json.loads(compact)["signature"]


if __name__ == "__main__":
    unittest.main()

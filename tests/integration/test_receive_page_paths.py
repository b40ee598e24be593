"""The page's Paths view and /api/paths' ordering (issue 19), in headless Chromium (Debian's
chromium) against a receiver fed with reports signed by PyNaCl: three networks (three keys) report
the same flow as the coherent draw's pick (metadata.coherent: true), each from its own exporter
whose next hop is the next network's exporter. They are posted out of order, with start times that
put them in the opposite order, so the path must follow the next hops: /api/paths says
"order": "nexthop" and lists the hops upstream first, and the page shows one path with the three
networks in that order. A fourth report of another flow (one key only) makes no path. Small (one
Chromium run); skips (exit 77) when chromium is absent.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import base64
import html
import os
import re
import shutil
import subprocess
import time
import unittest

import overflowd_testlib as lib
import receive_support as rs

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
EXPORTERS = ("203.0.113.1", "203.0.113.2", "203.0.113.3")  # upstream first
NEXTHOPS = ("203.0.113.2", "203.0.113.3", "0.0.0.0")


def coherent_report(key, n, data):
    report = {"contact": {"email": f"noc@net{n}.example", "identity": f"Network {n}"},
              "flowdata": {"data": data, "sourcetype": {"type": "Netflow", "version": 5}},
              "metadata": {"class": "INFORMATIONAL", "coherent": True, "info": "FLOWSEEN", "time": round(time.time(), 6)}}
    message = lib.canonical(report).encode()
    sig = key.sign(message)
    compact = lib.canonical({"key": key.verify_key.encode().hex(), "signature": base64.b64encode(bytes(sig)).decode()})
    return message[:-1].decode() + ',"signature":' + compact + "}"


class PagePaths(unittest.TestCase):
    def setUp(self):
        lib.require_binary()

    def test_paths_view(self):
        if CHROMIUM is None:
            raise unittest.SkipTest("chromium is not installed (Debian package chromium)")
        now_ms = int(time.time() * 1000)
        bucket = now_ms // 60_000 * 60_000
        keys = [rs.signing_key(60 + n) for n in range(3)]
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            try:
                for n in (1, 2, 0):  # out of order; start times reversed (downstream earliest)
                    data = rs.flow_data(saddr="192.0.2.10", daddr="198.51.100.20", sport=5353, dport=53, protocol=17,
                                        stime=bucket + 30_000 - 1000 * n, etime=bucket + 31_000,
                                        exporter=EXPORTERS[n])
                    data["nexthop"] = NEXTHOPS[n]
                    status, body = rx.post(coherent_report(keys[n], n, data))
                    self.assertEqual(status, 200, body)
                lonely = rs.flow_data(saddr="192.0.2.11", exporter=EXPORTERS[0])
                status, body = rx.post(coherent_report(keys[0], 0, lonely))
                self.assertEqual(status, 200, body)
                paths = rx.get("/api/paths")
                out = subprocess.run(
                    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={d / 'profile'}",
                     "--window-size=1400,1200", "--virtual-time-budget=5000", "--dump-dom",
                     rx.url("/") + "#view=paths&range=all"], capture_output=True, text=True, timeout=120)
            finally:
                rx.stop()

        self.assertEqual(len(paths["paths"]), 1, paths)
        p = paths["paths"][0]
        self.assertEqual(p["order"], "nexthop")
        self.assertEqual(p["keys"], 3)
        self.assertEqual(p["bucket_start"], bucket)
        self.assertEqual([h["flow"]["exporter"] for h in p["hops"]], list(EXPORTERS))
        self.assertEqual([h["key"] for h in p["hops"]], [k.verify_key.encode().hex() for k in keys])
        self.assertTrue(all(h["coherent"] for h in p["hops"]))

        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        page = out.stdout
        self.assertIn('data-rendered="paths"', page)
        view = page[page.index('id="paths"'):]
        view = view[:view.index("</section>")]
        self.assertEqual(view.count("<tbody>"), 1)
        self.assertEqual(view.count("<tr>"), 2, "a header and one path")
        hops = [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", view)]
        self.assertEqual(len(hops), 3, view)
        for n, text in enumerate(hops):
            self.assertIn(f"Network {n} <noc@net{n}.example>, exporter {EXPORTERS[n]}", text)
            self.assertIn("key " + keys[n].verify_key.encode().hex()[:12], text)
        self.assertIn("next hop", view)
        self.assertIn("192.0.2.10:5353 \u2192 198.51.100.20:53 proto 17", html.unescape(view))


if __name__ == "__main__":
    lib.main()

"""The receiver's page as a tool (issue 12, item 3), in headless Chromium (Debian's chromium),
against a receiver fed with reports signed by PyNaCl: the time range picker (relative and custom)
drives the views; filters and paging in the reports; drill-down on a source (every report and
reporting network) and on a key (contact history, alerts, reports); contact cards with mailto links
and an abuse note whose evidence lines PyNaCl re-verifies; the charts have axes and units; the
refresh asks only for reports newer than the newest it holds; the page does not scroll sideways at
390 px. Screenshots of each view at 1,400 and 390 px are written to the build folder
(page-VIEW-WIDTH.png). Skips (exit 77) when chromium is absent.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import time
import unittest
import urllib.parse

import nacl.signing

import overflowd_testlib as lib
import receive_support as rs

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
WIDTHS = (1400, 390)


def chromium(url, profile, width, *mode, height=None):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--window-size={width},{height or (2200 if width < 600 else 1600)}",
           "--virtual-time-budget=5000", *mode, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def signed(key, email, identity, data, cls="INFORMATIONAL"):
    """A report signed with PyNaCl (full wire form), of the given class."""
    report = {"contact": {"email": email, "identity": identity},
              "flowdata": {"data": data, "sourcetype": {"type": "Netflow", "version": 5}},
              "metadata": {"class": cls, "info": "FLOWSEEN", "time": round(time.time(), 6)}}
    if cls == "SUSPICIOUS":
        report["metadata"]["reasons"] = "rate"
    message = lib.canonical(report).encode()
    sig = key.sign(message)
    compact = lib.canonical({"key": key.verify_key.encode().hex(), "signature": base64.b64encode(bytes(sig)).decode()})
    return message[:-1].decode() + ',"signature":' + compact + "}"


def part(page, div_id):
    """The HTML of one part of the page: from id="div_id" to the end of its section."""
    start = page.index(f'id="{div_id}"')
    return page[start:page.index("</section>", start)]


class PageViews(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        if CHROMIUM is None:
            raise unittest.SkipTest("chromium is not installed (Debian package chromium)")

    def setUp(self):
        self.runs = 0

    def dom(self, rx, d, fragment, width=1400):
        self.runs += 1
        out = chromium(rx.url("/") + fragment, d / f"profile-{self.runs}", width, "--dump-dom")
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        page = out.stdout
        view = dict(urllib.parse.parse_qsl(fragment[1:])).get("view", "overview")
        if f'data-rendered="{view}"' not in page:
            (lib.build_dir() / "page-failed.html").write_text(page + "\n<!-- " + out.stderr[-3000:] + " -->")
        self.assertIn(f'data-rendered="{view}"', page, f"the {view} view did not render: "
                      + (re.search(r'id="error"[^>]*>([^<]*)', page) or [None, "?"])[1])
        return page

    def shot(self, rx, d, fragment, name):
        for width in WIDTHS:
            self.runs += 1
            out = lib.build_dir() / f"page-{name}-{width}.png"
            out.unlink(missing_ok=True)
            r = chromium(rx.url("/") + fragment, d / f"profile-{self.runs}", width, f"--screenshot={out}")
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            png = out.read_bytes()
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
            self.assertGreater(len(png), 15_000, f"{out.name}: a blank page would compress to far less")
            print(f"screenshot: {out}")

    def test_every_view(self):
        self.longMessage = False  # the DOM is long: say what is missing, not the whole page
        with lib.temp_dir() as d:
            t = int(time.time())
            now_ms = t * 1000
            own = d / "own.pcap"
            rs.write_udp_pcap(own, [("127.0.0.1", "127.0.0.1", lib.build_v5_datagram(
                [dict(saddr="127.9.0.1", daddr="127.2.0.1", sport=1, dport=80, protocol=6)], unix_secs=t))], dport=2055)
            rx = rs.Receiver(d, "--my-prefix", "127.2.0.0/16", "--my-prefix", "127.9.0.0/16", "--own-exports-file", own,
                             "--identity", "Receiver Of The Views Test", "--email", "abuse@receiver.example")
            try:
                a, b, c = rs.signing_key(71), rs.signing_key(72), rs.signing_key(73)
                ka, kb, kc = (k.verify_key.encode().hex() for k in (a, b, c))
                lines = []
                for i in range(120):  # Alpha: a flood toward 127.2.0.1 from ten sources, in the last minutes
                    lines.append(signed(a, "noc@alpha.example", "Alpha Net", rs.flow_data(
                        saddr=f"127.5.0.{1 + i % 10}", daddr="127.2.0.1", sport=1000 + i, stime=now_ms - 90_000 - i * 500,
                        etime=now_ms - 80_000 - i * 500, pcount=100 + i)))
                for i in range(5):  # Alpha, half an hour ago: in the last hour, not in the last 15 minutes
                    lines.append(signed(a, "noc@alpha.example", "Alpha Net", rs.flow_data(
                        saddr="127.5.9.9", daddr="127.2.0.3", sport=3000 + i, stime=now_ms - 1_800_000 - i * 1000,
                        etime=now_ms - 1_790_000 - i * 1000, pcount=7)))
                for i in range(10):  # Bravo: on the path of 127.5.0.1 too; some reports boosted as suspicious
                    lines.append(signed(b, "abuse@bravo.example", "Bravo Net", rs.flow_data(
                        saddr="127.5.0.1", daddr="127.2.0.2", sport=2000 + i, stime=now_ms - 60_000 - i * 1000,
                        etime=now_ms - 50_000 - i * 1000, pcount=50, exporter="203.0.113.9"),
                        cls="SUSPICIOUS" if i < 3 else "INFORMATIONAL"))
                # Charlie changes its contact (an alert) and reports a spoofed flow from my prefix.
                lines.append(signed(c, "noc@charlie.example", "Charlie Net", rs.flow_data(
                    saddr="127.5.0.2", daddr="127.2.0.1", sport=4000, stime=now_ms - 70_000, etime=now_ms - 69_000)))
                lines.append(signed(c, "impostor@elsewhere.example", "Charlie Net", rs.flow_data(
                    saddr="127.9.0.66", daddr="127.2.0.1", sport=4242, stime=now_ms - 2000, etime=now_ms - 1000,
                    exporter="127.0.0.77")))
                # A report with a flow time in 1970: listed apart, out of the charts.
                lines.append(signed(a, "noc@alpha.example", "Alpha Net", rs.flow_data(
                    saddr="127.5.0.3", daddr="127.2.0.1", sport=5555, stime=1_000_000, etime=1_001_000)))
                for i in range(0, len(lines), 10):
                    status, answer = rx.post("\n".join(lines[i:i + 10]))
                    self.assertEqual(status, 200, answer)
                stored = rx.get("/api/stats")["rows"]["reports"]
                self.assertEqual(stored, len(lines))
                newest = rx.get("/api/reports?limit=1")["reports"][0]["id"]

                # The API's `after` (the page's refresh): only rows newer than an id.
                after = rx.get(f"/api/reports?after={newest - 3}&limit=100")
                self.assertEqual([r["id"] for r in after["reports"]], [newest, newest - 1, newest - 2])
                self.assertFalse(after["gap"])
                self.assertTrue(rx.get(f"/api/reports?after={newest - 10}&limit=5")["gap"])

                # Every top source has the networks on its path (not only the first).
                top = rx.get(f"/api/summary?since={t - 3600}&until={t + 60}")["top_sources"]
                self.assertGreater(len(top), 5)
                for source in top:
                    self.assertTrue(source["seen_by"], source)

                # Overview, last hour: tiles, both charts with axes and units, the networks chart,
                # the top sources (with the one of half an hour ago), the spoofing suspect, alerts, flagged.
                page = self.dom(rx, d, "#view=overview&range=1h")
                self.assertIn("Receiver Of The Views Test", page)
                for text in ("reports per ", "packets per ", "flow start time (UTC)", "packets reported (times sampling interval) in the range",
                             "Alpha Net", "Bravo Net", "127.5.9.9", "127.9.0.66:4242", "contact_changed", "5555"):
                    self.assertIn(text, page, f"overview (1 h): {text}")
                self.assertGreater(page.count("<rect"), 10, "the charts have bars")
                self.assertIn("#view=source&amp;src=127.5.0.1", page.replace("range=1h&amp;", ""), "a source links to its drill-down")

                # Last 15 minutes: the flows of half an hour ago are out of the summary.
                page = self.dom(rx, d, "#view=overview&range=15m")
                self.assertIn("127.5.0.1", page)
                self.assertNotIn("127.5.9.9", part(page, "sources"), "the range picker drives the summary (15 min)")
                self.assertIn("127.5.9.9", part(page, "recent"), "received in the last 15 min, though its flows started before")
                # A custom range around half an hour ago: only those.
                page = self.dom(rx, d, f"#view=overview&range=custom&since={t - 2100}&until={t - 1500}")
                self.assertIn("127.5.9.9", page, "custom range")
                self.assertNotIn(">127.5.0.1<", page, "custom range: the recent flood is out")
                self.assertIn(time.strftime("(%Y-%m-%d %H:%M:%SZ to ", time.gmtime(t - 2100)), page, "the custom range, as shown")

                # Everything stored: the summary's own span.
                page = self.dom(rx, d, "#view=overview&range=all")
                self.assertIn("all that is stored", page)
                self.assertIn("127.5.9.9", page)
                self.assertIn("127.5.0.1", page)

                # Reports: the first page (50, newest first), then older by `before`, then filters.
                page = part(self.dom(rx, d, "#view=reports&range=1h"), "reports")  # below the suspicious-first list
                ids = [int(x) for x in re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)]
                self.assertEqual(ids, list(range(newest, newest - 50, -1)), "the first page: the newest 50")
                page = part(self.dom(rx, d, f"#view=reports&range=1h&before={newest - 50}"), "reports")
                ids = [int(x) for x in re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)]
                self.assertEqual(ids, list(range(newest - 51, newest - 101, -1)), "the second page (before)")
                page = part(self.dom(rx, d, "#view=reports&range=1h&saddr=127.5.0.1&class=SUSPICIOUS"), "reports")
                ids = re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)
                self.assertEqual(len(ids), 3, "filters: source and class")
                self.assertNotIn("Alpha Net", page)
                page = part(self.dom(rx, d, f"#view=reports&range=1h&key={kc}"), "reports")
                self.assertEqual(len(re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)), 2, "filter: key")
                page = part(self.dom(rx, d, "#view=reports&range=1h&daddr=127.2.0.3"), "reports")
                self.assertEqual(len(re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)), 5, "filter: victim address")
                page = part(self.dom(rx, d, "#view=reports&range=1h&prefix=127.9.0.0/16"), "reports")
                self.assertEqual(len(re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)), 0, "filter: my prefix (as victim)")

                # Refresh: with a refresh every second, the first page asks only for ids newer than its newest.
                page = self.dom(rx, d, "#view=reports&range=1h&every=1")
                log = html.unescape(re.search(r'<pre id="fetch-log"[^>]*>([^<]*)</pre>', page).group(1)).splitlines()
                # (besides the suspicious-first list, read once with the first page)
                full = [l for l in log if l.startswith("/api/reports?") and "after=" not in l and "class=SUSPICIOUS" not in l]
                incremental = [l for l in log if l.startswith("/api/reports?") and f"after={newest}&" in l]
                self.assertEqual(len(full), 1, log)
                self.assertGreaterEqual(len(incremental), 1, log)

                # The overview's newest reports refresh the same way.
                page = self.dom(rx, d, "#view=overview&range=1h&every=1")
                log = html.unescape(re.search(r'<pre id="fetch-log"[^>]*>([^<]*)</pre>', page).group(1)).splitlines()
                self.assertEqual(len([l for l in log if l.startswith("/api/reports?") and "after=" not in l]), 1, log)
                self.assertGreaterEqual(len([l for l in log if f"after={newest}&" in l]), 1, log)

                # Drill-down on a source: every report of it and both networks on its path, each a
                # card with a mailto link and a note whose evidence PyNaCl re-verifies.
                page = self.dom(rx, d, "#view=source&src=127.5.0.1&range=1h")
                self.assertIn("Alpha Net", page)
                self.assertIn("Bravo Net", page)
                self.assertIn('href="mailto:noc@alpha.example?subject=', page)
                self.assertIn('href="mailto:abuse@bravo.example?subject=', page)
                self.assertEqual(len(re.findall(r'<td class="num">(\d+)</td><td>\d{4}-', page)), 12 + 10, "every report of the source")
                notes = [html.unescape(n) for n in re.findall(r'<textarea[^>]*>([^<]*)</textarea>', page)]
                self.assertEqual(len(notes), 2)
                verified = 0
                for note in notes:
                    for line in note.splitlines():
                        if not line.startswith('{"key"'):
                            continue
                        ev = json.loads(line)
                        message = nacl.signing.VerifyKey(bytes.fromhex(ev["key"])).verify(base64.b64decode(ev["signature"]))
                        self.assertEqual(json.loads(message)["flowdata"]["data"]["saddr"], "127.5.0.1")
                        self.assertIn(ev["key"], (ka, kb))
                        verified += 1
                self.assertEqual(verified, 22, "every report of the source is evidence, re-verified with PyNaCl")
                self.assertIn("data:application/x-ndjson", page, "the evidence as a file")

                # Drill-down on a key: its contact history, its alert, its reports.
                page = self.dom(rx, d, f"#view=key&k={kc}&range=1h")
                for text in ("noc@charlie.example", "impostor@elsewhere.example", "contact_changed", "127.9.0.66:4242", "reports per "):
                    self.assertIn(text, page, f"key view: {text}")

                # Whom to call: a card per network as signed, with the key's other contacts beside.
                page = self.dom(rx, d, "#view=contacts&range=1h")
                for text in ('href="mailto:noc@alpha.example?subject=', 'href="mailto:abuse@bravo.example?subject=',
                             'href="mailto:impostor@elsewhere.example?subject=', "the key's other contacts"):
                    self.assertIn(text, page, f"contacts: {text}")
                self.assertIn("Ready-to-send abuse note", page)
                self.assertEqual(page.count('aria-label="this network\'s packets over time"'), 4, "a chart per network")
                notes = [html.unescape(n) for n in re.findall(r'<textarea[^>]*>([^<]*)</textarea>', page)]
                self.assertEqual(len(notes), 4, "one card per key and contact as signed")
                evidence = {}
                for note in notes:
                    for line in note.splitlines():
                        if line.startswith('{"key"'):
                            ev = json.loads(line)
                            report = json.loads(nacl.signing.VerifyKey(bytes.fromhex(ev["key"])).verify(base64.b64decode(ev["signature"])))
                            evidence.setdefault((ev["key"], report["contact"]["email"]), []).append(report)
                # Alpha's 125 in the range (the one of 1970 is out), Bravo's 10, one per Charlie contact.
                self.assertEqual({k: len(v) for k, v in evidence.items()},
                                 {(ka, "noc@alpha.example"): 125, (kb, "abuse@bravo.example"): 10,
                                  (kc, "noc@charlie.example"): 1, (kc, "impostor@elsewhere.example"): 1})

                # 390 px: usable (nothing makes the page itself scroll sideways; tables scroll in their box).
                for frag in ("#view=overview&range=1h", "#view=reports&range=1h", "#view=source&src=127.5.0.1&range=1h",
                             f"#view=key&k={kc}&range=1h", "#view=contacts&range=1h"):
                    page = self.dom(rx, d, frag, width=390)
                    sw = int(re.search(r'data-scroll-width="(\d+)"', page).group(1))
                    vw = int(re.search(r'data-view-width="(\d+)"', page).group(1))
                    self.assertLessEqual(sw, vw, f"{frag}: the page scrolls sideways at {vw} px ({sw} px wide)")

                # Screenshots of each view at both widths.
                for frag, name in (("#view=overview&range=1h", "overview"), ("#view=reports&range=1h", "reports"),
                                   ("#view=reports&range=1h&saddr=127.5.0.1&class=SUSPICIOUS", "reports-filtered"),
                                   ("#view=source&src=127.5.0.1&range=1h", "source"), (f"#view=key&k={kc}&range=1h", "key"),
                                   ("#view=contacts&range=1h", "contacts"),
                                   (f"#view=overview&range=custom&since={t - 2100}&until={t - 1500}", "overview-custom")):
                    self.shot(rx, d, frag, name)
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

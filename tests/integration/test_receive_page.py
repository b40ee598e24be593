"""The receiver's web page in headless Chromium (Debian's chromium): it loads with no external
resource, runs its script against the API, and shows this test's reports, keys, alerts, spoofing
suspects and the flood's top source. The screenshot is written to the build folder
(receive_page.png) as a test artifact. Skips (exit 77) when chromium is absent.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import os
import shutil
import subprocess
import time
import unittest
from pathlib import Path

import overflowd_testlib as lib
import receive_support as rs

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


def chromium(url, profile, *mode):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--window-size=1280,900", "--virtual-time-budget=5000", *mode, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Page(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        if CHROMIUM is None:
            raise unittest.SkipTest("chromium is not installed (Debian package chromium)")

    def test_the_page_shows_the_reports_of_this_test(self):
        with lib.temp_dir() as d:
            lines = rs.sender_reports(d, d / "a.key", "noc@pagetest.example", "Page Test Net")
            own = d / "own.pcap"
            t = int(time.time())
            rs.write_udp_pcap(own, [("127.0.0.1", "127.0.0.1", lib.build_v5_datagram(
                [dict(saddr="127.9.0.1", daddr="127.2.0.1", sport=1, dport=80, protocol=6)], unix_secs=t))], dport=2055)
            rx = rs.Receiver(d, "--my-prefix", "127.0.0.80/32", "--my-prefix", "127.9.0.0/16", "--own-exports-file", own,
                             "--identity", "Receiver Of The Page Test", "--email", "abuse@receiver.example")
            try:
                for i in range(0, len(lines), 50):
                    self.assertEqual(rx.post("\n".join(lines[i:i + 50]))[0], 200)
                # A contact change, a spoofing suspect and a refused report, so that every part has something.
                k = rs.signing_key(61)
                rx.post(rs.Signed(k, "noc@pagetest.example", "Page Test Net", rs.flow_data(sport=7)).full)
                rx.post(rs.Signed(k, "impostor@elsewhere.example", "Page Test Net", rs.flow_data(sport=8)).full)
                spoofed = rs.Signed(k, "impostor@elsewhere.example", "Page Test Net",
                                    rs.flow_data(saddr="127.9.0.66", daddr="127.2.0.1", sport=4242,
                                                 stime=t * 1000 - 2000, etime=t * 1000 - 1000, exporter="127.0.0.77"))
                self.assertEqual(rx.post(spoofed.full)[0], 200)
                rx.post('{"key":"zz","signature":"!!"}')
                self.assertEqual(rx.get("/api/spoofing")["counts"]["suspect"], 1)

                url = rx.url("/#range=all")  # the synthetic capture's flows start in 2023
                dom = chromium(url, d / "profile-dom", "--dump-dom")
                self.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
                html = dom.stdout
                self.longMessage = False  # the DOM is long: say what is missing, not the whole page
                self.assertIn("Receiver Of The Page Test", html, "discovery (the receiver's own contact)")
                self.assertIn("Page Test Net &lt;noc@pagetest.example&gt;", html, "the reporting network")
                some = lines[0]
                import json
                data = json.loads(some)["flowdata"]["data"]
                self.assertIn(f"{data['saddr']}:{data['sport']}", html, "a report of this test in the recent list")
                self.assertIn("contact_changed", html)
                self.assertIn("127.9.0.66:4242", html, "the spoofing suspect")
                self.assertIn("127.0.0.77", html, "the suspect's exporter")
                self.assertIn("bad_key", html, "the refused input")
                self.assertIn("<rect", html, "the volume chart has bars")
                self.assertNotIn('id="updated">could not load', html, "the script failed to read the API")

                out = lib.build_dir() / "receive_page.png"
                out.unlink(missing_ok=True)
                shot = chromium(url, d / "profile-shot", f"--screenshot={out}")
                self.assertEqual(shot.returncode, 0, shot.stderr[-2000:])
                self.assertTrue(out.is_file())
                png = out.read_bytes()
                self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
                self.assertGreater(len(png), 20_000, "a blank page would compress to far less")
                print(f"screenshot: {out}")
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

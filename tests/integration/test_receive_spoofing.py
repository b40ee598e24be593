"""Spoofing of my addresses: the receiver takes MY OWN flow exports (a capture file, or UDP) and
keeps a recent window of the flows they saw from my prefixes. A reported flow from my prefix that
my exports contain is not flagged; one they lack is a suspect, shown with where it was seen (the
reporting key and contact, its exporter, input interface and AS). Own exports are NetFlow v5
datagrams built by hand (Cisco's v5 layout); reports are signed with PyNaCl.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import time
import unittest
import urllib.parse

import overflowd_testlib as lib
import receive_support as rs

MINE = "192.0.2.0/24"
SYS_UPTIME = 3_600_000


def own_flow(saddr, sport):
    return dict(saddr=saddr, daddr="198.51.100.1", sport=sport, dport=80, protocol=6, pcount=5, bcount=500,
                first=SYS_UPTIME - 1000, last=SYS_UPTIME - 10)


class Spoofing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls.unix_secs = int(time.time()) - 60
        # What my exporter saw: two flows from my prefix, one from elsewhere (ignored: not mine).
        cls.datagram = lib.build_v5_datagram([own_flow("192.0.2.5", 1111), own_flow("192.0.2.7", 3333),
                                              own_flow("203.0.113.50", 4444)],
                                             sys_uptime=SYS_UPTIME, unix_secs=cls.unix_secs)
        stime = cls.unix_secs * 1000 - 1000
        etime = cls.unix_secs * 1000 - 10
        key = rs.signing_key(21)
        flow = lambda saddr, sport, **kw: rs.flow_data(saddr=saddr, daddr="198.51.100.1", sport=sport, dport=80,
                                                       protocol=6, stime=kw.get("stime", stime),
                                                       etime=kw.get("etime", etime), exporter="203.0.113.1",
                                                       input_if=7, src_as=64511)
        cls.reports = {
            "seen": rs.Signed(key, "noc@transit.example", "Transit Net", flow("192.0.2.5", 1111)),
            # Another network's router clock 40 s off: still the same flow.
            "seen_skewed": rs.Signed(key, "noc@transit.example", "Transit Net",
                                     flow("192.0.2.7", 3333, stime=stime + 40_000, etime=etime + 40_000)),
            "spoofed": rs.Signed(key, "noc@transit.example", "Transit Net", flow("192.0.2.6", 2222)),
            "spoofed_port": rs.Signed(key, "noc@transit.example", "Transit Net", flow("192.0.2.5", 1112)),
            "not_mine": rs.Signed(key, "noc@transit.example", "Transit Net", flow("203.0.113.9", 5555)),
            # A day before anything my exporter told me about: cannot be judged.
            "too_old": rs.Signed(key, "noc@transit.example", "Transit Net",
                                 flow("192.0.2.8", 6666, stime=stime - 86_400_000, etime=etime - 86_400_000)),
        }

    def post_reports(self, rx):
        for r in self.reports.values():
            status, body = rx.post(r.full)
            self.assertEqual(status, 200, body)

    def check_verdicts(self, rx):
        spoof = rx.get("/api/spoofing")
        self.assertEqual(spoof["my_prefixes"], [MINE])
        suspects = {(s["flow"]["saddr"], s["flow"]["sport"]) for s in spoof["suspects"]}
        self.assertEqual(suspects, {("192.0.2.6", 2222), ("192.0.2.5", 1112)})
        self.assertEqual(spoof["counts"], {"seen": 2, "suspect": 2, "unknown": 1})
        s = next(s for s in spoof["suspects"] if s["flow"]["saddr"] == "192.0.2.6")
        # Where it was seen: the reporting network, its exporter, ingress interface and AS.
        self.assertEqual(s["contact"], {"email": "noc@transit.example", "identity": "Transit Net"})
        self.assertEqual(s["key"], self.reports["spoofed"].key)
        self.assertEqual((s["flow"]["exporter"], s["flow"]["input"], s["flow"]["src_as"]), ("203.0.113.1", 7, 64511))
        self.assertGreaterEqual(spoof["own_exports"]["flows_mine"], 2)
        return spoof

    def test_own_exports_from_a_capture_file(self):
        with lib.temp_dir() as d:
            own = d / "own.pcap"
            rs.write_udp_pcap(own, [("127.0.0.1", "127.0.0.1", self.datagram)], dport=2055)
            rx = rs.Receiver(d, "--my-prefix", MINE, "--own-exports-file", own)
            try:
                self.post_reports(rx)
                self.check_verdicts(rx)
                # The verdict is stored with the report too.
                by_port = {r["flow"]["sport"]: r["spoof"] for r in rx.reports()}
                self.assertEqual(by_port, {1111: "seen", 3333: "seen", 2222: "suspect", 1112: "suspect",
                                           5555: "not_mine", 6666: "unknown"})
                self.assertEqual(rx.counters().get("spoof.suspect"), 2)
            finally:
                rx.stop()

    def test_own_exports_over_udp_even_when_they_arrive_after_the_reports(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--my-prefix", MINE, "--own-exports-port", "0")
            try:
                self.assertIn("own-exports", rx.ports)
                self.post_reports(rx)
                before = rx.get("/api/spoofing")
                self.assertEqual(before["suspects"], [], "with no export of mine yet, nothing can be judged")
                rx.send_own_exports([self.datagram])
                deadline = time.monotonic() + 30
                while rx.get("/api/stats")["runtime"]["own_exports"]["flows_mine"] < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.check_verdicts(rx)
            finally:
                rx.stop()

    def test_a_suspect_cleared_later_changes_the_summary_version(self):
        """The page refreshes the overview by the summary's version (?unless=) and reads the
        spoofing verdicts again only when it changed: a suspect my exports clear later (no new
        report, so no new id) must change it, or the cleared suspect stays on the page."""
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--my-prefix", MINE, "--own-exports-port", "0")
            try:
                rx.send_own_exports([self.datagram])
                deadline = time.monotonic() + 30
                while rx.get("/api/stats")["runtime"]["own_exports"]["flows_mine"] < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                status, body = rx.post(self.reports["spoofed"].full)
                self.assertEqual(status, 200, body)
                spoof = rx.get("/api/spoofing")
                self.assertEqual([(s["flow"]["saddr"], s["flow"]["sport"]) for s in spoof["suspects"]], [("192.0.2.6", 2222)])
                t = int(time.time())
                path = f"/api/summary?since={t - 86400}&until={t + 60}"
                version = rx.get(path)["version"]
                unless = path + "&unless=" + urllib.parse.quote(version)
                self.assertEqual(rx.get(unless), {"unchanged": True, "version": version})
                # My exporter saw that flow after all: its verdict is cleared (stored by the writer's tick).
                late = lib.build_v5_datagram([own_flow("192.0.2.6", 2222)], sys_uptime=SYS_UPTIME, unix_secs=self.unix_secs)
                rx.send_own_exports([late])
                deadline = time.monotonic() + 30
                while rx.counters().get("spoof.cleared", 0) < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(rx.counters().get("spoof.cleared"), 1)
                self.assertEqual(rx.get("/api/spoofing")["suspects"], [])
                again = rx.get(unless)
                self.assertNotIn("unchanged", again)
                self.assertNotEqual(again["version"], version)
                # And it holds still again until something else changes.
                self.assertEqual(rx.get(path + "&unless=" + urllib.parse.quote(again["version"])),
                                 {"unchanged": True, "version": again["version"]})
            finally:
                rx.stop()

    def test_without_my_own_exports_nothing_is_called_spoofed(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--my-prefix", MINE)
            try:
                self.post_reports(rx)
                spoof = rx.get("/api/spoofing")
                self.assertEqual(spoof["suspects"], [])
                self.assertEqual(spoof["counts"]["unknown"], 5)
                self.assertFalse(spoof["own_exports"]["configured"])
            finally:
                rx.stop()

    def test_summary_of_traffic_toward_my_prefix(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--my-prefix", "198.51.100.0/24")
            try:
                k1, k2 = rs.signing_key(31), rs.signing_key(32)
                t = int(time.time() * 1000)
                flood = []
                for i in range(6):  # the flood: 203.0.113.66 hits hardest, seen by two networks
                    src = "203.0.113.66" if i < 4 else "203.0.113.77"
                    key, who = (k1, "One Net") if i % 2 == 0 else (k2, "Two Net")
                    flood.append(rs.Signed(key, f"noc@{who.split()[0].lower()}.example", who,
                                           rs.flow_data(saddr=src, daddr="198.51.100.80", sport=1000 + i, pcount=1000,
                                                        stime=t - 60_000 + i * 1000, etime=t - 59_000 + i * 1000,
                                                        exporter=f"192.0.2.{i % 2 + 1}", input_if=10 + i % 2)))
                elsewhere = rs.Signed(k1, "noc@one.example", "One Net", rs.flow_data(daddr="192.0.2.99", pcount=99999))
                for r in flood + [elsewhere]:
                    self.assertEqual(rx.post(r.full)[0], 200)
                s = rx.get("/api/summary")
                self.assertEqual(s["my_prefixes"], ["198.51.100.0/24"])
                self.assertEqual(s["totals"]["reports"], 6)
                self.assertEqual(s["totals"]["packets"], 6000)
                self.assertEqual({r["contact"]["identity"]: r["reports"] for r in s["reporters"]}, {"One Net": 3, "Two Net": 3})
                self.assertEqual(sum(p["packets"] for p in s["series"]), 6000)
                top = s["top_sources"]
                self.assertEqual([x["saddr"] for x in top], ["203.0.113.66", "203.0.113.77"])
                self.assertEqual(top[0]["packets"], 4000)
                path = {(n["contact"]["identity"], n["exporter"], n["input"]) for n in top[0]["seen_by"]}
                self.assertEqual(path, {("One Net", "192.0.2.1", 10), ("Two Net", "192.0.2.2", 11)})
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

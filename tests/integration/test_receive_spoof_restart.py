"""Spoofing answers survive restarts (issue 12 finding 2): my own exports' window is persisted in the
store and restored at start, so the flows my exporter saw before a restart are still seen after it
(before, every restart turned them into suspects). Own exports are NetFlow v5 datagrams built by
hand; reports are signed with PyNaCl.

Packets go only to loopback addresses (127.0.0.0/8)."""

import time
import unittest

import overflowd_testlib as lib
import receive_support as rs

MINE = "192.0.2.0/24"
SYS_UPTIME = 3_600_000
FLOWS = 40


class SpoofRestart(unittest.TestCase):
    def test_seen_flows_stay_seen_after_two_restarts(self):
        lib.require_binary()
        unix_secs = int(time.time()) - 60
        own = [dict(saddr=f"192.0.2.{10 + i % 200}", daddr="198.51.100.1", sport=2000 + i, dport=80, protocol=6,
                    pcount=5, bcount=500, first=SYS_UPTIME - 1000, last=SYS_UPTIME - 10) for i in range(FLOWS)]
        datagrams = [lib.build_v5_datagram(own[i:i + 20], sys_uptime=SYS_UPTIME, unix_secs=unix_secs)
                     for i in range(0, FLOWS, 20)]
        stime, etime = unix_secs * 1000 - 1000, unix_secs * 1000 - 10
        key = rs.signing_key(41)

        def report(saddr, sport, restart):
            # Each restart posts its own reports (the identity keeps them distinct).
            return rs.Signed(key, "noc@transit.example", f"Transit Net {restart}",
                             rs.flow_data(saddr=saddr, daddr="198.51.100.1", sport=sport, dport=80, protocol=6,
                                          stime=stime, etime=etime, exporter="203.0.113.1"))

        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--my-prefix", MINE, "--own-exports-port", "0")
            try:
                rx.send_own_exports(datagrams)
                deadline = time.monotonic() + 30
                while rx.get("/api/stats")["runtime"]["own_exports"]["flows_mine"] < FLOWS:
                    self.assertLess(time.monotonic(), deadline, "my own exports did not arrive")
                    time.sleep(0.05)
            finally:
                code, _ = rx.stop()
            self.assertEqual(code, 0)
            for restart in (1, 2):
                # My exporter says nothing more: what it said before the restart must still count.
                rx = rs.Receiver(d, "--my-prefix", MINE, "--own-exports-port", "0")
                try:
                    batch = [report(f["saddr"], f["sport"], restart) for f in own]
                    spoofed = report("192.0.2.250", 9000 + restart, restart)
                    status, body = rx.post("\n".join(r.full for r in batch + [spoofed]))
                    self.assertEqual(status, 200, body)
                    spoof = rx.get("/api/spoofing")
                    self.assertEqual(spoof["counts"], {"seen": FLOWS * restart, "suspect": restart, "unknown": 0},
                                     f"after restart {restart}")
                    self.assertEqual({s["flow"]["saddr"] for s in spoof["suspects"]}, {"192.0.2.250"})
                    self.assertEqual(rx.counters().get("spoof.suspect"), restart)
                    stored = {r["spoof"] for r in rx.reports(limit=1000) if r["flow"]["saddr"] != "192.0.2.250"}
                    self.assertEqual(stored, {"seen"}, "stored verdicts: no false suspect")
                finally:
                    code, _ = rx.stop()
                self.assertEqual(code, 0)


if __name__ == "__main__":
    lib.main()

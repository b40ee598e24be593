"""/api/paths (issue 19): three senders (three keys, three contacts) run on the same loopback
capture with path-coherent sampling at share 1 (`-r 1 --coherent-share 1`: every flow is the
coherent draw's pick), and send their reports over UDP to one `overflowd receive` on 127.0.0.1.
The receiver stores metadata.coherent and /api/paths lines each flow's three reports up into one
path of three hops (each with its key, contact and exporter). The reference is the stored reports
themselves (/api/reports), grouped here by 5-tuple and 60-second start-time bucket.

Small on purpose (30 flows x 3 senders, a few seconds): it runs in every build, sanitizers
included, since it drives the receiver's new query and the scanner's boolean member.
Flows are between 127.x addresses only; reports go to 127.0.0.1."""

import collections
import unittest

import receive_support as rs
from delivery_testlib import SRC, loopback_capture, new_key, run_sender
from overflowd_testlib import main, parse_summary, require_binary, temp_dir

RX = "127.0.0.1"
FLOWS = 30
SENDERS = 3
NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]


def flow_id(r):
    f = r["flow"]
    return (f["saddr"], f["daddr"], f["sport"], f["dport"], f["protocol"], f["stime"] // 60_000)


class Paths(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_three_senders_one_path_per_flow(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(RX,), flows=FLOWS)
            rx = rs.Receiver(d)
            try:
                emails = {}
                sent = 0
                for n in range(SENDERS):
                    sd = d / f"sender{n}"
                    sd.mkdir()
                    key, public = new_key(sd)
                    emails[public] = f"noc{n}@net{n}.example"
                    proc, _ = run_sender(cap, key, "--coherent-share", "1", "--email", emails[public],
                                         "--identity", f"Network {n}", "--deliver", "udp", "--deliver-to", "dst",
                                         "--report-port", rx.ports["udp"], *NO_BUDGETS)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    summary = parse_summary(proc.stderr)
                    self.assertEqual(summary.get("sampler.kept_coherent"), FLOWS, summary)
                    sent += summary["udp.sent"]
                self.assertEqual(sent, SENDERS * FLOWS)
                stored = rx.wait_counter("stored", sent)
                self.assertEqual(stored, sent)
                reports = rx.reports(limit=1000)
                paths = rx.get("/api/paths?limit=1000")
                status, bad = rx.request("GET", "/api/paths?min_keys=0")
            finally:
                rx.stop()

        self.assertEqual(status, 400, bad)
        self.assertEqual(len(reports), sent)
        self.assertTrue(all(r["coherent"] is True for r in reports), "metadata.coherent stored and answered")
        # The reference: the stored reports grouped by flow.
        expected = collections.defaultdict(set)
        for r in reports:
            expected[flow_id(r)].add(r["id"])
        self.assertEqual(paths["bucket_s"], 60)
        got = {}
        for p in paths["paths"]:
            ids = {h["id"] for h in p["hops"]}
            fid = flow_id(p["hops"][0])
            self.assertNotIn(fid, got, "one path per flow")
            got[fid] = ids
            keys = {h["key"] for h in p["hops"]}
            self.assertEqual(p["keys"], SENDERS)
            self.assertEqual(keys, set(emails), "one hop per sender's key")
            self.assertIn(p["order"], ("time", "nexthop"))
            for h in p["hops"]:
                self.assertEqual(flow_id(h), fid)
                self.assertEqual(h["contact"]["email"], emails[h["key"]], "each hop's contact, as signed")
                self.assertTrue(h["flow"]["exporter"], "each hop's exporter")
            stimes = [h["flow"]["stime"] for h in p["hops"]]
            if p["order"] == "time":
                self.assertEqual(stimes, sorted(stimes))
        self.assertEqual(got, dict(expected))
        # Every flow of the capture (each sender reported all of them, under its own key) is a path
        # of three hops.
        self.assertTrue(all(len(ids) % SENDERS == 0 for ids in got.values()))
        self.assertEqual(sum(len(ids) for ids in got.values()), SENDERS * FLOWS)


if __name__ == "__main__":
    main()

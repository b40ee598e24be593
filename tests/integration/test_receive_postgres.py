"""Receivers sharing PostgreSQL (issue 18, item 3): two `overflowd receive --db postgresql://...`
on one database made by the test (a cluster in a temporary folder, reached over its Unix socket,
pg_support.py), each fed different reports over UDP and HTTP and the same replay: the API of
either shows every report once (the replay a duplicate, recognized by the database's unique
constraint across receivers), and the database read with psql (not through overflowd) agrees.
Stopping PostgreSQL for a few seconds loses no report acknowledged with 2xx; while it is down a
POST is not acknowledged (503), and the receiver counts its reconnections.

Reports are signed with PyNaCl; packets go only to loopback (127.0.0.1)."""

import base64
import threading
import time
import unittest

import overflowd_testlib as lib
import pg_support
import receive_support as rs


def signatures(rx):
    return {r["signed"]["signature"] for r in rx.reports(limit=1000, raw=1)}


class SharedPostgres(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls.cluster = pg_support.Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def test_two_receivers_one_database_all_reports_once(self):
        url = self.cluster.new_database()
        with lib.temp_dir() as d1, lib.temp_dir() as d2:
            a = rs.Receiver(d1, db=url)
            b = rs.Receiver(d2, db=url)
            try:
                to_a = [rs.Signed(rs.signing_key(60), "a@example.net", "Net A", rs.flow_data(sport=i + 1)) for i in range(20)]
                to_b = [rs.Signed(rs.signing_key(61), "b@example.net", "Net B", rs.flow_data(sport=i + 1)) for i in range(20)]
                replay = rs.Signed(rs.signing_key(62), "r@example.net", "Net R", rs.flow_data(sport=7))
                # Each its own reports, half over UDP, half over HTTP; the same replay to both, both ways.
                a.send_udp([r.compact for r in to_a[:10]])
                b.send_udp([r.compact for r in to_b[:10]])
                self.assertEqual(a.post("\n".join(r.full for r in to_a[10:]))[1]["stored"], 10)
                self.assertEqual(b.post("\n".join(r.full for r in to_b[10:]))[1]["stored"], 10)
                status, body = a.post(replay.full)
                self.assertEqual((status, body["stored"]), (200, 1))
                status, body = b.post(replay.full)
                self.assertEqual(status, 200)
                self.assertEqual((body["stored"], body["duplicates"]), (0, 1), body)
                b.send_udp([replay.compact])
                a.send_udp([replay.compact])
                # UDP is asynchronous: wait until both receivers' counts are in the shared counters.
                self.assertGreaterEqual(a.wait_counter("received.udp", 22), 22)
                self.assertGreaterEqual(a.wait_counter("duplicates", 3), 3)

                expected = {base64.b64encode(base64.b64decode(r.block["signature"])).decode() for r in to_a + to_b + [replay]}
                for rx in (a, b):
                    got = rx.reports(limit=1000, raw=1)
                    self.assertEqual(len(got), 41, "each report once, on either receiver")
                    self.assertEqual({r["signed"]["signature"] for r in got}, expected)
                    for r in got:
                        rs.pynacl_check_stored(r)
                    c = rx.counters()
                    self.assertEqual((c["stored"], c["duplicates"]), (41, 3))
                    keys = {k["key"]: k for k in rx.get("/api/keys")["keys"]}
                    self.assertEqual({k: v["reports"] for k, v in keys.items()},
                                     {to_a[0].key: 20, to_b[0].key: 20, replay.key: 1})
                # The database itself, read with psql.
                rows = self.cluster.psql("SELECT count(*), count(DISTINCT digest), sum(duplicates) FROM reports",
                                         pg_support.database_of(url))
                self.assertEqual(rows, [["41", "41", "3"]])
                version = self.cluster.psql("SELECT version FROM schema_version", pg_support.database_of(url))
                self.assertEqual(len(version), 1)
            finally:
                a.stop()
                b.stop()

    def test_a_batch_larger_than_one_insert_statement(self):
        # 400 reports in one batch: stored by several multi-row INSERTs (~150 rows each), each once.
        url = self.cluster.new_database()
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--batch-ms", "3000", "--batch-size", "1000", db=url)
            try:
                reports = [rs.Signed(rs.signing_key(65 + i % 3), data=rs.flow_data(sport=i + 1)) for i in range(400)]
                rx.send_udp([r.compact for r in reports] + [reports[0].compact])
                self.assertEqual(rx.wait_counter("received.udp", 401), 401)
                self.assertEqual(rx.wait_counter("stored", 400), 400)
                c = rx.counters()
                self.assertEqual((c["stored"], c.get("duplicates", 0), c.get("postgres.reconnects", 0)), (400, 1, 0))
                self.assertEqual(rx.get("/api/stats")["rows"]["reports"], 400)
            finally:
                rx.stop()

    def test_two_receivers_start_together_and_migrate_once(self):
        url = self.cluster.new_database()
        with lib.temp_dir() as d1, lib.temp_dir() as d2:
            started = {}

            def start(name, d):
                started[name] = rs.Receiver(d, db=url, udp=False)

            threads = [threading.Thread(target=start, args=(n, d)) for n, d in (("a", d1), ("b", d2))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            try:
                self.assertEqual(set(started), {"a", "b"})
                r = rs.Signed(rs.signing_key(63), data=rs.flow_data(sport=3))
                self.assertEqual(started["a"].post(r.full)[1]["stored"], 1)
                self.assertEqual(len(started["b"].reports()), 1)
            finally:
                for rx in started.values():
                    rx.stop()

    def test_max_db_mib_is_refused_on_postgresql(self):
        # SQLite's size bound counts a file's pages: on PostgreSQL it would do nothing, so it is refused.
        url = self.cluster.new_database()
        with lib.temp_dir() as d:
            proc = lib.run(["receive", "--db", url, "--max-db-mib", "64", "--udp-port", "0", "--http-port", "0"], cwd=d)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("--max-db-mib", proc.stderr)
            self.assertIn("no effect on PostgreSQL", proc.stderr)

    def test_database_down_for_seconds_loses_no_acknowledged_report(self):
        url = self.cluster.new_database()
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, db=url, udp=False)
            acknowledged, refused = [], []
            stop = threading.Event()

            def client():
                key = rs.signing_key(64)
                i = 0
                while not stop.is_set() and i < 2000:
                    i += 1
                    r = rs.Signed(key, data=rs.flow_data(sport=i % 60000 + 1, dport=i // 60000 + 1))
                    status, body = rx.post(r.full)
                    if status == 200 and isinstance(body, dict) and body.get("stored") == 1:
                        acknowledged.append(r.block["signature"])
                    else:
                        refused.append(status)
                        time.sleep(0.05)

            t = threading.Thread(target=client)
            t.start()
            try:
                self.assertTrue(pg_support.wait_for(lambda: len(acknowledged) >= 20, timeout=30))
                self.cluster.stop("fast")
                down = len(acknowledged)
                self.assertTrue(pg_support.wait_for(lambda: len(refused) >= 1, timeout=30), "a POST refused while down")
                pg_support.wait_for(lambda: len(refused) >= 3, timeout=10)
                self.assertIn(503, refused)
                self.cluster.start()
                self.assertTrue(pg_support.wait_for(lambda: len(acknowledged) >= down + 20, timeout=60),
                                "the receiver stores again once PostgreSQL is back")
            finally:
                stop.set()
                t.join()
                if not self.cluster.running:
                    self.cluster.start()
            try:
                stored = signatures(rx) if len(acknowledged) <= 1000 else None
                c = rx.counters()
            finally:
                rx.stop()
            # Every acknowledged report is in the database (read with psql, not through overflowd).
            db = pg_support.database_of(url)
            rows = self.cluster.psql("SELECT encode(signature, 'hex'), message FROM reports", db)
            in_db = {base64.b64encode(bytes.fromhex(sig) + msg.encode()).decode() for sig, msg in rows}
            missing = [s for s in acknowledged if s not in in_db]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged reports lost of {len(acknowledged)}")
            if stored is not None:
                self.assertTrue(set(acknowledged) <= stored)
            self.assertGreaterEqual(c.get("postgres.reconnects", 0), 1, c)


if __name__ == "__main__":
    lib.main()

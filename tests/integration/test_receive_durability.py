"""A report acknowledged over HTTP (2xx) survives kill -9 of the receiver: the answer is sent only
after the report's transaction is committed. The batch settings are made as lazy as they go
(a huge batch, a minute between commits) so that only that rule can save the reports. The
database is then read with Python's sqlite3 (or psql, with OVERFLOWD_TEST_DB=postgres; independently of overflowd) and through a restarted
receiver.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import signal
import sqlite3
import threading
import unittest

import overflowd_testlib as lib
import pg_support
import receive_support as rs


class Durability(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_kill_9_after_2xx_loses_nothing(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d, "--batch-size", "100000", "--batch-ms", "60000", udp=False)
            acknowledged = []
            lock = threading.Lock()

            def client(n):
                key = rs.signing_key(40 + n)
                for i in range(40):
                    r = rs.Signed(key, f"noc{n}@example.net", f"Net {n}", rs.flow_data(sport=i + 1, dport=n + 1))
                    status, body = rx.post(r.full)
                    if status == 200 and body.get("stored") == 1:
                        with lock:
                            acknowledged.append(r.block["signature"])

            try:
                threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                # A batch of several reports in one request too.
                batch = [rs.Signed(rs.signing_key(50), data=rs.flow_data(sport=i + 1, dport=9)) for i in range(30)]
                status, body = rx.post("\n".join(b.full for b in batch))
                self.assertEqual((status, body["stored"]), (200, 30))
                acknowledged += [b.block["signature"] for b in batch]
            finally:
                rx.live.proc.send_signal(signal.SIGKILL)
                rx.live.proc.wait()
                rx.kill9()
            self.assertEqual(len(acknowledged), 4 * 40 + 30)

            # Read the database as it was left, with SQLite itself.
            import base64
            if isinstance(rx.db, str):  # OVERFLOWD_TEST_DB=postgres: read with psql
                rows = [(bytes.fromhex(sig), msg) for sig, msg in pg_support.shared().psql(
                    "SELECT encode(signature, 'hex'), message FROM reports", pg_support.database_of(rx.db))]
            else:
                con = sqlite3.connect(d / "receive.db")
                rows = con.execute("SELECT signature, message FROM reports").fetchall()
                con.close()
            stored = {base64.b64encode(bytes(sig) + msg.encode()).decode() for sig, msg in rows}
            missing = [a for a in acknowledged if a not in stored]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged reports were lost")

            # And a restarted receiver serves them all.
            rx = rs.Receiver(d, udp=False)
            try:
                self.assertEqual(len(rx.reports(limit=1000)), len(acknowledged))
                self.assertEqual(rx.get("/api/stats")["rows"]["reports"], len(acknowledged))
            finally:
                rx.stop()


if __name__ == "__main__":
    lib.main()

"""Sealing on the signing threads (issue 17): a capture file run with --encrypt require, a pinned
key and UDP delivery seals on --workers threads, and what goes out is what one thread sends. For
--workers 1, 2 and 4 (--seed, --report-time): every datagram at the endpoint is the binary sealed
datagram, PyNaCl's SealedBox opens it with the endpoint's key, the inside verifies with
nacl.signing and names the endpoint as its recipient; the opened messages come in the order of the
reports on stdout (the capture's order) and are byte for byte the same for every worker count (the
boxes differ: each has its own ephemeral key); the counters agree. Loopback only."""

import json
import unittest

import nacl.public
import nacl.signing

from delivery_testlib import DST, SRC, UdpListeners, loopback_capture, new_key
from overflowd_testlib import main, parse_summary, pynacl_verify, report_lines, require_binary, run, temp_dir

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off", "--allow-destination", "127.0.0.0/8"]


def without_recipient(message: bytes) -> bytes:
    report = json.loads(message)
    report["metadata"] = {k: v for k, v in report["metadata"].items() if k != "recipient"}
    return json.dumps(report, sort_keys=True, separators=(",", ":")).encode()


class FileWorkersSealed(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_sealed_output_opens_in_input_order_for_1_2_and_4_workers(self):
        with temp_dir() as d:
            # ~400 reports: several batches of 64 per thread.
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST,), flows=400)
            key, pub = new_key(d)
            sk = nacl.public.PrivateKey.generate()
            pins = d / "peers"
            pins.write_text(f"{DST}/32 {bytes(sk.public_key).hex()}\n")
            opened_by_workers, counters = {}, {}
            for workers in (1, 2, 4):
                udp = UdpListeners([DST], cap)
                try:
                    proc = run(["-f", cap, "-r", "1", "--seed", "7", "--report-time", "1700000000", "--key", key,
                                "--workers", str(workers), "--deliver", "udp", "--deliver-to", "dst",
                                "--report-port", udp.port, "--encrypt", "require", "--peer-keys", pins, *NO_BUDGETS],
                               timeout=120)
                    got = udp.drain(proc)
                finally:
                    udp.close()
                self.assertEqual(proc.returncode, 0, proc.stderr)
                plain = [pynacl_verify(line)[1] for line in report_lines(proc.stdout)]
                self.assertGreater(len(plain), 64 * 4, "several batches per thread")
                opened = []
                for p in got[DST]:
                    self.assertEqual(p[:5], b"OFDS\x01")
                    inner = nacl.public.SealedBox(sk).decrypt(p[13:])
                    vk, sig, message = inner[:32], inner[32:96], inner[96:]
                    self.assertEqual(vk.hex(), pub)
                    self.assertEqual(nacl.signing.VerifyKey(vk).verify(message, sig), message)
                    self.assertEqual(json.loads(message)["metadata"]["recipient"], DST)
                    opened.append(message)
                # One sealed datagram per report, in the order of the reports on stdout.
                self.assertEqual([without_recipient(m) for m in opened], plain)
                opened_by_workers[workers] = opened
                s = parse_summary(proc.stderr)
                counters[workers] = {k: s.get(k) for k in ("encrypt.sealed", "encrypt.signatures", "encrypt.no_key",
                                                          "udp.sent", "guard.admitted")}
                self.assertEqual(s["encrypt.sealed"], len(plain))
            self.assertEqual(opened_by_workers[1], opened_by_workers[2])
            self.assertEqual(opened_by_workers[1], opened_by_workers[4])
            self.assertEqual(counters[1], counters[2])
            self.assertEqual(counters[1], counters[4])


if __name__ == "__main__":
    main()

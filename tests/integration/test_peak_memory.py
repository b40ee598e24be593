"""Peak memory of the whole process under hostile input, against the documented bound (SECURITY.md:
200 MiB with the default caps). Memory only: nothing here is timed.

A capture is written here (struct, by hand after RFC 3954 / 7011 and sflow.org's sFlow v5) of
what an attacker who can reach the collector port can send, from many spoofed exporter addresses:
  - NetFlow v9 from 6,000 exporters: each first an options template and options data naming 300
    sampler ids (the cap is 256 per domain), then templates of 128 fields (the most a template may
    have) under ever new ids, past the caps of the template cache (4,096 domains, 65,536
    templates);
  - IPFIX templates with variable-length fields from 2,000 more exporters, and 2,000 template ids
    from one (past the 1,024 per domain);
  - data sets of 1-byte records filling whole 65,507-byte datagrams (65,480 records each), from an
    exporter whose template came before the flood;
  - sFlow datagrams holding 256 flow samples (the cap).
overflowd reads it (`-f`, the default rate; nothing is delivered) and its peak resident set size
(getrusage ru_maxrss of the child, via os.wait4) must stay under the bound. The summary must show
that the caps were reached, so the run did meet the flood.

Skipped (77) when the binary is built with AddressSanitizer: its shadow memory and quarantine say
nothing about overflowd's own memory.
"""

import os
import struct
import subprocess
import unittest

import overflowd_testlib as lib

BOUND_MIB = 200


def sanitized(binary):
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    return "libasan" in out or "libtsan" in out


class PcapWriter:
    """Classic pcap, Ethernet / IPv4 / UDP frames (IP checksum left 0: overflowd does not check it)."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.t = 1_700_000_000
        self.n = 0

    def add(self, src, payload, dport=2055):
        udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                         struct.pack("!I", src), bytes([127, 0, 0, 1]))
        frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp + payload
        self.n += 1
        self.f.write(struct.pack("<IIII", self.t + self.n // 1_000_000, self.n % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


def fs(set_id, body):
    pad = (-(4 + len(body))) % 4
    return struct.pack("!HH", set_id, 4 + len(body) + pad) + body + b"\0" * pad


def v9(source_id, *sets):
    return struct.pack("!HHIIII", 9, len(sets), 100_000, 1_700_000_000, 1, source_id) + b"".join(sets)


def ipfix(domain, *sets):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, 1, domain) + body


def big_fields():
    return b"".join(struct.pack("!HH", 8 if i % 2 == 0 else 12, 4) for i in range(128))


def write_hostile_capture(path):
    w = PcapWriter(path)
    exporter = 0x0A000000  # 10.0.0.0/8: spoofed exporters
    # A working exporter first: template 260, 1-byte records (protocolIdentifier alone); its data
    # comes at the end, in whole datagrams of 65,480 records, after the flood filled every cap.
    w.add(0xC0000202, v9(5, fs(0, struct.pack("!HHHH", 260, 1, 4, 1))))
    # Options template 257 (scope System; FLOW_SAMPLER_ID, SAMPLING_INTERVAL) and 300 sampler ids.
    opt_t = fs(1, struct.pack("!HHH", 257, 4, 8) + struct.pack("!HHHHHH", 1, 4, 48, 2, 34, 4))
    opt_d = fs(257, b"".join(struct.pack("!IHI", 0, k, 100 + k) for k in range(300)))
    for e in range(6000):
        w.add(exporter + e, v9(1, opt_t, opt_d))
    # Template flood: 9 rounds over the 6000 exporters, two new 128-field templates per datagram
    # (18 per exporter: the 4,096 domains fill the 65,536 templates after 16).
    big = big_fields()
    for r in range(9):
        for e in range(6000):
            t = struct.pack("!HH", 300 + 2 * r, 128) + big + struct.pack("!HH", 301 + 2 * r, 128) + big
            w.add(exporter + e, v9(1, fs(0, t)))
    # IPFIX: templates of 64 variable-length and 64 fixed fields from 2000 more exporters, and one
    # exporter with 2,000 template ids.
    var = b"".join(struct.pack("!HH", 82, 65535) for _ in range(64)) + big[:64 * 4]
    for e in range(2000):
        w.add(exporter + 100_000 + e, ipfix(9, fs(2, struct.pack("!HH", 256, 128) + var)))
    for e in range(100):
        body = b"".join(struct.pack("!HHHH", 256 + 20 * e + j, 1, 8, 4) for j in range(20))
        w.add(0xC0000201, ipfix(3, fs(2, body)))
    for _ in range(200):
        w.add(0xC0000202, v9(5, fs(260, b"\x06" * (65507 - 20 - 4 - 3))))
    # sFlow: 256 flow samples (the cap) of one sampled-IPv4 record each, per datagram.
    rec_body = struct.pack("!II4s4sIIII", 100, 6, bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]), 1000, 80, 2, 0)
    sample_body = struct.pack("!IIIIIIII", 1, 1, 1000, 0, 0, 1, 2, 1) + struct.pack("!II", 3, len(rec_body)) + rec_body
    sample = struct.pack("!II", 1, len(sample_body)) + sample_body
    datagram = struct.pack("!IIIIIII", 5, 1, 0xC0000203, 0, 1, 1000, 256) + sample * 256
    assert len(datagram) <= 65507, len(datagram)
    for _ in range(20):
        w.add(0xC0000203, datagram, dport=6343)
    w.close()
    return w.n


def peak_rss_mib(args, stderr_path):
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen([str(lib.require_binary())] + [str(a) for a in args],
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024.0, proc.returncode  # ru_maxrss is in KiB on Linux


class PeakMemory(unittest.TestCase):
    def test_hostile_capture_stays_under_the_documented_bound(self):
        binary = lib.require_binary()
        if sanitized(binary):
            self.skipTest(f"{binary} is built with a sanitizer; its peak memory is not overflowd's own")
        with lib.temp_dir() as d:
            capture = d / "hostile.pcap"
            n = write_hostile_capture(capture)
            baseline_capture = lib.make_synth(d)
            base_mib, rc = peak_rss_mib(["-f", baseline_capture, "-q"], d / "base.err")
            self.assertEqual(rc, 0)
            peak_mib, rc = peak_rss_mib(["-f", capture], d / "hostile.err")
            stderr = (d / "hostile.err").read_text()
            self.assertEqual(rc, 0, stderr[-2000:])
            summary = lib.parse_summary(stderr)
            self.assertIsNotNone(summary, stderr[-2000:])
            print(f"{n} hostile datagrams ({capture.stat().st_size / 2**20:.0f} MiB): peak RSS {peak_mib:.1f} MiB "
                  f"(synthetic capture: {base_mib:.1f} MiB); bound {BOUND_MIB} MiB")
            # The flood met every cap of the template cache and of the sFlow decoder. (IPFIX's new
            # domains meet the domain cap first, which is checked before the template cap.)
            for counter in ("netflow_v9.rejected.exporter_limit", "netflow_v9.rejected.template_limit",
                            "netflow_v9.rejected.sampler_limit", "ipfix.rejected.exporter_limit"):
                self.assertGreater(summary.get(counter, 0), 0, f"{counter} absent: {summary}")
            self.assertGreaterEqual(summary.get("netflow_v9.records", 0), 200 * 65_480)
            self.assertGreaterEqual(summary.get("sflow_v5.records", 0), 20 * 256)
            self.assertLess(peak_mib, BOUND_MIB)


if __name__ == "__main__":
    lib.main()

"""The command line: bad values are one error line and exit 2, help, warnings, the summary, and the
TOML configuration file with flags that override it."""

import json
import os
import unittest

import overflowd_testlib as lib


def error_lines(proc):
    return [l for l in lib.stderr_lines(proc) if l.startswith("overflowd: error:")]


def warning_lines(proc):
    return [l for l in lib.stderr_lines(proc) if l.startswith("overflowd: warning:")]


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.synth = lib.make_synth(cls.dir, "--background-flows", "400", "--flood-flows", "100")
        cls.synth_ref = lib.CaptureV5(cls.synth, port=lib.SYNTH_PORT)
        cls.text_file = cls.dir / "notes.txt"
        cls.text_file.write_text("this is not a capture\n" * 20)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def assert_usage_error(self, args, mentions=None):
        proc = lib.run(args)
        lines = lib.stderr_lines(proc)
        self.assertEqual(proc.returncode, 2, f"{args}: stderr {proc.stderr!r}")
        self.assertEqual(len(lines), 1, f"{args}: want exactly one line on stderr, got {lines}")
        self.assertTrue(lines[0].startswith("overflowd: error: "), lines[0])
        self.assertEqual(proc.stdout, "", f"{args}: nothing on stdout")
        if mentions is not None:
            self.assertIn(str(mentions), lines[0])
        return lines[0]


class BadUsage(Fixture):
    def test_bad_rate_values(self):
        for rate in ["abc", "2", "-1", "nan", "inf", "", "1e-5x", "0x1p-3", "1.5"]:
            with self.subTest(rate=rate):
                line = self.assert_usage_error(["-f", self.synth, "-r", rate])
                self.assertIn("rate", line)

    def test_missing_capture_file(self):
        path = self.dir / "no-such.pcap"
        line = self.assert_usage_error(["-f", path], mentions=path)
        self.assertEqual(line.count(str(path)), 1, f"the path is named once: {line}")

    def test_capture_path_is_a_directory(self):
        self.assert_usage_error(["-f", self.dir], mentions=self.dir)

    def test_unreadable_capture_file(self):
        # chmod 000 does not stop root, so a file that cannot be read as a capture stands in for it.
        path = self.dir / "empty.pcap"
        path.write_bytes(b"")
        self.assert_usage_error(["-f", path], mentions=path)

    def test_text_file_is_not_a_capture(self):
        self.assert_usage_error(["-f", self.text_file], mentions=self.text_file)

    def test_output_file_cannot_be_opened(self):
        path = self.dir / "no-such-dir" / "out.jsonl"
        self.assert_usage_error(["-f", self.synth, "--output", path], mentions=path)

    def test_unknown_flag(self):
        self.assert_usage_error(["-f", self.synth, "--no-such-flag"], mentions="--no-such-flag")

    def test_file_and_udp_port_together(self):
        self.assert_usage_error(["-f", self.synth, "-u", "9999"])

    def test_bad_port_seed_and_bind(self):
        for args in (["-u", "70000"], ["-u", "port"], ["-f", self.synth, "--seed", "x"],
                     ["-f", self.synth, "--seed", "-1"], ["-u", "0", "--bind", "not-an-address"]):
            with self.subTest(args=args):
                self.assert_usage_error(args)

    def test_subcommand_without_its_argument(self):
        for sub in ("keygen", "pubkey", "synth"):
            with self.subTest(sub=sub):
                self.assert_usage_error([sub])


class Help(Fixture):
    def test_help_exits_zero_and_says_seed_is_for_tests(self):
        for flag in ("-h", "--help"):
            proc = lib.run([flag])
            self.assertEqual(proc.returncode, 0)
            seed = [l for l in proc.stdout.splitlines() if "--seed" in l]
            self.assertEqual(len(seed), 1, proc.stdout)
            self.assertIn("test", seed[0].lower())
            for word in ("keygen", "pubkey", "verify", "synth", "--rate", "--file", "--udp-port", "--config"):
                self.assertIn(word, proc.stdout)


class Runs(Fixture):
    def test_truncated_real_capture_gives_one_warning_and_exit_zero(self):
        capture = lib.require_netflow_4m()
        key = self.dir / "trunc.key"
        proc = lib.run(["-f", capture, "-q", "--key", key, "--seed", "1"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        warnings = warning_lines(proc)
        self.assertEqual(len(warnings), 1, lib.stderr_lines(proc))
        self.assertIn("truncat", warnings[0].lower())
        self.assertEqual(lib.stderr_lines(proc), warnings, "with -q and --key, the warning is all there is")

    def test_quiet_removes_the_summary_only(self):
        loud = lib.run(["-f", self.synth, "-r", "1", "--seed", "5"])
        quiet = lib.run(["-f", self.synth, "-r", "1", "--seed", "5", "-q"])
        self.assertEqual((loud.returncode, quiet.returncode), (0, 0))
        self.assertIsNotNone(lib.parse_summary(loud.stderr), loud.stderr)
        self.assertIsNone(lib.parse_summary(quiet.stderr), quiet.stderr)
        self.assertNotIn("summary", quiet.stderr)
        strip = lambda text: [json.loads(l)["flowdata"] for l in lib.report_lines(text)]
        self.assertEqual(strip(loud.stdout), strip(quiet.stdout))
        self.assertEqual(len(lib.report_lines(quiet.stdout)), len(self.synth_ref.reportable()))

    def test_summary_counters_of_the_real_capture(self):
        capture = lib.require_netflow_4m()
        ref = lib.CaptureV5(capture, port=lib.NETFLOW_4M_PORT)
        proc = lib.run(["-f", capture, "-r", "1"], timeout=300)
        self.assertEqual(proc.returncode, 0)
        s = lib.parse_summary(proc.stderr)
        self.assertIsNotNone(s, proc.stderr)
        self.assertEqual(s["source.packets"], lib.NETFLOW_4M_COMPLETE_PACKETS)
        self.assertEqual(s["source.packets"], ref.complete_packets)
        self.assertEqual(s["source.datagrams"], ref.datagrams)
        self.assertEqual(s["netflow_v5.datagrams"], ref.datagrams)
        self.assertEqual(s["netflow_v5.records"], lib.NETFLOW_4M_RECORDS)
        self.assertEqual(s["sampler.considered"], len(ref.records))
        self.assertEqual(s["sampler.skipped.report_port"], len(ref.records) - len(ref.reportable()))
        self.assertEqual(s["sampler.kept"], len(ref.reportable()))
        self.assertEqual(s["reports"], len(lib.report_lines(proc.stdout)))

    def test_summary_counters_of_a_synth_capture_at_rate_zero(self):
        proc = lib.run(["-f", self.synth, "-r", "0"])
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, "")
        s = lib.parse_summary(proc.stderr)
        self.assertEqual(s["source.packets"], self.synth_ref.complete_packets)
        self.assertEqual(s["netflow_v5.datagrams"], self.synth_ref.datagrams)
        self.assertEqual(s["netflow_v5.records"], len(self.synth_ref.records))
        self.assertEqual((s["sampler.kept"], s["reports"]), (0, 0))

    def test_output_file_is_appended_to(self):
        out = self.dir / "appended.jsonl"
        out.write_text("")
        for _ in range(2):
            proc = lib.run(["-f", self.synth, "-r", "1", "-q", "--output", out])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout, "")
        self.assertEqual(len(lib.report_lines(out.read_text())), 2 * len(self.synth_ref.reportable()))


class Captures(Fixture):
    """Capture formats and hostile captures, all written here with dpkt."""

    def flow_data(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return sorted(lib.canonical(json.loads(l)["flowdata"]["data"]) for l in lib.report_lines(proc.stdout))

    def test_pcapng_gives_the_same_reports_as_pcap(self):
        import dpkt

        path = self.dir / "synth.pcapng"
        with open(self.synth, "rb") as src, open(path, "wb") as dst:
            w = dpkt.pcapng.Writer(dst, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
            for ts, frame in dpkt.pcap.Reader(src):
                w.writepkt(frame, ts=ts)
        pcap = self.flow_data(lib.run(["-f", self.synth, "-r", "1", "-q"]))
        pcapng = self.flow_data(lib.run(["-f", path, "-r", "1", "-q"]))
        self.assertEqual(len(pcap), len(self.synth_ref.reportable()))
        self.assertEqual(pcapng, pcap)

    def test_unsupported_link_type_is_a_usage_error(self):
        import dpkt

        path = self.dir / "usb.pcap"
        with open(path, "wb") as f:
            w = dpkt.pcap.Writer(f, snaplen=65535, linktype=189)  # LINKTYPE_USB_LINUX
            w.writepkt(b"\x00" * 64, ts=1.0)
        self.assert_usage_error(["-f", path], mentions=path)

    def test_hostile_frames_are_counted_not_fatal(self):
        import random
        import socket

        import dpkt

        rng = random.Random(20240601)
        path = self.dir / "hostile.pcap"
        frames = []
        for i in range(3000):
            kind = i % 4
            if kind == 0:  # any bytes at all
                frames.append(rng.randbytes(rng.randrange(0, 200)))
                continue
            if kind == 1:  # v5-looking payloads with any count and length
                payload = struct_v5(rng)
            elif kind == 2:  # random payloads
                payload = rng.randbytes(rng.randrange(0, 300))
            else:  # valid v5 inside broken IP/UDP lengths and fragments
                payload = lib.build_v5_datagram([dict(saddr="198.51.100.1", daddr="203.0.113.1")])
            udp = dpkt.udp.UDP(sport=2055, dport=2055, data=payload)
            udp.ulen = 8 + len(payload) if kind != 3 else rng.choice([0, 7, 8 + len(payload) + 9, 65535])
            ip = dpkt.ip.IP(src=socket.inet_aton("192.0.2.1"), dst=socket.inet_aton("192.0.2.2"),
                            p=dpkt.ip.IP_PROTO_UDP, data=udp, ttl=64)
            ip.len = 20 + len(bytes(udp))
            if kind == 3:
                setattr(ip, *rng.choice([("df", 1), ("mf", 1), ("offset", 1), ("offset", 185)]))
                ip.len = rng.choice([ip.len, ip.len - 3, 20, 19, 65535])
            frames.append(bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip)))
        with open(path, "wb") as f:
            w = dpkt.pcap.Writer(f, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
            for i, frame in enumerate(frames):
                w.writepkt(frame, ts=1_700_000_000 + i / 1000)
        proc = lib.run(["-f", path, "-r", "1", "--key", self.dir / "hostile.key"], timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        s = lib.parse_summary(proc.stderr)
        self.assertEqual(s["source.packets"], len(frames))
        refused = sum(v for k, v in s.items() if ".skipped." in k or ".rejected." in k)
        self.assertEqual(s["source.datagrams"] + sum(v for k, v in s.items() if k.startswith("source.skipped.")),
                         len(frames))
        self.assertGreater(refused, 0)
        for line in lib.report_lines(proc.stdout):
            lib.pynacl_verify(line)


def struct_v5(rng):
    import struct

    count = rng.choice([0, 1, 2, 29, 30, 31, 255, 65535])
    records = rng.choice([0, 1, count, count + 1, max(count - 1, 0)])
    records = min(records, 40)
    return struct.pack("!HH", 5, count) + rng.randbytes(20 + 48 * records + rng.choice([0, 0, 1, 47]))


class ConfigFile(Fixture):
    def write_config(self, name, text):
        path = self.dir / name
        path.write_text(text)
        return path

    def test_config_sets_everything_and_flags_override_it(self):
        key = self.dir / "config.key"
        out = self.dir / "config-out.jsonl"
        cfg = self.write_config("ok.toml", f"""
[source]
file = "{self.synth}"
[sampler]
rate = 1.0
[report]
key = "{key}"
[contact]
email = "noc@example.net"
identity = "Example Net"
[output]
file = "{out}"
""")
        proc = lib.run(["--config", cfg, "-q"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertTrue(key.is_file(), "the key named in the config was created")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        lines = lib.report_lines(out.read_text())
        self.assertEqual(len(lines), len(self.synth_ref.reportable()))
        report, _, signer = lib.pynacl_verify(lines[0])
        self.assertEqual(report["contact"], {"email": "noc@example.net", "identity": "Example Net"})
        self.assertEqual(signer, lib.run(["pubkey", key]).stdout.strip())

        # Flags win: the rate, the contact and the output.
        proc = lib.run(["--config", cfg, "-q", "-r", "0"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(lib.report_lines(out.read_text())), len(lines), "-r 0 overrides rate = 1.0")
        proc = lib.run(["--config", cfg, "-q", "--email", "abuse@example.org", "--output", "/dev/stdout"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        reports = [lib.pynacl_verify(l)[0] for l in lib.report_lines(proc.stdout)]
        self.assertEqual(len(reports), len(self.synth_ref.reportable()))
        self.assertEqual(reports[0]["contact"], {"email": "abuse@example.org", "identity": "Example Net"})

    def test_file_flag_overrides_the_configured_file(self):
        cfg = self.write_config("file.toml", '[source]\nfile = "/nonexistent/x.pcap"\n[sampler]\nrate = 1\n')
        proc = lib.run(["--config", cfg, "-q", "-f", self.synth])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(lib.report_lines(proc.stdout)), len(self.synth_ref.reportable()))

    def test_bad_config_files_are_usage_errors(self):
        cases = {
            "syntax.toml": "[source\nfile = ",
            "unknown-key.toml": '[sampler]\nrat = 0.5\n',
            "unknown-section.toml": '[sampling]\nrate = 0.5\n',
            "rate-type.toml": '[sampler]\nrate = "often"\n',
            "rate-range.toml": '[sampler]\nrate = 2.0\n',
            "port-range.toml": '[source]\nudp_port = 70000\n',
            "file-type.toml": '[source]\nfile = 3\n',
        }
        for name, text in cases.items():
            with self.subTest(config=name):
                cfg = self.write_config(name, text)
                self.assert_usage_error(["--config", cfg, "-f", self.synth] if "file" not in name else
                                        ["--config", cfg])

    def test_missing_config_file(self):
        path = self.dir / "absent.toml"
        self.assert_usage_error(["--config", path], mentions=path)


if __name__ == "__main__":
    lib.main()

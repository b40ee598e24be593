"""Delivery over UDP to the flows' endpoints, on loopback only: every datagram verifies with PyNaCl
in the compact wire form and names the flow of its address; the special-purpose filter, the
allow/deny/opt-out lists and the budgets hold end to end.

Every capture here has flows between 127.x addresses only (synth --loopback --src-host/--dst-host),
so no run can send anything off this machine, whatever the Guard decides."""

import unittest

from delivery_testlib import (DST, OTHER, SRC, UdpListeners, endpoints, loopback_capture, new_key, run_sender,
                              stdout_reports, verify_compact)
from overflowd_testlib import main, parse_summary, require_binary, run, temp_dir

NO_BUDGETS = ["--budget", "off", "--per-destination-budget", "off"]


class UdpDelivery(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_every_report_reaches_both_endpoints_and_verifies(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=60)
            key, pub = new_key(d)
            udp = UdpListeners([SRC, DST, OTHER], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.0/8", *NO_BUDGETS)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            reports = stdout_reports(proc)
            self.assertGreater(len(reports), 40)
            expected = {h: set() for h in (SRC, DST, OTHER)}
            for message, report in reports.items():
                for h in set(endpoints(report)):
                    expected[h].add(message)
            for host, payloads in got.items():
                received = set()
                for p in payloads:
                    self.assertLessEqual(len(p), 1200)
                    report, message, k = verify_compact(p)
                    self.assertEqual(k, pub)
                    self.assertIn(host, endpoints(report), f"{host} got a report on another flow")
                    self.assertIn(message, reports, "a datagram whose report is not on stdout")
                    received.add(message)
                self.assertEqual(len(received), len(payloads), f"{host} got a report twice")
                self.assertEqual(received, expected[host], host)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["udp.sent"], sum(len(v) for v in got.values()))
            self.assertEqual(summary["guard.admitted"], 2 * len(reports))

    def test_overflowd_verify_accepts_the_datagrams(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=10)
            key, _ = new_key(d)
            udp = UdpListeners([DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--deliver-to", "dst", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.3", *NO_BUDGETS)
                got = udp.drain(proc)[DST]
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(got), 10)
            text = "".join(p.decode() + "\n" for p in got)
            v = run(["verify", "-"], input=text)
            self.assertEqual(v.returncode, 0, v.stdout)
            self.assertIn("10 reports, 10 valid, 0 invalid", v.stdout)

    def test_deliver_to_picks_the_endpoint(self):
        for to, want in (("src", {SRC}), ("dst", {DST})):
            with self.subTest(to=to), temp_dir() as d:
                cap = loopback_capture(d, flows=10)
                key, _ = new_key(d)
                udp = UdpListeners([SRC, DST], cap)
                try:
                    proc, _ = run_sender(cap, key, "--deliver", "udp", "--deliver-to", to, "--report-port", udp.port,
                                         "--allow-destination", "127.0.0.0/8", *NO_BUDGETS)
                    got = udp.drain(proc)
                finally:
                    udp.close()
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual({h for h, v in got.items() if v}, want)
                self.assertEqual(sum(len(v) for v in got.values()), 10)


class Guarded(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_loopback_flows_produce_no_datagram_without_the_allow_list(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=30)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port, *NO_BUDGETS)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(got, {SRC: [], DST: []})
            lines = len(stdout_reports(proc))
            self.assertEqual(lines, 30)  # the record is kept on stdout all the same
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["guard.suppressed.special_purpose"], 2 * lines)
            self.assertEqual(summary["guard.admitted"], 0)
            self.assertEqual(summary["udp.sent"], 0)

    def test_allow_deny_and_opt_out_lists(self):
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=30)
            key, _ = new_key(d)
            opt_out = d / "opt-out.txt"
            opt_out.write_text("# networks that asked for no reports\n127.0.0.4/32\n")
            udp = UdpListeners([SRC, DST, OTHER], cap)
            try:
                # Allowed: all of 127/8; denied: 127.0.0.2; opted out: 127.0.0.4. Only 127.0.0.3 remains.
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.0/8", "--deny-destination", "127.0.0.2/32",
                                     "--opt-out-file", opt_out, *NO_BUDGETS)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            reports = stdout_reports(proc)
            to_dst = [m for m, r in reports.items() if endpoints(r)[1] == DST]
            self.assertEqual(got[SRC], [])
            self.assertEqual(got[OTHER], [])
            self.assertEqual(sorted(verify_compact(p)[1] for p in got[DST]), sorted(to_dst))
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["guard.suppressed.denied"], len(reports))
            self.assertEqual(summary["guard.suppressed.opted_out"], len(reports) - len(to_dst))

    def test_an_allow_list_opens_only_what_it_names(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=20)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.3/32", *NO_BUDGETS)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(got[SRC], [])
            self.assertEqual(len(got[DST]), 20)
            self.assertEqual(parse_summary(proc.stderr)["guard.suppressed.special_purpose"], 20)

    def test_the_global_budget_caps_a_flood(self):
        rate, burst = 20, 5
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=2000)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST, OTHER], cap)
            try:
                proc, elapsed = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                           "--allow-destination", "127.0.0.0/8", "--budget", rate, "--budget-burst", burst,
                                           "--per-destination-budget", "off")
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            received = sum(len(v) for v in got.values())
            # The process ran `elapsed` seconds in all, so the bucket gave at most burst + rate x elapsed.
            self.assertLessEqual(received, burst + rate * elapsed)
            self.assertGreaterEqual(received, burst)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["reports"], 2000)
            self.assertEqual(summary["guard.admitted"], received)
            self.assertEqual(summary["guard.suppressed.global_budget"], 4000 - received)

    def test_the_per_destination_budget_caps_each_address(self):
        rate, burst = 2, 3
        with temp_dir() as d:
            cap = loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=1000)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST, OTHER], cap)
            try:
                proc, elapsed = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                           "--allow-destination", "127.0.0.0/8", "--budget", "off",
                                           "--per-destination-budget", rate, "--per-destination-burst", burst)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            for host, payloads in got.items():
                self.assertLessEqual(len(payloads), burst + rate * elapsed, host)
                self.assertGreaterEqual(len(payloads), burst, host)
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["guard.suppressed.per_destination_budget"],
                             2000 - sum(len(v) for v in got.values()))

    def test_the_default_budgets_hold_without_any_budget_flag(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=500)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST], cap)
            try:
                proc, elapsed = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                           "--allow-destination", "127.0.0.0/8")
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # Defaults: 1 report/s per address with a burst of 3 (and 100/s in all, burst 100).
            for host, payloads in got.items():
                self.assertLessEqual(len(payloads), 3 + 1 * elapsed, host)
                self.assertGreaterEqual(len(payloads), 3, host)

    def test_a_report_too_large_for_one_datagram_is_counted_not_sent(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=5)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.0/8", *NO_BUDGETS,
                                     "--identity", "x" * 256, "--email", "n" * 240 + "@example.net")
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(got, {SRC: [], DST: []})
            summary = parse_summary(proc.stderr)
            self.assertEqual(summary["udp.too_large"], 10)
            self.assertEqual(summary["udp.sent"], 0)
            self.assertEqual(len(stdout_reports(proc)), 5)


class Options(unittest.TestCase):
    def setUp(self):
        require_binary()

    def test_bad_delivery_options_are_one_error_line_and_exit_2(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=2)
            for args, needle in ((["--deliver", "smtp"], "--deliver"), (["--deliver-to", "all"], "--deliver-to"),
                                 (["--budget", "0"], "--budget"), (["--budget", "-3"], "--budget"),
                                 (["--per-destination-budget", "fast"], "--per-destination-budget"),
                                 (["--allow-destination", "127.0.0.1/8"], "--allow-destination"),
                                 (["--deny-destination", "nowhere"], "--deny-destination"),
                                 (["--report-port", "0"], "--report-port"), (["--http-path", "no-slash"], "--http-path"),
                                 (["--opt-out-file", d / "absent.txt"], "--opt-out-file"),
                                 (["--source-address", "127.0.0.2", "--source-address", "127.0.0.5"], "--source-address")):
                with self.subTest(args=args):
                    proc = run(["-f", cap, *[str(a) for a in args]])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = [l for l in proc.stderr.splitlines() if l.strip()]
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(needle, lines[0])
                    self.assertEqual(proc.stdout, "")

    def test_a_bad_opt_out_line_is_named(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=2)
            f = d / "opt.txt"
            f.write_text("192.0.2.0/24\nnot-a-prefix\n")
            proc = run(["-f", cap, "--deliver", "udp", "--opt-out-file", f])
            self.assertEqual(proc.returncode, 2)
            self.assertIn("opt.txt:2:", proc.stderr)

    def test_the_config_file_delivery_section(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=10)
            key, _ = new_key(d)
            udp = UdpListeners([SRC, DST], cap)
            try:
                conf = d / "o.toml"
                conf.write_text(f'[delivery]\ndeliver = ["udp"]\nto = "dst"\nreport_port = {udp.port}\n'
                                f'allow = ["127.0.0.0/8"]\nbudget = "off"\nper_destination_budget = "off"\n')
                proc, _ = run_sender(cap, key, "--config", conf)
                got = udp.drain(proc)
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual((len(got[SRC]), len(got[DST])), (0, 10))
            bad = d / "bad.toml"
            bad.write_text("[delivery]\nbudjet = 5\n")
            proc = run(["-f", cap, "--config", bad])
            self.assertEqual(proc.returncode, 2)
            self.assertIn("budjet", proc.stderr)

    def test_the_source_address_is_where_datagrams_come_from(self):
        with temp_dir() as d:
            cap = loopback_capture(d, flows=5)
            key, _ = new_key(d)
            udp = UdpListeners([DST], cap)
            try:
                proc, _ = run_sender(cap, key, "--deliver", "udp", "--deliver-to", "dst", "--report-port", udp.port,
                                     "--allow-destination", "127.0.0.0/8", "--source-address", "127.0.0.9", *NO_BUDGETS)
                senders = [addr[0] for _data, addr in udp.drain_from(proc)[DST]]
            finally:
                udp.close()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(senders, ["127.0.0.9"] * 5)


if __name__ == "__main__":
    main()

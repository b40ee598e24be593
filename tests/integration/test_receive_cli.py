"""The `receive` command line and its [receive] TOML section: --help documents every flag, the
file holds the same settings (flags override it), unknown keys and bad values are one error line
and exit code 2, and SIGTERM ends the receiver with its summary.

Packets go only to loopback addresses (127.0.0.0/8 and ::1)."""

import re
import unittest

import overflowd_testlib as lib
import receive_support as rs

FLAGS = ["--db", "--udp-port", "--bind", "--http-port", "--http-bind", "--https-port", "--tls-cert", "--tls-key",
         "--capture-file", "--capture-interface", "--capture-filter", "--key", "--encryption-key", "--rotation", "--email", "--identity", "--my-prefix",
         "--api-allow", "--own-exports-port", "--own-exports-bind", "--own-exports-file", "--own-window",
         "--own-window-max-flows", "--spoof-tolerance", "--batch-size", "--batch-ms", "--queue", "--queue-mib", "--verify-threads", "--retention-days",
         "--max-reports", "--max-invalid", "--invalid-rate", "--max-db-mib", "--max-alerts", "--alert-webhook", "--alert-webhook-timeout",
         "--alert-syslog", "--alert-rate", "--max-keys", "--skew-future", "--skew-past",
         "--http-threads", "--max-connections", "--max-connections-per-client", "--http-timeout", "--http-request-deadline",
         "--http-keepalive", "--http-keepalive-requests", "--http-max-request-line", "--http-max-header-bytes",
         "--http-max-headers", "--max-body-bytes", "--api-time-limit", "--http-host", "--metrics", "--user", "--quiet", "--config"]


class ReceiveCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_help_documents_every_flag_and_its_config_key(self):
        proc = lib.run(["receive", "--help"])
        self.assertEqual(proc.returncode, 0)
        for flag in FLAGS:
            self.assertRegex(proc.stdout, re.escape(flag) + r"\b", flag)
        keys = [k for k in re.findall(r"\[([a-z_]+)\]", proc.stdout) if k != "receive"]
        self.assertEqual(len(keys), len(FLAGS) - 1, "every setting names its [receive] key")
        self.assertIn("durab", proc.stdout.lower())
        self.assertIn("receive", lib.run(["--help"]).stdout)

    def test_bad_values_are_one_line_and_exit_2(self):
        with lib.temp_dir() as d:
            for args, what in [(["--udp-port", "70000"], "--udp-port"), (["--my-prefix", "192.0.2.1/24"], "--my-prefix"),
                               (["--batch-size", "0"], "--batch-size"), (["--tls-cert", "x.pem"], "--tls-key"),
                               (["--bind", "not-an-address"], "--bind"), (["--retention-days", "-1"], "--retention-days"),
                               (["--udp-port", "off", "--http-port", "off"], "no input"),
                               (["--capture-file", d / "missing.pcap", "--udp-port", "off", "--http-port", "off"], "missing.pcap")]:
                proc = lib.run(["receive", "--db", d / "r.db", *args])
                self.assertEqual(proc.returncode, 2, (args, proc.stderr))
                lines = lib.stderr_lines(proc)
                self.assertEqual(len(lines), 1, lines)
                self.assertIn(what, lines[0])

    def test_a_database_from_a_newer_overflowd_is_refused(self):
        import sqlite3
        with lib.temp_dir() as d:
            con = sqlite3.connect(d / "r.db")
            con.execute("PRAGMA user_version = 999")
            con.close()
            proc = lib.run(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0"])
            self.assertEqual(proc.returncode, 2)
            self.assertIn("newer", proc.stderr)

    def test_toml_section_holds_the_same_settings_and_flags_win(self):
        with lib.temp_dir() as d:
            cfg = d / "receive.toml"
            cfg.write_text(f"""
[source]
udp_port = 2055      # the sender's own section is left to the sender

[receive]
db = "{d / 'from-file.db'}"
bind = "127.0.0.1"
http_bind = "127.0.0.1"
udp_port = 0
http_port = 0
my_prefixes = ["198.51.100.0/24"]
identity = "From The File"
email = "file@example.net"
batch_ms = 20
retention_days = 7.5
quiet = false
""")
            rx = rs.Receiver(d, "--config", cfg, "--email", "flag@example.net", db=d / "ignored.db")
            try:
                disc = rx.get("/.well-known/overflowd")
                self.assertEqual(disc["contact"], {"email": "flag@example.net", "identity": "From The File"})
                self.assertEqual(rx.get("/api/summary")["my_prefixes"], ["198.51.100.0/24"])
            finally:
                rx.stop()
            # --db on the command line (from the helper) wins over the file's db.
            self.assertTrue((d / "ignored.db").is_file())
            self.assertFalse((d / "from-file.db").exists())

    def test_toml_mistakes_are_refused(self):
        with lib.temp_dir() as d:
            for text, what in [("[receive]\nudp_prot = 1\n", "unknown key receive.udp_prot"),
                               ("[receive]\nudp_port = \"many\"\n", "udp_port"),
                               ("[receive]\nmy_prefixes = \"192.0.2.0/24\"\n", "array"),
                               ("[recieve]\n", "unknown section"),
                               ("[receive\n", "receive.toml")]:
                cfg = d / "receive.toml"
                cfg.write_text(text)
                proc = lib.run(["receive", "--config", cfg, "--db", d / "r.db"])
                self.assertEqual(proc.returncode, 2, text)
                self.assertIn(what, proc.stderr)

    def test_sigterm_ends_with_a_summary(self):
        with lib.temp_dir() as d:
            rx = rs.Receiver(d)
            lines = rs.sender_reports(d, d / "k", "a@b.example", "AB")
            rx.post(lines[0])
            rx.post(lines[0])
            code, stderr = rx.stop()
            self.assertEqual(code, 0)
            self.assertIn("stored 1", stderr)
            self.assertIn("duplicates 1", stderr)


if __name__ == "__main__":
    lib.main()

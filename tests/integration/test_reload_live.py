"""Live reload on SIGHUP (issue 14 item 2, ExecReload): each setting that changes while running is
changed in the --config file, SIGHUP is sent, and the new behaviour is observed.

Sender (loopback only: every flow is between 127.x addresses, synth --loopback): a denied
destination stops receiving datagrams and guard{verdict="denied"} counts it; an opt-out file takes
effect the same way; a per-destination budget switched on lets one report per address through and
counts the rest; `to` moves delivery to the other endpoint; the output file moves to a new one; the
contact changes; a key that cannot change live is named on its own line; a bad file keeps the
running configuration and the log says why.

Receiver: the contact in /.well-known/overflowd, the API allow-list (a loopback address taken off
it gets 403), the alert rate; a listener or the database path changed is named as needing a
restart; a bad file keeps the running settings.

Small on purpose (one sender, a few dozen flows per step): seconds under ASan too."""

import json
import signal
import time
import unittest
import urllib.error
import urllib.request

from delivery_testlib import DST, OTHER, SRC, UdpListeners, loopback_capture, receive_expected
import overflowd_testlib as lib


def logged_port(proc, pattern, what):
    """The port at the end of the first stderr line of `proc` (a LiveProcess) matching `pattern`:
    each server here binds port 0 and says which port it got, so no other process can take it
    between a choice and a bind."""
    import re

    line = proc.wait_stderr(lambda l: re.search(pattern, l) is not None, timeout=30)
    assert line is not None, f"no line for {what}: {proc.stderr_seen}"
    return int(re.search(pattern, line).group(1))


def scrape(port):
    """{(name, frozenset(labels)): value} of the sender's /metrics."""
    import re

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:  # ASan at load 30
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def guard(metrics, verdict):
    return metrics.get(("overflowd_guard_total", frozenset({("verdict", verdict)})), 0)


def wait_for(condition, timeout, what):
    """Polls `condition` (returns (ok, value)) until ok; a condition, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = condition()
        if ok:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def sender_config(port, report_port, out, email="first@example.org", deny=(), opt_out=None, per_destination=None,
                  to="dst", rate="1", metrics=0):
    lines = [
        "[contact]", f'email = "{email}"', "",
        "[sampler]", f"rate = {rate}", "",
        "[source]", f"udp_port = {port}", 'bind = "127.0.0.1"', "workers = 1", "",
        "[output]", f'file = "{out}"', "",
        "[metrics]", f'listen = "127.0.0.1:{metrics}"', "",
        "[delivery]", 'deliver = "udp"', f'to = "{to}"', f"report_port = {report_port}", 'allow = ["127.0.0.0/8"]',
        'budget = "off"',
        f'per_destination_budget = {per_destination}' if per_destination else 'per_destination_budget = "off"',
        "per_destination_burst = 1",
        "deny = [" + ", ".join(f'"{d}"' for d in deny) + "]",
    ]
    if opt_out:
        lines.append(f'opt_out_file = "{opt_out}"')
    return "\n".join(lines) + "\n"


class SenderReload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_each_live_setting_takes_effect(self):
        with lib.temp_dir() as d:
            caps = [loopback_capture(d, src_hosts=(SRC,), dst_hosts=(DST, OTHER), flows=20, name=f"c{i}.pcap", seed=i + 1)
                    for i in range(6)]
            udp = UdpListeners([SRC, DST, OTHER], caps[0])
            conf = d / "overflowd.toml"
            out_a, out_b = d / "a.jsonl", d / "b.jsonl"
            base = dict(port=0, report_port=udp.port, metrics=0)  # port 0: any free one, read from the log
            conf.write_text(sender_config(out=out_a, **base))
            sender = lib.LiveProcess(["--config", conf, "--key", d / "k"])
            flows_sent = 0
            try:
                port = logged_port(sender, r"listening for flow exports on UDP \[.*\]:(\d+)$", "the UDP port")
                metrics = logged_port(sender, r"metrics: http://127\.0\.0\.1:(\d+)/metrics", "the metrics port")

                def replay(cap):
                    """Sends one capture and waits until the sender has decoded all of it; returns
                    {host: datagrams received} for the reports it delivered."""
                    nonlocal flows_sent
                    proc = lib.run(["replay", "-f", cap, "--to", f"127.0.0.1:{port}"])
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    flows_sent += int(next(l.split()[1] for l in proc.stdout.splitlines() if l.strip().startswith("flows ")))
                    wait_for(lambda: (scrape(metrics).get(("overflowd_flows_total", frozenset()), 0) >= flows_sent, flows_sent),
                             30, "the sender to decode the replay")
                    # UDP delivery is a sendto on the worker's thread: done before the flows are counted.
                    return {h: len(v) for h, v in receive_expected(udp.socks, None, 0).items()}

                def reload(text, expect):
                    conf.write_text(text)
                    sender.proc.send_signal(signal.SIGHUP)
                    line = sender.wait_stderr(lambda l: "reload: done" in l or "keeping the running" in l, timeout=30)
                    self.assertIsNotNone(line, sender.stderr_seen)
                    self.assertIn(expect, line)

                got = replay(caps[0])
                self.assertGreater(got[DST], 0)
                self.assertGreater(got[OTHER], 0)
                self.assertEqual(got[SRC], 0)  # to = dst

                # deny: OTHER stops receiving, and the Guard counts why; the output file and the contact move too.
                denied_before = guard(scrape(metrics), "denied")
                reload(sender_config(out=out_b, email="second@example.org", deny=[OTHER + "/32"], **base), "reload: done")
                for key in ("[delivery] deny applied", "[output] file applied", "[contact] email applied"):
                    self.assertTrue(any(key in l for l in sender.stderr_seen), key)
                got = replay(caps[1])
                self.assertEqual(got[OTHER], 0)
                self.assertGreater(got[DST], 0)
                self.assertGreater(guard(scrape(metrics), "denied"), denied_before)
                wait_for(lambda: (out_b.exists() and out_b.read_text().count("\n") > 0, None), 10, "reports in the new file")
                contacts = {json.loads(l)["contact"]["email"] for l in out_b.read_text().splitlines()}
                self.assertEqual(contacts, {"second@example.org"})
                a_lines = out_a.read_text().count("\n")

                # opt-out file: DST opts out, OTHER is no longer denied.
                opt_out = d / "opt-out.txt"
                opt_out.write_text(f"# test\n{DST}/32\n")
                reload(sender_config(out=out_b, email="second@example.org", opt_out=opt_out, **base), "reload: done")
                got = replay(caps[2])
                self.assertEqual(got[DST], 0)
                self.assertGreater(got[OTHER], 0)
                self.assertGreater(guard(scrape(metrics), "opted_out"), 0)
                # The file is read again at each reload, even under the same name.
                opt_out.write_text(f"{OTHER}/32\n")
                reload(sender_config(out=out_b, email="second@example.org", opt_out=opt_out, **base), "reload: done")
                got = replay(caps[3])
                self.assertEqual(got[OTHER], 0)
                self.assertGreater(got[DST], 0)

                # A per-destination budget switched on: one report per address (burst 1), the rest counted.
                budget_before = guard(scrape(metrics), "per_destination_budget")
                reload(sender_config(out=out_b, email="second@example.org", per_destination="0.001", **base), "reload: done")
                got = replay(caps[4])
                self.assertEqual(got[DST], 1)
                self.assertEqual(got[OTHER], 1)
                self.assertGreater(guard(scrape(metrics), "per_destination_budget"), budget_before)

                # to = src, and a key that cannot change live is named on its own line.
                reload(sender_config(out=out_b, email="second@example.org", to="src", rate="0.5", **base), "reload: done")
                self.assertTrue(any("reload: [sampler] rate changed but cannot change while running" in l
                                    for l in sender.stderr_seen), sender.stderr_seen)
                got = replay(caps[5])
                self.assertGreater(got[SRC], 0)
                self.assertEqual(got[DST] + got[OTHER], 0)

                # A bad file: the running configuration stays, and the log says why.
                reload("[delivery]\nbudget = \"fast\"\n", "keeping the running configuration")
                self.assertEqual(out_a.read_text().count("\n"), a_lines)  # nothing went to the old file
                sender.proc.send_signal(signal.SIGTERM)
            finally:
                code, _, stderr = sender.stop()
                udp.close()
            self.assertEqual(code, 0, stderr)


def receiver_config(http, udp, db, email, allow, alert_rate=60):
    return ("[receive]\n"
            f'db = "{db}"\n'
            f"udp_port = {udp}\n"
            'bind = "127.0.0.1"\n'
            f"http_port = {http}\n"
            'http_bind = "127.0.0.1"\n'
            'https_port = "off"\n'
            f'email = "{email}"\n'
            "api_allow = [" + ", ".join(f'"{a}"' for a in allow) + "]\n"
            f"alert_rate = {alert_rate}\n")


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # ASan at load 30
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


class ReceiverReload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()

    def test_contact_allow_list_and_alerts_live_the_rest_named(self):
        with lib.temp_dir() as d:
            http = udp = 0  # any free ports, the same in every version of the file (no restart needed)
            conf = d / "receive.toml"
            db = d / "r.db"
            conf.write_text(receiver_config(http, udp, db, "first@example.org", ["127.0.0.0/8"]))
            receiver = lib.LiveProcess(["receive", "--config", conf])
            try:
                http_port = logged_port(receiver, r"listening: http \[.*\]:(\d+)$", "the HTTP port")
                base = f"http://127.0.0.1:{http_port}"
                status, body = http_status(base + "/.well-known/overflowd")
                self.assertEqual(status, 200)
                self.assertEqual(json.loads(body)["contact"]["email"], "first@example.org")
                self.assertEqual(http_status(base + "/api/stats")[0], 200)

                def reload(text, expect):
                    conf.write_text(text)
                    receiver.proc.send_signal(signal.SIGHUP)
                    line = receiver.wait_stderr(lambda l: "reload: done" in l or "keeping the running" in l, timeout=30)
                    self.assertIsNotNone(line, receiver.stderr_seen)
                    self.assertIn(expect, line)

                # Contact, allow-list (127.0.0.1 is taken off: 403 from now on) and alert rate change live.
                reload(receiver_config(http, udp, db, "second@example.org", ["127.0.0.2/32"], alert_rate=5), "reload: done")
                for key in ("email applied", "api_allow applied", "alert_rate applied"):
                    self.assertTrue(any(key in l for l in receiver.stderr_seen), (key, receiver.stderr_seen))
                self.assertEqual(json.loads(http_status(base + "/.well-known/overflowd")[1])["contact"]["email"],
                                 "second@example.org")
                self.assertEqual(http_status(base + "/api/stats")[0], 403)
                self.assertEqual(http_status(base + "/metrics")[0], 403)

                # What cannot change live is named, one line per setting; the rest still applies.
                reload(receiver_config(http, udp, d / "other.db", "third@example.org", ["127.0.0.0/8"]), "reload: done")
                self.assertTrue(any("[receive] db changed but cannot change while running" in l for l in receiver.stderr_seen),
                                receiver.stderr_seen)
                self.assertEqual(http_status(base + "/api/stats")[0], 200)
                self.assertEqual(json.loads(http_status(base + "/.well-known/overflowd")[1])["contact"]["email"],
                                 "third@example.org")

                # A bad file keeps the running settings.
                reload('[receive]\nemail = "fourth@example.org"\nbogus = 1\n', "keeping the running configuration")
                self.assertEqual(json.loads(http_status(base + "/.well-known/overflowd")[1])["contact"]["email"],
                                 "third@example.org")
                self.assertIsNone(receiver.proc.poll())
            finally:
                code, _, stderr = receiver.stop()
            self.assertEqual(code, 0, stderr)


if __name__ == "__main__":
    lib.main()

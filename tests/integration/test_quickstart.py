"""docs/QUICKSTART.md runs as written (issue 14 item 5): every ```sh block of the file, in order, in
one bash session (set -e) in an empty temporary folder, with the built `overflowd` first on the
PATH and the walkthrough's ports (16535, 8080, 8443) swapped for free ones; everything is on
loopback. Then the outcome is checked: every report verifies, the receiver stored reports that
came over UDP, HTTP and HTTPS (certificate verified against the IP SAN made by the openssl recipe)."""

import os
import re
import shutil
import socket
import subprocess
import unittest
from pathlib import Path

import overflowd_testlib as lib

QUICKSTART = lib.HERE.parent.parent / "docs" / "QUICKSTART.md"


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(text):
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)


@unittest.skipUnless(shutil.which("openssl") and shutil.which("curl"), "openssl or curl not installed")
class Quickstart(unittest.TestCase):
    def test_walkthrough(self):
        binary = lib.require_binary()
        script = "\n".join(blocks(QUICKSTART.read_text()))
        self.assertIn("overflowd receive", script)
        ports = {"16535": str(free_port(socket.SOCK_DGRAM)), "8080": str(free_port(socket.SOCK_STREAM)),
                 "8443": str(free_port(socket.SOCK_STREAM))}
        for old, new in ports.items():
            script = re.sub(rf"\b{old}\b", new, script)
        with lib.temp_dir() as d:
            bin_dir = d / "bin"
            bin_dir.mkdir()
            (bin_dir / "overflowd").symlink_to(Path(binary).resolve())
            work = d / "work"
            work.mkdir()
            env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
            # A receiver left running by a failing step is ended with the session.
            prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
            proc = subprocess.run(["bash", "-c", prologue + script], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
            self.assertRegex(proc.stdout, r"verify: [1-9]\d* reports, [1-9]\d* valid, 0 invalid")
            # The sender's summary (stderr): every transport delivered, HTTPS with the certificate checked.
            summary = lib.parse_summary(proc.stderr)
            self.assertIsNotNone(summary, proc.stderr)
            for counter in ("udp.sent", "http.delivered", "https.delivered"):
                self.assertGreater(summary.get(counter, 0), 0, f"{counter}: {summary}")
            self.assertEqual(summary.get("https.tls_failed", 0), 0, summary)
            log = (work / "receiver.log").read_text()
            stored = int(re.search(r"\n  stored (\d+)", log).group(1))
            self.assertGreater(stored, 0, log)
            self.assertRegex(proc.stdout, r'overflowd_receiver_reports_total\{result="stored"\} [1-9]')


if __name__ == "__main__":
    lib.main()

"""docs/QUICKSTART.md runs as written (issue 14 item 5): every ```sh block of the file, in order, in
one bash session (set -e) in an empty temporary folder, with the built `overflowd` first on the
PATH and the walkthrough's ports (16535, 8080, 8443) swapped for free ones (the walkthrough again
on other ones when another process took one of them before the receiver bound it); everything is
on loopback. Then the outcome is checked: every report verifies, the receiver stored reports that
came over UDP, HTTP and HTTPS (certificate verified against the IP SAN made by the openssl recipe)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
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
        with lib.temp_dir() as d:
            bin_dir = d / "bin"
            bin_dir.mkdir()
            (bin_dir / "overflowd").symlink_to(Path(binary).resolve())
            env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
            for attempt in range(5):
                work = d / f"work{attempt}"
                work.mkdir()
                proc = self.walk(script, work, env)
                if proc is not None:
                    break
            else:
                self.fail("the receiver lost a port to another process 5 times")
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

    def walk(self, script, work, env):
        """The walkthrough on ports that were free a moment ago; None when the receiver could not bind
        one of them (another process took it meanwhile), which ends the session at once instead of
        leaving it waiting for a receiver that is not there."""
        ports = {"16535": str(free_port(socket.SOCK_DGRAM)), "8080": str(free_port(socket.SOCK_STREAM)),
                 "8443": str(free_port(socket.SOCK_STREAM))}
        for old, new in ports.items():
            script = re.sub(rf"\b{old}\b", new, script)
        # A receiver left running by a failing step is ended with the session.
        prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
        log = work / "receiver.log"
        with subprocess.Popen(["bash", "-c", prologue + script], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
            lost_port = threading.Event()

            def watch():  # until the session ends, or the receiver says a port was in use
                while proc.poll() is None:
                    if log.is_file() and "Address already in use" in log.read_text(errors="replace"):
                        lost_port.set()
                        os.killpg(proc.pid, signal.SIGKILL)
                        return
                    time.sleep(0.1)  # between looks at the log only

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                stdout, stderr = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
            watcher.join()
        if lost_port.is_set():
            return None
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


if __name__ == "__main__":
    lib.main()

"""The container image overflowd:<version> (`make image`, scripts/make-image); run by
`make test-image`, not by `make test` (building the image takes about two minutes and needs
deb.debian.org).

Inspected: entrypoint /usr/bin/overflowd, user overflowd (not root), size under 200 MB. Then run:
with `podman run` where this machine can run containers (the demo prints verifying reports; a
receiver answers /.well-known/overflowd on a published loopback port); where it cannot (in the
test container crun refuses its hybrid cgroup layout), the test says why and runs the same two
checks on the image's own file system (`podman export` of a created container) under chroot as
the image's user, uid 999, on loopback."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent.parent
MAX_SIZE = 200 * 1000 * 1000
# Podman's default ulimits (nofile, nproc) cannot be set where the process may not raise them;
# an empty list keeps the caller's.
CONF = "[containers]\ndefault_ulimits = []\n"


def version():
    build = Path(os.environ.get("OVERFLOWD_BUILD", SOURCE / "build"))
    debs = sorted(build.glob("overflowd_*_amd64.deb"))
    if not debs:
        raise unittest.SkipTest(f"no package in {build}: make deb")
    return subprocess.run(["dpkg-deb", "-f", debs[-1], "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("podman"):
            raise unittest.SkipTest("podman is absent (scripts/bootstrap image)")
        cls.tmp = tempfile.TemporaryDirectory(prefix="overflowd-image-")
        cls.dir = Path(cls.tmp.name)
        (cls.dir / "containers.conf").write_text(CONF)
        cls.env = {**os.environ, "CONTAINERS_CONF": str(cls.dir / "containers.conf")}
        cls.image = f"overflowd:{version()}"
        proc = cls.podman("image", "inspect", cls.image)
        if proc.returncode != 0:
            raise unittest.SkipTest(f"no image {cls.image}: make image ({proc.stderr.strip()})")
        cls.inspect = json.loads(proc.stdout)[0]
        probe = cls.podman("run", "--rm", "--network=none", cls.image, "--version")
        cls.can_run = probe.returncode == 0
        cls.why_not = (probe.stderr or probe.stdout).strip()
        if not cls.can_run:
            print(f"podman run does not work on this machine, so the image's file system is run under "
                  f"chroot instead: {cls.why_not}", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def podman(cls, *args, timeout=120):
        return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=cls.env)

    def test_entrypoint_user_size(self):
        config = self.inspect["Config"]
        self.assertEqual(config["Entrypoint"], ["/usr/bin/overflowd"])
        self.assertEqual(config["User"], "overflowd")
        size = self.inspect["Size"]
        print(f"{self.image}: {size / 1e6:.0f} MB, entrypoint {config['Entrypoint']}, user {config['User']}",
              file=sys.stderr)
        self.assertLess(size, MAX_SIZE)

    def rootfs(self):
        """The image's file system, from a created (never started) container."""
        root = self.dir / "rootfs"
        if not root.is_dir():
            name = f"overflowd-image-test-{os.getpid()}"
            self.assertEqual(self.podman("create", "--name", name, self.image).returncode, 0)
            try:
                tar = self.dir / "rootfs.tar"
                proc = self.podman("export", "-o", str(tar), name)
                self.assertEqual(proc.returncode, 0, proc.stderr)
            finally:
                self.podman("rm", name)
            root.mkdir()
            with tarfile.open(tar) as t:
                t.extractall(root, numeric_owner=True)
        return root

    def in_image(self, *args, **kw):
        """Runs a command in the image: with podman run, else chroot as the image's user."""
        if self.can_run:
            return self.podman("run", "--rm", "--network=host", "--entrypoint", args[0], self.image, *args[1:])
        if os.geteuid() != 0:
            self.skipTest(f"podman run does not work here ({self.why_not}) and chroot needs root")
        root = self.rootfs()
        uid = next(l.split(":")[2] for l in (root / "etc/passwd").read_text().splitlines()
                   if l.startswith("overflowd:"))
        return subprocess.run(["chroot", f"--userspec={uid}:{uid}", root, *args], capture_output=True,
                              text=True, timeout=120, **kw)

    def test_user_is_not_root(self):
        proc = self.in_image("/usr/bin/id", "-u")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotEqual(proc.stdout.strip(), "0")

    def test_demo_prints_verifying_reports(self):
        proc = self.in_image("/bin/sh", "-c", "cd /tmp && overflowd synth --out demo.pcap 2>/dev/null && "
                             "overflowd -f demo.pcap --email noc@example.net --identity demo > r.jsonl && "
                             "overflowd verify r.jsonl && wc -l < r.jsonl")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertGreater(int(proc.stdout.split()[-1]), 0, proc.stdout)

    def test_receiver_answers_well_known_on_loopback(self):
        port = free_port()
        common = ["receive", "--udp-port", "off", "--db", "/tmp/receive.db", "--email", "noc@example.net"]
        if self.can_run:
            name = f"overflowd-image-receiver-{os.getpid()}"
            proc = self.podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", self.image, *common,
                               "--http-bind", "0.0.0.0", "--http-port", "8080", "--api-allow", "0.0.0.0/0")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            stop = lambda: self.podman("rm", "-f", name)
        else:
            root = self.rootfs()
            live = subprocess.Popen(["chroot", "--userspec=999:999", root, "/usr/bin/overflowd", *common,
                                     "--http-bind", "127.0.0.1", "--http-port", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stop = lambda: (live.terminate(), live.wait(10))
        try:
            status, body = get(f"http://127.0.0.1:{port}/.well-known/overflowd")
            self.assertEqual(status, 200)
            self.assertEqual(body["keys"][0]["algorithm"], "ed25519")
        finally:
            stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The Debian package (`make deb`; CMake install rules + CPack, cmake/package.cmake): packed from
this build folder into a temporary folder, lintian reports no error, and extracted with
`dpkg-deb -x` into a throwaway root it holds the binary, both systemd units, the example configs
(as conffiles) and the manual pages. From that root, `overflowd --version` and the demo (`synth`,
then `-f`) work; `man -l` renders each page; every flag in the --help of overflowd and of each
subcommand is in overflowd(8); every key of the example config is in overflowd.toml(5) and
accepted by overflowd, as are the keys of the manual's config example.

The extracted binary runs on the host's libraries (a `dpkg --root` install into an empty root
would have none of its dependencies)."""

import gzip
import os
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import overflowd_testlib as lib

SOURCE = lib.HERE.parent.parent
EXAMPLE = SOURCE / "dist" / "config" / "overflowd.toml"
MANUAL = SOURCE / "docs" / "manual.md"


def tool(name, package):
    path = shutil.which(name)
    if not path:
        raise unittest.SkipTest(f"{name} is absent (Debian package {package}; scripts/bootstrap test)")
    return path


def sh(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)


def roff_text(path):
    """A page's roff source with the escapes gen-man writes undone (\\- is -, \\e is \\)."""
    text = gzip.decompress(Path(path).read_bytes()).decode()
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def help_flags(text):
    """The flags in a CLI11 help text: the option column of each item line."""
    flags = set()
    for line in text.splitlines():
        if re.match(r"^  -", line):
            term = re.split(r"\s{2,}", line.strip())[0].split(" ")[0]
            flags.update(f for f in term.split(",") if f.startswith("-"))
    return flags


def example_keys():
    """(section, key, value) of every key in the example config, commented out or not."""
    keys, section = [], None
    for line in EXAMPLE.read_text().splitlines():
        if m := re.fullmatch(r"\[([\w.]+)\]", line.strip()):
            section = m[1]
        elif section and (m := re.fullmatch(r"#?(\w+) = (.+)", line.strip())):
            keys.append((section, m[1], m[2]))
    return keys


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = lib.require_binary()
        cls.build = lib.build_dir()
        if not (cls.build / "man" / "overflowd.8.gz").is_file():
            raise unittest.SkipTest("no manual pages in this build (made by ordinary builds only, "
                                    "not sanitizer builds): nothing to package")
        cls.cpack = tool("cpack", "cmake")
        tool("dpkg-deb", "dpkg")
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        proc = sh([cls.cpack, "-G", "DEB", "-B", cls.dir / "out", "--config", cls.build / "CPackConfig.cmake"],
                  cwd=cls.build)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        debs = list((cls.dir / "out").glob("overflowd_*_amd64.deb"))
        assert len(debs) == 1, proc.stdout
        cls.deb = debs[0]
        cls.root = cls.dir / "root"
        proc = sh(["dpkg-deb", "-x", cls.deb, cls.root])
        assert proc.returncode == 0, proc.stderr
        cls.installed = cls.root / "usr" / "bin" / "overflowd"

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def run_installed(self, *args, **kw):
        return sh([self.installed, *args], **kw)

    def test_file_name_and_version(self):
        version = self.run_installed("--version")
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertEqual(version.stdout, lib.run(["--version"]).stdout)
        number = version.stdout.split()[1]
        self.assertEqual(self.deb.name, f"overflowd_{number}_amd64.deb")
        self.assertEqual(sh(["dpkg-deb", "-f", self.deb, "Version"]).stdout.strip(), number)

    def test_contents(self):
        for path in ("usr/bin/overflowd", "lib/systemd/system/overflowd.service",
                     "lib/systemd/system/overflowd-receive.service", "etc/overflowd/overflowd.toml",
                     "etc/overflowd/receive.toml", "etc/overflowd/policy.toml", "usr/share/man/man8/overflowd.8.gz",
                     "usr/share/man/man5/overflowd.toml.5.gz", "usr/share/doc/overflowd/copyright",
                     "usr/share/doc/overflowd/changelog.gz"):
            self.assertTrue((self.root / path).is_file(), path)
        conffiles = sh(["dpkg-deb", "--ctrl-tarfile", self.deb])
        self.assertEqual(conffiles.returncode, 0)
        extracted = self.dir / "control"
        sh(["dpkg-deb", "-e", self.deb, extracted])
        self.assertEqual((extracted / "conffiles").read_text().split(),
                         ["/etc/overflowd/overflowd.toml", "/etc/overflowd/receive.toml", "/etc/overflowd/policy.toml"])
        # Every file under /etc/overflowd is a conffile: an upgrade keeps the operator's edits.
        etc = sorted("/" + str(p.relative_to(self.root)) for p in (self.root / "etc/overflowd").iterdir())
        self.assertEqual(etc, sorted((extracted / "conffiles").read_text().split()))

    def test_example_policy_is_the_embedded_one_and_loads(self):
        installed = self.root / "etc/overflowd/policy.toml"
        self.assertEqual(installed.read_text(), self.run_installed("policy", "example").stdout)
        check = self.run_installed("policy", "check", installed)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn(": ok", check.stdout)

    def test_lintian_reports_no_error(self):
        lintian = tool("lintian", "lintian")
        proc = sh([lintian, "--no-tag-display-limit", self.deb])
        errors = [line for line in proc.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], proc.stdout + proc.stderr)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)  # 1: warnings only (none are errors)

    def test_demo_runs_from_the_package(self):
        demo = self.dir / "demo.pcap"
        synth = self.run_installed("synth", "--out", demo)
        self.assertEqual(synth.returncode, 0, synth.stderr)
        run = self.run_installed("-f", demo, "--key", self.dir / "demo.key", "--email", "noc@example.net",
                                 "--identity", "Example Net (demo)")
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = lib.report_lines(run.stdout)
        self.assertGreater(len(lines), 0)
        verify = self.run_installed("verify", "-", input=run.stdout)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)

    def test_man_renders_each_page(self):
        tool("man", "man-db")
        for page in ("usr/share/man/man8/overflowd.8.gz", "usr/share/man/man5/overflowd.toml.5.gz"):
            proc = sh(["man", "--warnings", "-l", self.root / page], env={**os.environ, "MANWIDTH": "100"})
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stderr, "", page)
            self.assertIn("SEE ALSO", proc.stdout, page)

    def test_every_flag_of_every_help_is_in_the_page(self):
        page = roff_text(self.root / "usr/share/man/man8/overflowd.8.gz")
        # The option terms the page sets in bold (.TP items), split into their flags.
        documented = set()
        for term in re.findall(r"\\fB(.*?)\\fR", page):
            documented.update(f for f in re.split(r"[, ]", term) if f.startswith("-"))
        main = self.run_installed("--help").stdout
        subcommands = re.findall(r"^  ([\w-]+)\s", main.split("Subcommands:")[1], re.M)
        self.assertEqual(set(subcommands), {"keygen", "pubkey", "rotate-key", "verify", "synth", "replay", "policy", "receive", "simulate"})
        texts = {"overflowd": main} | {s: self.run_installed(s, "--help").stdout for s in subcommands}
        for name, text in texts.items():
            flags = help_flags(text)
            self.assertGreater(len(flags), 1, name)
            for flag in flags:
                self.assertIn(flag, documented, f"{name}: {flag}")
            if name != "overflowd":
                self.assertIn(f".SS overflowd {name}", page)

    def test_every_key_is_documented_and_accepted(self):
        page = roff_text(self.root / "usr/share/man/man5/overflowd.toml.5.gz")
        sections = {}
        for section, key, value in example_keys():
            sections.setdefault(section, []).append(key)
            self.assertIn(f".SH [{section}]", page)
            self.assertIn(f"\\fB{key}\\fR = ", page, f"{section}.{key}")
            # The program reads the config before it looks at --seed: a bad --seed after a good
            # config is the only complaint.
            config = self.dir / "one_key.toml"
            config.write_text(f"[{section}]\n{key} = {value}\n")
            proc = self.run_installed("--config", config, "--seed", "x")
            self.assertEqual(proc.returncode, 2)
            self.assertIn("--seed", proc.stderr, f"{section}.{key} = {value}: {proc.stderr}")
        config = self.dir / "unknown.toml"
        config.write_text("[source]\nno_such_key = 1\n")
        self.assertIn("unknown key", self.run_installed("--config", config, "--seed", "x").stderr)
        # The manual's sender config example uses documented keys only.
        block = re.search(r"```toml\n(\[source\].*?)```", MANUAL.read_text(), re.S)[1]
        section = None
        for line in block.splitlines():
            if m := re.match(r"\[(\w+)\]", line):
                section = m[1]
            elif m := re.match(r"(\w+)\s*=", line):
                self.assertIn(m[1], sections.get(section, []), f"manual.md: {section}.{m[1]}")
        # The receiver's keys are those its --help shows in brackets, and the example's are among them.
        receive_help = self.run_installed("receive", "--help").stdout
        receive_keys = set(re.findall(r"\[([a-z_]+)\]\s*$", receive_help, re.M))
        self.assertGreater(len(receive_keys), 10)
        for key in receive_keys:
            self.assertRegex(page, rf"\\fB{key}\\fR \(", key)
        # [receive] keys are the receiver's; [log] is the section both commands share (overflowd.toml(5)).
        section = None
        for line in (self.root / "etc/overflowd/receive.toml").read_text().splitlines():
            if m := re.match(r"\[(\w+)\]", line):
                section = m[1]
            elif m := re.match(r"#?(\w+) = ", line):
                self.assertIn(m[1], receive_keys if section == "receive" else sections.get(section, []), f"{section}.{m[1]}")


if __name__ == "__main__":
    lib.main()

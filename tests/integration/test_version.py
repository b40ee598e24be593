"""`overflowd --version` (and -V) prints the version the build was configured with: the CMake
project version, then `git describe` of the checkout in parentheses when git was there."""

import re
import unittest
from pathlib import Path

import overflowd_testlib as lib

VERSION = re.compile(r"^overflowd (\d+\.\d+\.\d+)( \(git [0-9A-Za-z.\-+_]+\))?\n$")


def project_version():
    text = (lib.HERE.parent.parent / "CMakeLists.txt").read_text()
    return re.search(r"project\(overflowd VERSION (\S+)", text)[1]


class Version(unittest.TestCase):
    def setUp(self):
        lib.require_binary()

    def test_version_flag_prints_the_project_version(self):
        for flag in ("--version", "-V"):
            proc = lib.run([flag])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            m = VERSION.match(proc.stdout)
            self.assertIsNotNone(m, proc.stdout)
            self.assertEqual(m[1], project_version())
            self.assertEqual(proc.stderr, "")

    def test_version_matches_the_generated_header(self):
        header = lib.build_dir() / "generated" / "app" / "version.hpp"
        if not header.is_file():
            self.skipTest(f"no {header}")
        long = re.search(r'kVersionLong = "([^"]*)"', header.read_text())[1]
        self.assertEqual(lib.run(["--version"]).stdout, f"overflowd {long}\n")


if __name__ == "__main__":
    lib.main()

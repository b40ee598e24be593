"""Key files: keygen, pubkey, --key (load or create), the ephemeral key, and the refusals
(loose permissions, corrupt contents, overwriting). PyNaCl is the reference for the key format."""

import os
import re
import stat
import unittest

import nacl.signing

import overflowd_testlib as lib

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def pynacl_public_key(seed_hex):
    return nacl.signing.SigningKey(bytes.fromhex(seed_hex)).verify_key.encode().hex()


class Keys(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        cls.synth = lib.make_synth(cls.dir, "--background-flows", "60", "--flood-flows", "20")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def path(self, name):
        p = self.dir / name
        if p.exists() or p.is_symlink():
            p.unlink()
        return p

    def assert_refused(self, args, *mentions):
        proc = lib.run(args)
        lines = lib.stderr_lines(proc)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("overflowd: error: "), lines[0])
        self.assertEqual(proc.stdout, "")
        for m in mentions:
            self.assertIn(str(m), lines[0])
        return lines[0]

    def signers(self, stdout):
        return {lib.pynacl_verify(l)[2] for l in lib.report_lines(stdout)}

    def test_keygen_writes_a_0600_key_whose_public_key_it_prints(self):
        key = self.path("k1")
        proc = lib.run(["keygen", key])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        printed = proc.stdout.strip()
        self.assertRegex(printed, HEX64)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        seed = key.read_text().strip()
        self.assertRegex(seed, HEX64)
        self.assertEqual(pynacl_public_key(seed), printed)

        pub = lib.run(["pubkey", key])
        self.assertEqual(pub.returncode, 0, pub.stderr)
        self.assertEqual(pub.stdout.strip(), printed)

    def test_keygen_makes_a_new_key_each_time(self):
        a, b = self.path("k-a"), self.path("k-b")
        self.assertNotEqual(lib.run(["keygen", a]).stdout, lib.run(["keygen", b]).stdout)

    def test_keygen_refuses_to_overwrite(self):
        key = self.path("k2")
        self.assertEqual(lib.run(["keygen", key]).returncode, 0)
        before = key.read_bytes()
        self.assert_refused(["keygen", key], key)
        self.assertEqual(key.read_bytes(), before)

    def test_a_pynacl_key_file_signs_the_reports(self):
        sk = nacl.signing.SigningKey.generate()
        key = self.path("pynacl.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, bytes(sk).hex().encode())  # no trailing newline: accepted too
        os.close(fd)
        public = sk.verify_key.encode().hex()
        self.assertEqual(lib.run(["pubkey", key]).stdout.strip(), public)
        proc = lib.run(["-f", self.synth, "-r", "1", "-q", "--key", key])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.signers(proc.stdout), {public})
        self.assertNotIn("ephemeral", proc.stderr)

    def test_group_or_world_readable_key_is_refused_with_a_chmod_hint(self):
        key = self.path("k3")
        self.assertEqual(lib.run(["keygen", key]).returncode, 0)
        for mode in (0o644, 0o640, 0o604, 0o660):
            with self.subTest(mode=oct(mode)):
                os.chmod(key, mode)
                line = self.assert_refused(["pubkey", key], key)
                self.assertIn("chmod", line)
                line = self.assert_refused(["-f", self.synth, "-r", "1", "--key", key], key)
                self.assertIn("chmod", line)
        os.chmod(key, 0o400)  # owner-only read is fine
        self.assertEqual(lib.run(["pubkey", key]).returncode, 0)

    def test_corrupt_key_files_are_refused(self):
        good = bytes(nacl.signing.SigningKey.generate()).hex()
        cases = {
            "empty": "",
            "short": good[:62],
            "odd": good[:63],
            "long": good + "00",
            "not-hex": "zz" + good[2:],
            "spaces": good[:32] + " " + good[32:],
            "binary": None,
        }
        for name, text in cases.items():
            with self.subTest(case=name):
                key = self.path(f"corrupt-{name}")
                data = os.urandom(32) if text is None else text.encode()
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(fd, data)
                os.close(fd)
                self.assert_refused(["pubkey", key], key)
                self.assert_refused(["-f", self.synth, "--key", key], key)

    def test_a_key_path_that_is_a_directory_is_refused(self):
        self.assert_refused(["pubkey", self.dir])
        self.assert_refused(["-f", self.synth, "--key", self.dir])

    def test_pubkey_of_a_missing_file_is_refused(self):
        key = self.path("absent")
        self.assert_refused(["pubkey", key], key)
        self.assertFalse(key.exists(), "pubkey creates nothing")

    def test_absent_key_is_created_0600_and_signs_the_reports(self):
        key = self.path("created.key")
        proc = lib.run(["-f", self.synth, "-r", "1", "--key", key])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        public = pynacl_public_key(key.read_text().strip())
        self.assertEqual(self.signers(proc.stdout), {public})
        self.assertIn(public, proc.stderr, "the new key's public key is named")
        # The second run loads the same key instead of making another.
        again = lib.run(["-f", self.synth, "-r", "1", "-q", "--key", key])
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(self.signers(again.stdout), {public})

    def test_without_key_a_warning_names_the_ephemeral_key_that_signs(self):
        proc = lib.run(["-f", self.synth, "-r", "1", "-q"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        warnings = [l for l in lib.stderr_lines(proc) if l.startswith("overflowd: warning:")]
        self.assertEqual(len(warnings), 1, proc.stderr)
        named = re.findall(r"\b[0-9a-f]{64}\b", warnings[0])
        self.assertEqual(len(named), 1, warnings[0])
        self.assertEqual(self.signers(proc.stdout), set(named))
        other = lib.run(["-f", self.synth, "-r", "1", "-q"])
        self.assertNotEqual(self.signers(other.stdout), set(named), "each run has its own ephemeral key")


    # Issue 13 item 6: a FIFO at --key or --config hung start-up forever; now one line, exit 2,
    # at once (the run's timeout turns a hang into a failure), for the sender and the receiver.
    def test_a_fifo_at_the_key_or_config_path_is_refused_at_once(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo, 0o600)
        db = self.dir / "fifo-test.db"
        cases = [
            ["-f", self.synth, "--key", fifo],
            ["-f", self.synth, "--config", fifo],
            ["receive", "--db", db, "--udp-port", "0", "--http-port", "0", "--key", fifo],
            ["receive", "--config", fifo],
        ]
        for args in cases:
            with self.subTest(args=args[0:2]):
                proc = lib.run(args, timeout=20)
                lines = lib.stderr_lines(proc)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("not a regular file", lines[0])
                self.assertIn(str(fifo), lines[0])

    def test_a_key_in_a_folder_others_may_write_is_refused(self):
        with lib.temp_dir() as d:
            key = d / "k"
            self.assertEqual(lib.run(["keygen", key]).returncode, 0)
            os.chmod(d, 0o777)
            for args in (["-f", self.synth, "--key", key],
                         ["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0", "--key", key]):
                with self.subTest(args=args[0]):
                    line = self.assert_refused(args, "writable by group or others", "chmod go-w")
                    self.assertIn(str(d), line)
            os.chmod(d, 0o1777)  # sticky, as /tmp: accepted
            proc = lib.run(["-f", self.synth, "--key", key])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            os.chmod(d, 0o700)

    def test_a_key_owned_by_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file to another user")
        with lib.temp_dir() as d:
            key = d / "k"
            self.assertEqual(lib.run(["keygen", key]).returncode, 0)
            os.chown(key, 4242, 4242)
            self.assert_refused(["-f", self.synth, "--key", key], "owned by uid 4242")
            self.assert_refused(["receive", "--db", d / "r.db", "--udp-port", "0", "--http-port", "0",
                                 "--key", key], "owned by uid 4242")

if __name__ == "__main__":
    lib.main()

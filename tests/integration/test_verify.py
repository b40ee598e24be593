"""`overflowd verify`: accepts what the sender writes, and names exactly the lines that were
tampered with, each as "line N: <reason>"; reads a file, `-` or standard input; takes the compact
form. PyNaCl judges every line too, and must agree."""

import base64
import json
import re
import unittest

import nacl.exceptions
import nacl.signing

import overflowd_testlib as lib

SUMMARY = re.compile(r"^verify: (\d+) reports, (\d+) valid, (\d+) invalid$")


def compact(line):
    return lib.canonical(json.loads(line)["signature"])


def pynacl_accepts(line):
    """The reference: PyNaCl for the signature, Python's json for 'the signed message parses to the
    report without its signature block'. Compact lines need only a good signature."""
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    if set(obj) == {"key", "signature"} and isinstance(obj["signature"], str):
        block = obj
        rest = None
    elif isinstance(obj.get("signature"), dict):
        block = obj.pop("signature")
        rest = obj
    else:
        return False
    try:
        message = nacl.signing.VerifyKey(bytes.fromhex(block["key"])).verify(
            base64.b64decode(block["signature"], validate=True))
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError, KeyError):
        return False
    try:
        inner = json.loads(message)
    except ValueError:
        return False
    return isinstance(inner, dict) and (rest is None or inner == rest)


class Verify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls._tmp = lib.temp_dir()
        cls.dir = cls._tmp.__enter__()
        synth = lib.make_synth(cls.dir, "--background-flows", "200", "--flood-flows", "50")
        proc = lib.run(["-f", synth, "-r", "1", "-q", "--key", cls.dir / "k", "--email", "noc@example.net",
                        "--identity", "Example Net \u00e9\u4e2d \"quoted\" \\ back"])
        assert proc.returncode == 0, proc.stderr
        cls.good = lib.report_lines(proc.stdout)
        assert len(cls.good) >= 30
        cls.good_file = cls.dir / "good.jsonl"
        cls.good_file.write_text("\n".join(cls.good) + "\n", encoding="utf-8")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def verify(self, args, input=None):
        return lib.run(["verify", *args], input=input)

    def summary(self, proc):
        last = proc.stdout.splitlines()[-1] if proc.stdout else ""
        m = SUMMARY.match(last)
        self.assertIsNotNone(m, f"no summary line in {proc.stdout!r}")
        return tuple(int(x) for x in m.groups())

    def bad_lines(self, proc):
        """{N: reason} from the "line N: reason" lines."""
        out = {}
        for l in proc.stdout.splitlines()[:-1]:
            m = re.match(r"^line (\d+): (.+)$", l)
            self.assertIsNotNone(m, f"unexpected output line {l!r}")
            self.assertNotIn(int(m.group(1)), out, f"line {m.group(1)} named twice")
            out[int(m.group(1))] = m.group(2)
        return out

    # -- tampering ---------------------------------------------------------------------------

    def tampered(self):
        """(lines, {N: regex the reason must match}) for a mix of good and tampered lines."""
        g = self.good
        other_key = nacl.signing.SigningKey.generate().verify_key.encode().hex()

        def edit(line, fn):
            obj = json.loads(line)
            fn(obj)
            return lib.canonical(obj)

        def set_pcount(o):
            o["flowdata"]["data"]["pcount"] += 1

        def flip_sig_byte(at):
            def fn(o):
                raw = bytearray(base64.b64decode(o["signature"]["signature"]))
                raw[at] ^= 0x01
                o["signature"]["signature"] = base64.b64encode(bytes(raw)).decode()
            return fn

        def other_key_fn(o):
            o["signature"]["key"] = other_key

        def extra_top(o):
            o["unsigned"] = "rides along"

        def extra_inner(o):
            o["flowdata"]["data"]["note"] = 1

        def drop_field(o):
            del o["metadata"]["time"]

        def bad_base64(o):
            o["signature"]["signature"] = "not*base64!"

        def short_sig(o):
            o["signature"]["signature"] = base64.b64encode(b"x" * 40).decode()

        def no_block(o):
            del o["signature"]

        good_compact = compact(g[10])
        bad_compact = json.dumps({"key": other_key, "signature": json.loads(g[11])["signature"]["signature"]})
        spaced = json.dumps(json.loads(g[12]), indent=None)  # same content, not canonical: still valid
        lines = [
            g[0],                                   # 1 good
            edit(g[1], set_pcount),                 # 2 outer pcount changed
            g[2],                                   # 3 good
            edit(g[3], flip_sig_byte(5)),           # 4 a byte of the signature flipped
            edit(g[4], other_key_fn),               # 5 another key
            "this is {not JSON",                    # 6
            edit(g[5], extra_top),                  # 7 unsigned extra field
            g[6],                                   # 8 good
            edit(g[7], flip_sig_byte(100)),         # 9 a byte of the signed message flipped
            edit(g[8], extra_inner),                # 10 unsigned field inside the flow data
            edit(g[9], drop_field),                 # 11 a signed field removed
            edit(g[13], bad_base64),                # 12
            edit(g[14], short_sig),                 # 13
            edit(g[15], no_block),                  # 14
            "[1, 2, 3]",                            # 15 JSON, not an object
            good_compact,                           # 16 compact form, valid
            bad_compact,                            # 17 compact form, wrong key
            spaced,                                 # 18 valid, with white space
            g[16],                                  # 19 good
        ]
        bad = {2: r"differ|mismatch|message", 4: r"signature", 5: r"signature", 6: r"JSON", 7: r"differ|mismatch",
               9: r"signature", 10: r"differ|mismatch", 11: r"differ|mismatch", 12: r"base64|signature",
               13: r"short|signature", 14: r"signature", 15: r"object|signature", 17: r"signature"}
        return lines, bad

    def test_pynacl_reference_agrees_on_which_lines_are_bad(self):
        lines, bad = self.tampered()
        judged = {n for n, l in enumerate(lines, 1) if not pynacl_accepts(l)}
        self.assertEqual(judged, set(bad))

    def test_exactly_the_tampered_lines_are_named_with_a_reason(self):
        lines, bad = self.tampered()
        path = self.dir / "mixed.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = self.verify([path])
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        named = self.bad_lines(proc)
        self.assertEqual(set(named), set(bad), proc.stdout)
        for n, pattern in bad.items():
            self.assertRegex(named[n], re.compile(pattern, re.I), f"line {n}")
        self.assertEqual(self.summary(proc), (len(lines), len(lines) - len(bad), len(bad)))

    def test_each_tampered_line_alone_fails(self):
        lines, bad = self.tampered()
        for n in bad:
            with self.subTest(line=n):
                proc = self.verify(["-"], input=lines[n - 1] + "\n")
                self.assertEqual(proc.returncode, 1, proc.stdout)
                self.assertEqual(set(self.bad_lines(proc)), {1})

    # -- accepted input ----------------------------------------------------------------------

    def test_accepts_the_senders_output(self):
        proc = self.verify([self.good_file])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(self.summary(proc), (len(self.good), len(self.good), 0))
        self.assertEqual(proc.stdout.count("\n"), 1, "only the summary")
        for line in self.good:
            lib.pynacl_verify(line)

    def test_reads_standard_input_with_dash_and_with_no_argument(self):
        text = self.good_file.read_text(encoding="utf-8")
        for args in (["-"], []):
            with self.subTest(args=args):
                proc = self.verify(args, input=text)
                self.assertEqual(proc.returncode, 0, proc.stdout)
                self.assertEqual(self.summary(proc), (len(self.good), len(self.good), 0))
        lines, bad = self.tampered()
        proc = self.verify([], input="\n".join(lines) + "\n")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(set(self.bad_lines(proc)), set(bad))

    def test_compact_form_verifies(self):
        lines = [compact(l) for l in self.good]
        for l in lines:
            self.assertTrue(pynacl_accepts(l))
            self.assertEqual(set(json.loads(l)), {"key", "signature"})
        proc = self.verify(["-"], input="\n".join(lines) + "\n")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(self.summary(proc), (len(lines), len(lines), 0))

    def test_crlf_line_ends_are_accepted(self):
        proc = self.verify(["-"], input="\r\n".join(self.good[:5]) + "\r\n")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(self.summary(proc), (5, 5, 0))

    def test_hostile_lines_are_refused_without_a_crash(self):
        sig = json.loads(self.good[0])["signature"]
        lines = [
            b"[" * 100000 + b"]" * 100000,                                  # deep nesting
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            ('{"signature":' + json.dumps(sig) + ',"pad":"' + "x" * (2 << 20) + '"}').encode(),  # 2 MiB
            ('{"signature":{"key":"' + "0" * 64 + '","signature":""}}').encode(),  # empty signature
            ('{"signature":{"key":' + "1" * 400 + ',"signature":"AAAA"}}').encode(),  # a huge number as key
            b'{"signature":{"key":null,"signature":null}}',
            ('{"key":"' + sig["key"] + '","signature":"' + "A" * 86 + '=="}').encode(),  # zeros, nothing signed
            b'{"signature":{"key":"\xff\xfe","signature":"\x00"}}',         # not UTF-8
            b"\xff\xfe{\x00\x01}",
            b'"just a string"',
            b"null",
        ]
        path = self.dir / "hostile.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        proc = self.verify([path])
        self.assertEqual(proc.returncode, 1, proc.stdout[-500:])
        self.assertEqual(set(self.bad_lines(proc)), set(range(1, len(lines) + 1)), proc.stdout)

    def test_missing_file_is_a_usage_error(self):
        path = self.dir / "absent.jsonl"
        proc = self.verify([path])
        self.assertEqual(proc.returncode, 2)
        lines = lib.stderr_lines(proc)
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("overflowd: error: ") and str(path) in lines[0], lines[0])


if __name__ == "__main__":
    lib.main()

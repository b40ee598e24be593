#!/usr/bin/python3
"""Writes tests/decode/data/softflowd_{v9,ipfix}.bin: real NetFlow v9 and IPFIX export datagrams
made by softflowd from a synthetic capture (tests/integration/test_softflowd.py's make_capture:
documentation addresses only), for the truncation tests (tests/decode/hostile_input_test.cpp).
Each file is a sequence of [2-byte big-endian length][datagram]. Needs softflowd, softflowctl,
tshark, python3-scapy and python3-dpkt (Debian); sends only to 127.0.0.1.

Usage: /usr/bin/python3 scripts/make_softflowd_exports.py   (from the repository root)
"""
import importlib.util
import os
import struct
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OVERFLOWD", "/bin/true")  # the test module wants one; nothing runs it here
spec = importlib.util.spec_from_file_location("test_softflowd", os.path.join(ROOT, "tests/integration/test_softflowd.py"))
sf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sf)

with tempfile.TemporaryDirectory() as work:
    capture = os.path.join(work, "flows.pcap")
    count = sf.make_capture(capture)
    for version, name in ((9, "softflowd_v9.bin"), (10, "softflowd_ipfix.bin")):
        datagrams, _, exported = sf.export(capture, count, version, [], work)
        if not datagrams:
            sys.exit(f"softflowd -v {version} exported nothing")
        path = os.path.join(ROOT, "tests", "decode", "data", name)
        with open(path, "wb") as f:
            for d in datagrams[:4]:  # templates and the first data: enough for every kind of set
                f.write(struct.pack("!H", len(d)) + d)
        print(f"{path}: {min(4, len(datagrams))} of {len(datagrams)} datagrams ({exported} flows)")

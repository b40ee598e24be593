#!/usr/bin/python3
"""Writes fuzz seeds from the datagrams of the real captures in ../shared/data/real/ (read in place,
never copied): each capture's first NetFlow v9 / IPFIX datagrams as a seed of the netflow_v9 or
ipfix target ([2-byte split point][first datagram][second datagram], as fuzz/template_fuzz.hpp reads
it, so that the split run decodes the template datagram, then the data one), all of them as one
template_stream seed ([control][length][datagram]..., as fuzz/template_stream_fuzz.cpp reads it),
and its first sFlow v5 datagram as a sflow_v5 seed. Seeds are named real_<capture>.bin, capped at
MAX_SEED bytes (a stream stops before the datagram that would pass it; a single datagram is cut),
and identical seeds are written once.

Usage: /usr/bin/python3 scripts/make_real_seeds.py [REAL_DIR]   (from the repository root)
"""
import hashlib
import os
import struct
import sys
from pathlib import Path

import dpkt

ROOT = Path(__file__).resolve().parent.parent
MAX_SEED = 3072


def datagrams(pcap):
    """The UDP payloads of the capture, in order."""
    with open(pcap, "rb") as f:
        head = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        for _, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.udp.UDP):
                yield bytes(ip.data.data)


def kind(payload):
    if len(payload) < 4:
        return None
    if payload[:4] == b"\0\0\0\x05":
        return "sflow_v5"
    return {9: "netflow_v9", 10: "ipfix"}.get(struct.unpack("!H", payload[:2])[0])


def main():
    real = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "real"
    seen = set()
    written = 0

    def write(target, name, data):
        nonlocal written
        digest = hashlib.sha256(target.encode() + data).digest()
        if digest in seen or not data:
            return
        seen.add(digest)
        path = ROOT / "fuzz" / "corpus" / target / f"real_{name}.bin"
        path.write_bytes(data)
        written += 1

    for pcap in sorted(real.glob("*.pcap")):
        name = pcap.stem.replace("+", "_").replace("-", "_")
        by_kind = {}
        for d in datagrams(pcap):
            k = kind(d)
            if k:
                by_kind.setdefault(k, []).append(d)
        for k, ds in by_kind.items():
            if k == "sflow_v5":
                write(k, name, ds[0][:MAX_SEED])
                continue
            first = ds[0][:MAX_SEED - 2]
            second = ds[1][:MAX_SEED - 2 - len(first)] if len(ds) > 1 else b""
            write(k, name, struct.pack("!H", len(first)) + first + second)
            stream = b""
            for d in ds:
                item = struct.pack("!BH", 1 if k == "ipfix" else 0, len(d)) + d
                if len(stream) + len(item) > MAX_SEED:
                    break
                stream += item
            write("template_stream", name, stream)
    print(f"{written} seeds written")
    return 0


if __name__ == "__main__":
    sys.exit(main())

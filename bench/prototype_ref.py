#!/usr/bin/python3
"""The prototype's logic in plain Python 3: the reference overflowd is compared with (issue 17).

usage: prototype_ref.py -f CAPTURE [-r RATE] [--key KEYFILE] [--port PORT]

Reads a classic pcap (Ethernet, IPv4, UDP) with `struct`, decodes NetFlow v5 with `struct`, draws
one `random.SystemRandom().random()` per flow against RATE, builds the report dict overflowd
builds (flowdata.data, sourcetype, metadata with the time), serializes it with
`json.dumps(sort_keys=True, separators=(",", ":"))`, signs it with PyNaCl's
`SigningKey.sign` and prints the line with its signature block, as overflowd does. No sockets.
It is a rendering for timing, not a second implementation: it skips what costs nothing at a
high rate (v9/IPFIX/sFlow, the guard, the report port rule beyond one comparison).
"""

import argparse
import base64
import json
import random
import socket
import struct
import sys
import time

import nacl.encoding
import nacl.signing

PCAP_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD = struct.Struct("<IIII")
V5_HEADER = struct.Struct("!HHIIIIBBH")
V5_RECORD = struct.Struct("!4s4s4sHHIIIIHHBBBBHHBBH")
REPORT_PORT = 65535


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit("prototype_ref: not a little-endian classic pcap")
    off = PCAP_HEADER.size
    while off + PCAP_RECORD.size <= len(data):
        _s, _us, incl, _orig = PCAP_RECORD.unpack_from(data, off)
        off += PCAP_RECORD.size
        if off + incl > len(data):
            return  # truncated file: the rest is skipped, as overflowd does
        yield data[off:off + incl]
        off += incl


def unix_ms(uptime, secs, nsecs, stamp):
    behind = (uptime - stamp) & 0xFFFFFFFF
    if behind >= 1 << 31:
        behind -= 1 << 32
    return secs * 1000 + nsecs // 1000000 - behind


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-f", required=True)
    ap.add_argument("-r", type=float, default=0.00001)
    ap.add_argument("--key", help="a key file as overflowd keygen writes it (64 hex digits of seed)")
    ap.add_argument("--port", type=int, default=None, help="only UDP datagrams to or from this port")
    args = ap.parse_args()

    if args.key:
        with open(args.key) as f:
            seed = bytes.fromhex(f.read().split()[0][:64])
        key = nacl.signing.SigningKey(seed)
    else:
        key = nacl.signing.SigningKey.generate()
    key_hex = key.verify_key.encode(nacl.encoding.HexEncoder).decode()
    rng = random.SystemRandom()
    out = sys.stdout
    for frame in packets(args.f):
        if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 17:
            continue
        exporter = socket.inet_ntoa(frame[26:30])
        udp = 14 + ihl
        sport, dport, ulen = struct.unpack_from("!HHH", frame, udp)
        if args.port is not None and args.port not in (sport, dport):
            continue
        payload = frame[udp + 8:udp + ulen]
        if len(payload) < 24:
            continue
        version, count, uptime, secs, nsecs, _seq, _et, _eid, sampling = V5_HEADER.unpack_from(payload, 0)
        if version != 5 or not 1 <= count <= 30 or len(payload) < 24 + 48 * count:
            continue
        interval = (sampling & 0x3FFF) or 1
        for i in range(count):
            (src, dst, nh, inp, outp, pkts, octets, first, last, sp, dp, _p1, flags, proto, tos,
             sas, das, smask, dmask, _p2) = V5_RECORD.unpack_from(payload, 24 + 48 * i)
            if proto == 17 and REPORT_PORT in (sp, dp):
                continue
            if rng.random() >= args.r:
                continue
            report = {
                "flowdata": {
                    "data": {
                        "saddr": socket.inet_ntoa(src), "daddr": socket.inet_ntoa(dst),
                        "nexthop": socket.inet_ntoa(nh), "input": inp, "output": outp,
                        "pcount": pkts, "bcount": octets,
                        "stime": unix_ms(uptime, secs, nsecs, first), "etime": unix_ms(uptime, secs, nsecs, last),
                        "sport": sp, "dport": dp, "flags": flags, "protocol": proto, "tos": tos,
                        "src_as": sas, "dst_as": das, "src_mask": smask, "dst_mask": dmask,
                        "exporter": exporter, "sampling_interval": interval,
                    },
                    "sourcetype": {"type": "Netflow", "version": 5},
                },
                "metadata": {"class": "INFORMATIONAL", "info": "FLOWSEEN", "time": round(time.time(), 6)},
            }
            message = json.dumps(report, sort_keys=True, separators=(",", ":")).encode()
            signed = key.sign(message)  # signature || message, as overflowd's signature field holds
            report["signature"] = {"key": key_hex, "signature": base64.b64encode(bytes(signed)).decode()}
            out.write(json.dumps(report, sort_keys=True, separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()

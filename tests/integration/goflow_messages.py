"""goflow2-format flow messages for the Kafka tests, made from the project's proto/flow.proto
(compiled by the build's protoc into OVERFLOWD_BUILD/generated/proto/flow_pb2.py) with Debian's
python3-protobuf, independent of overflowd's decoder.

  bin:  each FlowMessage preceded by its length as a varint (goflow2 -format=bin)
  json: one object per message as goflow2 -format=json renders it (addresses as text)

As a script: `goflow_messages.py OUT_DIR` writes seeds of the fuzz corpus (fuzz/corpus/goflow/).
"""

import ipaddress
import json
import os
import sys
from pathlib import Path


def flow_pb2(build_dir):
    sys.path.insert(0, str(Path(build_dir) / "generated" / "proto"))
    import flow_pb2 as module  # noqa: E402 (generated at build time)
    return module


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def flow_message(pb, src, dst, sport, dport, proto=17, packets=1, size=100, rate=1, start_ns=0, end_ns=0,
                 sampler="192.0.2.9"):
    m = pb.FlowMessage()
    m.type = pb.FlowMessage.IPFIX
    m.sampling_rate = rate
    m.sampler_address = ipaddress.ip_address(sampler).packed
    m.src_addr = ipaddress.ip_address(src).packed
    m.dst_addr = ipaddress.ip_address(dst).packed
    m.proto = proto
    m.src_port = sport
    m.dst_port = dport
    m.packets = packets
    m.bytes = size
    m.time_flow_start_ns = start_ns
    m.time_flow_end_ns = end_ns
    m.etype = 0x86DD if ":" in dst else 0x800
    m.as_path.extend([64500, 64501])
    return m


def delimited(messages):
    """goflow2 -format=bin: every message preceded by its varint length."""
    return b"".join(varint(len(b)) + b for b in (m.SerializeToString() for m in messages))


def json_message(src, dst, sport, dport, proto="UDP", packets=1, size=100, rate=1, start_ns=0, end_ns=0):
    return json.dumps({
        "type": "IPFIX", "time_received_ns": end_ns, "sequence_num": 1, "sampling_rate": rate,
        "sampler_address": "192.0.2.9", "time_flow_start_ns": start_ns, "time_flow_end_ns": end_ns,
        "bytes": size, "packets": packets, "src_addr": src, "dst_addr": dst, "etype": "IPv4", "proto": proto,
        "src_port": sport, "dst_port": dport, "in_if": 1, "out_if": 2, "src_mac": "00:00:00:00:00:00",
        "dst_mac": "00:00:00:00:00:00", "ip_tos": 0, "tcp_flags": 0, "src_as": 64500, "dst_as": 64501,
        "next_hop": "", "src_net": "0.0.0.0/0", "dst_net": "0.0.0.0/0", "as_path": []}).encode()


def main():
    out = Path(sys.argv[1])
    build = os.environ.get("OVERFLOWD_BUILD", str(Path(__file__).resolve().parent / "../../build"))
    pb = flow_pb2(build)
    out.mkdir(parents=True, exist_ok=True)
    one = flow_message(pb, "198.51.100.7", "203.0.113.9", 40000, 53, start_ns=1_700_000_000_000_000_000,
                       end_ns=1_700_000_000_500_000_000, rate=1000)
    v6 = flow_message(pb, "2001:db8::1", "2001:db8:1::2", 40001, 443, proto=6)
    (out / "pb_one.bin").write_bytes(b"\x00" + delimited([one]))
    (out / "pb_three.bin").write_bytes(b"\x00" + delimited([one, v6, one]))
    (out / "pb_empty_message.bin").write_bytes(b"\x00" + delimited([pb.FlowMessage()]))
    (out / "json_one.bin").write_bytes(b"\x01" + json_message("198.51.100.7", "203.0.113.9", 40000, 53))
    (out / "json_tcp.bin").write_bytes(b"\x01" + json_message("198.51.100.8", "203.0.113.10", 40000, 80, proto="TCP"))


if __name__ == "__main__":
    main()

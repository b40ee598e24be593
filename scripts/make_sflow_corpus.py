#!/usr/bin/python3
"""Writes the sFlow v5 fuzz seeds (fuzz/corpus/sflow_v5/): datagrams built by hand from the XDR in
sflow.org's "sFlow Version 5", with sampled packets built from RFC 791/8200/793/768/792 layouts.
Run from the repository root: scripts/make_sflow_corpus.py"""
import ipaddress
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent.parent / "fuzz" / "corpus" / "sflow_v5"


def u32(*vs):
    return b"".join(struct.pack(">I", v) for v in vs)


def opaque(b):
    return u32(len(b)) + b + b"\0" * (-len(b) % 4)


def tagged(enterprise, fmt, body):
    return u32((enterprise << 12) | fmt) + opaque(body)


def a4(s):
    return ipaddress.IPv4Address(s).packed


def a6(s):
    return ipaddress.IPv6Address(s).packed


def ipv4(proto, src, dst, total, tos=0):
    return struct.pack(">BBHHHBBH4s4s", 0x45, tos, total, 1, 0x4000, 64, proto, 0, a4(src), a4(dst))


def ipv6(nxt, src, dst, plen):
    return struct.pack(">IHBB16s16s", 0x60000000, plen, nxt, 64, a6(src), a6(dst))


def tcp(sp, dp, flags):
    return struct.pack(">HHIIBBHHH", sp, dp, 1, 2, 0x50, flags, 65535, 0, 0)


def udp(sp, dp, length):
    return struct.pack(">HHHH", sp, dp, length, 0)


def eth(etype, payload, vlan=None):
    head = bytes.fromhex("001f297ad132001cc447d3f9")
    if vlan is not None:
        head += struct.pack(">HH", 0x8100, vlan)
    return head + struct.pack(">H", etype) + payload


def sampled_header(proto, frame_len, header):
    return tagged(0, 1, u32(proto, frame_len, 4) + opaque(header))


def ext_switch():
    return tagged(0, 1001, u32(1, 0, 1, 0))


def ext_router_v6(nh, sm, dm):
    return tagged(0, 1002, u32(2) + a6(nh) + u32(sm, dm))


def ext_gateway(nh, own, src, peer, path):
    body = u32(1) + a4(nh) + u32(own, src, peer, len(path))
    for typ, asns in path:
        body += u32(typ, len(asns), *asns)
    return tagged(0, 1003, body + u32(1, 65000100) + u32(100))


def flow_sample(rate, inp, outp, records, declared=None):
    n = len(records) if declared is None else declared
    return tagged(0, 1, u32(1, 47, rate, 1000, 0, inp, outp, n) + b"".join(records))


def flow_sample_expanded(rate, inp, outp, records):
    return tagged(0, 3, u32(1, 0, 47, rate, 1000, 0, 0, inp, 0, outp, len(records)) + b"".join(records))


def counter_sample():
    return tagged(0, 2, u32(1, 47, 1) + tagged(0, 1, bytes(88)))


def datagram_v4(samples, declared=None):
    n = len(samples) if declared is None else declared
    return u32(5, 1) + a4("192.0.2.1") + u32(0, 1, 1000, n) + b"".join(samples)


def datagram_v6(samples):
    return u32(5, 2) + a6("2001:db8::1") + u32(3, 1, 1000, len(samples)) + b"".join(samples)


TCP4 = eth(0x0800, ipv4(6, "10.0.0.1", "10.0.0.2", 1500, 0x28) + tcp(60565, 36875, 0x12))
UDP6 = ipv6(17, "2001:db8::a", "2001:db8::b", 108) + udp(5353, 53, 108)
ICMP4 = ipv4(1, "10.1.1.1", "10.2.2.2", 84) + bytes([8, 0, 0, 0, 0, 1, 0, 2])
VLAN = eth(0x0800, ipv4(17, "10.9.9.9", "10.8.8.8", 60) + udp(123, 123, 40), vlan=42)

SEEDS = {
    "v4_flow_tcp_switch.bin": datagram_v4([flow_sample(300, 48, 47, [sampled_header(1, 1518, TCP4), ext_switch()])]),
    "v6_expanded_udp_router_gateway.bin": datagram_v6([flow_sample_expanded(1024, 0x40000001, 7, [
        sampled_header(12, 148, UDP6), ext_router_v6("fe80::1", 64, 48),
        ext_gateway("192.0.2.254", 65000, 64999, 64998, [(2, [64500, 64501]), (1, [64510])])])]),
    "v4_counter_and_icmp.bin": datagram_v4([counter_sample(), flow_sample(512, 1, 2, [sampled_header(11, 84, ICMP4)])]),
    "v4_vlan_and_sampled_ip.bin": datagram_v4([
        flow_sample(100, 5, 6, [sampled_header(1, 78, VLAN)]),
        flow_sample(10, 1, 2, [tagged(0, 3, u32(576, 6) + a4("10.3.3.3") + a4("10.4.4.4") + u32(443, 51000, 0x18, 0x10))]),
        flow_sample(10, 1, 2, [tagged(0, 4, u32(1280, 17) + a6("2001:db8::3") + a6("2001:db8::4") + u32(4500, 4500, 0, 0))])]),
    "v4_unknown_formats.bin": datagram_v4([tagged(0, 5, bytes(20)), tagged(4413, 1, bytes(13)),
                                           flow_sample(10, 1, 2, [tagged(4413, 1002, bytes(6)), sampled_header(7, 100, bytes(40)),
                                                                  sampled_header(1, 1518, TCP4)])]),
    "lie_sample_length.bin": datagram_v4([flow_sample(10, 1, 2, [sampled_header(1, 1518, TCP4)])])[:-8],
    "lie_record_count.bin": datagram_v4([flow_sample(10, 1, 2, [sampled_header(1, 1518, TCP4)], declared=3)]),
    "lie_sample_count.bin": datagram_v4([counter_sample()], declared=2),
    "lie_header_length.bin": datagram_v4([flow_sample(10, 1, 2, [tagged(0, 1, u32(1, 1518, 4, 200) + bytes(64))])]),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")

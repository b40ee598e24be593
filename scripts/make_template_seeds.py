#!/usr/bin/python3
"""Writes the seed corpora of the NetFlow v9 and IPFIX fuzz targets (fuzz/corpus/netflow_v9/,
fuzz/corpus/ipfix/): template and data datagrams laid out by hand after RFC 3954 and RFC 7011.
Each seed is [2-byte split point][payload], as fuzz/template_fuzz.hpp reads it. And those of the
template stream target (fuzz/corpus/template_stream/): several such datagrams from several
exporters, each as [control byte][2-byte length][datagram], as fuzz/template_stream_fuzz.cpp reads.

Usage: /usr/bin/python3 scripts/make_template_seeds.py   (from the repository root)
"""
import os
import socket
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def v4(a):
    return socket.inet_pton(socket.AF_INET, a)


def v6(a):
    return socket.inet_pton(socket.AF_INET6, a)


def fs(set_id, body, align=4):
    """A FlowSet / Set: id, length, body, zero padding to `align`."""
    length = 4 + len(body)
    pad = (-length) % align if align else 0
    return struct.pack("!HH", set_id, length + pad) + body + b"\0" * pad


def fields(*pairs):
    return b"".join(struct.pack("!HH", t, l) for t, l in pairs)


def v9(source_id, *sets, uptime=100000, secs=1700000000):
    return struct.pack("!HHIIII", 9, len(sets), uptime, secs, 1, source_id) + b"".join(sets)


def ipfix(domain, *sets, export=1700000000):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export, 1, domain) + body


def seed(split, payload):
    return struct.pack("!H", split) + payload


def v9_seeds():
    t256 = fs(0, struct.pack("!HH", 256, 5) + fields((8, 4), (12, 4), (15, 4), (2, 4), (1, 4)), 0)
    d256 = fs(256, v4("198.51.100.12") + v4("203.0.113.254") + v4("198.51.100.1") + struct.pack("!II", 5009, 5344385)
              + v4("198.51.100.27") + v4("203.0.113.23") + v4("198.51.100.2") + struct.pack("!II", 748, 388934))
    full_fields = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (5, 1), (10, 2), (14, 2), (15, 4), (16, 2),
                   (17, 2), (9, 1), (13, 1), (22, 4), (21, 4), (2, 4), (1, 4), (32, 2), (48, 1))
    t300 = fs(0, struct.pack("!HH", 300, len(full_fields)) + fields(*full_fields))
    d300 = fs(300, v4("198.51.100.7") + v4("203.0.113.9") + struct.pack("!HHBBBHH", 51000, 443, 6, 0x1b, 0, 3, 5)
              + v4("198.51.100.254") + struct.pack("!HHBBIIIIHB", 64500, 64501, 24, 16, 90000, 99500, 12, 3400, 0, 1))
    opt = fs(1, struct.pack("!HHH", 257, 4, 12) + fields((1, 4), (48, 1), (49, 1), (34, 4)))
    optd = fs(257, struct.pack("!IBBI", 0, 1, 2, 100))
    t6 = fs(0, struct.pack("!HH", 260, 6) + fields((27, 16), (28, 16), (29, 1), (30, 1), (62, 16), (139, 2)))
    d6 = fs(260, v6("2001:db8::1") + v6("2001:db8:1::2") + bytes([48, 64]) + v6("2001:db8::fe") + b"\x80\x00")
    tmpl = v9(7, t256)
    return {
        "rfc_template_then_data.bin": seed(len(tmpl), tmpl + v9(7, d256)),
        "template_and_data_one_datagram.bin": seed(0, v9(7, t256, d256)),
        "all_fields_with_sampler_options.bin": seed(0, v9(1, opt, optd, t300, d300)),
        "ipv6.bin": seed(0, v9(1, t6, d6)),
        "data_before_template.bin": seed(len(v9(7, d256)), v9(7, d256) + tmpl),
    }


def ipfix_seeds():
    t256 = fs(2, struct.pack("!HH", 256, 5) + fields((8, 4), (12, 4), (15, 4), (2, 4), (1, 4)), 0)
    d256 = fs(256, v4("192.0.2.12") + v4("192.0.2.254") + v4("192.0.2.1") + struct.pack("!II", 5009, 5344385)
              + v4("192.0.2.27") + v4("192.0.2.23") + v4("192.0.2.2") + struct.pack("!II", 748, 388934), 0)
    opt = fs(3, struct.pack("!HHH", 258, 3, 1) + fields((302, 8), (305, 4), (306, 4)), 0)
    optd = fs(258, struct.pack("!QII", 1, 1, 99), 0)
    t_sel = fs(2, struct.pack("!HH", 259, 2) + fields((8, 4), (302, 8)), 0)
    d_sel = fs(259, v4("192.0.2.1") + struct.pack("!Q", 1), 0)
    var = fs(2, struct.pack("!HH", 260, 5) + fields((82, 65535), (8, 4)) + struct.pack("!HHI", 0x8000 | 12, 4, 9)
             + fields((96, 65535), (12, 4)), 0)
    vard = fs(260, b"\x04eth0" + v4("192.0.2.1") + b"\0\0\0\0" + b"\xff\x01\x00" + b"x" * 256 + v4("192.0.2.2"), 0)
    times = fs(2, struct.pack("!HH", 261, 8) + fields((150, 4), (151, 4), (152, 8), (153, 8), (156, 8), (157, 8),
                                                       (158, 4), (159, 4)), 0)
    ntp = (1700000000 + 2208988800) << 32
    timesd = fs(261, struct.pack("!IIQQQQII", 1699999990, 1699999999, 1699999990123, 1699999999456, ntp - (5 << 32),
                                 ntp | 0x40000000, 2500000, 1000), 0)
    up = fs(2, struct.pack("!HH", 262, 4) + fields((22, 4), (21, 4), (160, 8), (4, 1)), 0)
    upd = fs(262, struct.pack("!IIQB", 5000, 9000, 1699000000000, 17), 4)
    t6 = fs(2, struct.pack("!HH", 263, 6) + fields((27, 16), (28, 16), (4, 1), (178, 1), (179, 1), (63, 16)), 0)
    d6 = fs(263, v6("2001:db8::10") + v6("2001:db8::20") + bytes([58, 1, 4]) + v6("2001:db8::1"), 4)
    withdraw = fs(2, struct.pack("!HH", 256, 0), 0)
    withdraw_all = fs(2, struct.pack("!HH", 2, 0) , 0) + fs(3, struct.pack("!HH", 3, 0), 0)
    tmpl = ipfix(33, t256)
    return {
        "rfc_template_then_data.bin": seed(len(tmpl), tmpl + ipfix(33, d256)),
        "template_and_data_one_message.bin": seed(0, ipfix(33, t256, d256)),
        "options_selector_sampling.bin": seed(0, ipfix(1, opt, optd, t_sel, d_sel)),
        "variable_and_enterprise.bin": seed(0, ipfix(1, var, vard)),
        "time_forms.bin": seed(0, ipfix(1, times, timesd, up, upd)),
        "ipv6_icmp.bin": seed(0, ipfix(1, t6, d6)),
        "withdrawal.bin": seed(len(ipfix(1, t256, opt)), ipfix(1, t256, opt) + ipfix(1, withdraw, d256, withdraw_all)),
    }


def stream(*datagrams):
    """(version 9 or 10, exporter 0..3, datagram) triples as one template_stream input."""
    return b"".join(struct.pack("!BH", (1 if version == 10 else 0) | (exporter << 1), len(d)) + d
                    for version, exporter, d in datagrams)


def stream_seeds():
    t256 = fs(0, struct.pack("!HH", 256, 5) + fields((8, 4), (12, 4), (15, 4), (2, 4), (1, 4)), 0)
    d256 = fs(256, v4("198.51.100.12") + v4("203.0.113.254") + v4("198.51.100.1") + struct.pack("!II", 5009, 5344385))
    t256b = fs(0, struct.pack("!HH", 256, 3) + fields((27, 16), (28, 16), (2, 4)), 0)  # redefinition: IPv6
    d256b = fs(256, v6("2001:db8::1") + v6("2001:db8::2") + struct.pack("!I", 7))
    opt = fs(1, struct.pack("!HHH", 257, 4, 12) + fields((1, 4), (48, 1), (49, 1), (34, 4)))
    optd = fs(257, struct.pack("!IBBI", 0, 1, 2, 100) + struct.pack("!IBBI", 0, 2, 2, 1000))
    flood = fs(0, b"".join(struct.pack("!HH", 300 + i, 2) + fields((8, 4), (12, 4)) for i in range(8)), 0)
    flood_data = fs(305, v4("192.0.2.1") + v4("192.0.2.2"))

    i256 = fs(2, struct.pack("!HH", 256, 5) + fields((8, 4), (12, 4), (15, 4), (2, 4), (1, 4)), 0)
    i256d = fs(256, v4("192.0.2.12") + v4("192.0.2.254") + v4("192.0.2.1") + struct.pack("!II", 5009, 5344385), 0)
    iopt = fs(3, struct.pack("!HHH", 258, 3, 1) + fields((302, 8), (305, 4), (306, 4)), 0)
    ioptd = fs(258, struct.pack("!QII", 1, 1, 99), 0)
    isel = fs(2, struct.pack("!HH", 259, 2) + fields((8, 4), (302, 8)), 0)
    iseld = fs(259, v4("192.0.2.1") + struct.pack("!Q", 1), 0)
    ivar = fs(2, struct.pack("!HH", 260, 3) + fields((82, 65535), (8, 4), (96, 65535)), 0)
    ivard = fs(260, b"\x04eth0" + v4("192.0.2.1") + b"\xff\x01\x00" + b"x" * 256, 0)
    withdraw = fs(2, struct.pack("!HH", 256, 0), 0)
    withdraw_all = fs(2, struct.pack("!HH", 2, 0), 0) + fs(3, struct.pack("!HH", 3, 0), 0)
    return {
        "v9_template_data_redefine.bin": stream((9, 0, v9(7, t256)), (9, 0, v9(7, d256)), (9, 1, v9(7, d256)),
                                               (9, 0, v9(7, t256b, d256b)), (9, 3, v9(7, t256, d256))),
        "v9_sampler_options.bin": stream((9, 0, v9(1, opt, optd)), (9, 0, v9(1, t256)), (9, 0, v9(1, d256))),
        "v9_template_flood.bin": stream((9, 0, v9(2, flood)), (9, 1, v9(2, flood)), (9, 2, v9(3, flood)),
                                        (9, 0, v9(2, flood_data)), (9, 0, v9(9, t256, d256))),
        "ipfix_withdraw_and_reuse.bin": stream((10, 2, ipfix(1, i256, iopt)), (10, 2, ipfix(1, ioptd, isel, iseld)),
                                               (10, 2, ipfix(1, i256d, withdraw, i256d)), (10, 2, ipfix(1, withdraw_all)),
                                               (10, 2, ipfix(1, i256, i256d))),
        "mixed_versions_variable.bin": stream((10, 0, ipfix(7, ivar, ivard)), (9, 0, v9(7, t256, d256)),
                                              (10, 0, ipfix(7, ivard)), (9, 0, v9(7, d256))),
    }


def main():
    for name, seeds in (("netflow_v9", v9_seeds()), ("ipfix", ipfix_seeds()), ("template_stream", stream_seeds())):
        folder = os.path.join(ROOT, "fuzz", "corpus", name)
        os.makedirs(folder, exist_ok=True)
        for file, data in seeds.items():
            with open(os.path.join(folder, file), "wb") as f:
                f.write(data)
        print(f"{folder}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()

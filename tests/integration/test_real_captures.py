#!/usr/bin/python3
"""Every real capture of ../shared/data/real/ (87 exports of real devices and exporters, see its
README) decoded by overflowd agrees with tshark's decoding of the same file, flow by flow.

`overflowd -f F -r 1 -q` reports every flow that has both addresses (probability min(1, 1 x packets
x interval) = 1, packets being at least 1: docs/decoders.md), in capture order. tshark
(`-d udp.port==4739,cflow -T json`) gives the same flows in the same order; flows without both
addresses are left out on its side too. Compared per flow: source and destination address, ports
and protocol when tshark shows them, the byte and packet counts (as overflowd chooses among a
record's counters, docs/decoders.md) for NetFlow and IPFIX, and, for sFlow, the input/output
interface or its format. On
top, FACTS checks what issue 10 found wrong on some of these captures.

Where the two legitimately differ is listed once, in DIFFERENCES below, with the reason. Any other
difference fails the test, and so does a listed one that no longer happens (the list stays true).

Skips (exit 77) when tshark, the binary or the captures are absent.
"""
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import overflowd_testlib as lib  # noqa: E402

import dpkt  # noqa: E402  (python3-dpkt)

REAL = lib.shared_data_dir() / "real"
TSHARK_VERSION = ""

# Every legitimate difference, in one place: capture -> (what differs, why).
#   "tshark_fewer": tshark decodes fewer flows (it stops where overflowd goes on): its flows must be
#                   overflowd's, in the same order, with some of overflowd's missing between them.
#   "overflowd_fewer": the other way round: overflowd's flows are tshark's, some of tshark's missing.
#   "biflow":       RFC 5103 biflows: overflowd reports the reverse direction as a flow of its own,
#                   right after its forward flow (docs/decoders.md); tshark shows one record. Those
#                   reverse flows are taken out (there must be some) before comparing.
#   "not_compared": the capture is not compared flow by flow (invalid on purpose, or tshark cannot
#                   decode it as the exporter meant); overflowd must still decode it without error.
DIFFERENCES = {
    "ls_nf5_invalid01.pcap": ("not_compared", "NetFlow v5 with a deliberately invalid header count"),
    "ls_nf5_invalid02.pcap": ("not_compared", "NetFlow v5 with a deliberately invalid header count"),
    "gl_nf5_dat.pcap": ("not_compared", "two v5 datagrams glued into one UDP payload: overflowd refuses the "
                                        "trailing bytes, tshark decodes what the header count says"),
    "ls_nf9_invalid01.pcap": ("tshark_fewer", "softflowd's v9 header count is wrong and tshark obeys it; "
                                              "overflowd follows the FlowSet lengths"),
    "gl_netflow9.pcap": ("tshark_fewer", "softflowd counts only the template records in the v9 header count "
                                         "and tshark obeys it: it drops the data FlowSets after them"),
    "gl_nf9_dat.pcap": ("tshark_fewer", "datagrams split and glued by the test data's authors: the v9 header "
                                        "counts no longer match the FlowSets, and tshark obeys them"),
    "ak_ipfixprobe.pcap": ("biflow", "ipfixprobe exports biflows (reverse elements, PEN 29305)"),
    "ls_ipfix_yaf.pcap": ("biflow", "YAF exports biflows (reverse elements, PEN 29305)"),
    "ls_ipfix_ixia.pcap": ("biflow", "Ixia exports biflows (its reverse octet/packet counts, PEN 3054)"),
    "ak_eompls_cw.pcap": ("overflowd_fewer", "sampled frames inside MPLS labels (Ethernet over MPLS): "
                                             "overflowd's packet walk stops at MPLS, tshark walks on"),
    "ls_nf9_h3c.pcap": ("tshark_fewer", "tshark stops at a field it finds malformed; the FlowSet framing holds"),
}

# What issue 10 found wrong on these captures, checked on overflowd's reports (data members).
FACTS = {
    "ak_physicalinterfaces.pcap": ("IPv4 flows of a dual-stack template keep their IPv4 addresses",
                                   lambda rs: len(rs) == 8 and all(r["saddr"] != "::" and r["daddr"] != "::" for r in rs)),
    "ls_nf9_cisco_asa1.pcap": ("bytes-only NSEL records are reported",
                               lambda rs: len(rs) > 0 and all("bcount" in r and "pcount" not in r for r in rs)),
    "ls_nf9_cisco_asa2.pcap": ("initiatorOctets/responderOctets are read",
                               lambda rs: len(rs) > 0 and any(r.get("bcount", 0) > 0 for r in rs)),
    "ak_nfv9_data+templates.pcap": ("the System-scope options give sampling interval 100",
                                    lambda rs: len(rs) > 0 and all(r["sampling_interval"] == 100 for r in rs)),
    "ls_nf9_0length.pcap": ("a template with zero-length fields decodes its 10 records", lambda rs: len(rs) == 10),
    "ak_sflow_data-multiple-interfaces.pcap": ("7 output interfaces are not output 7",
                                               lambda rs: any(r.get("output_format") == "multiple" and r.get("output_value") == 7
                                                              and "output" not in r for r in rs)),
    "ak_sflow_data-discard-interface.pcap": ("a discarded packet has no output interface",
                                             lambda rs: any(r.get("output_format") == "discarded" and "output" not in r for r in rs)),
    "ak_mpls.pcap": ("no ICMP type/code on TCP/UDP flows",
                     lambda rs: all(r.get("protocol") in (1, 58) or "icmp_type" not in r for r in rs)),
}


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def pairs(obj):
    return obj if isinstance(obj, list) else []


def first(obj, *keys):
    for key in keys:
        for k, v in pairs(obj):
            if k == key:
                return v
    return None


def walk(obj, visit):
    """Depth-first over (key, value) pairs; visit(key, value) returns True to stop descending."""
    for k, v in pairs(obj):
        if not visit(k, v):
            walk(v, visit)


ZERO = {"0.0.0.0", "::"}


def address(flow, key):
    """An address element as overflowd reads it: the later occurrence of a repeated element (a
    tunnel's inner header), unless it is all zero and an earlier one is not."""
    values = [v for k, v in pairs(flow) if k == key]
    set_values = [v for v in values if v not in ZERO]
    return set_values[-1] if set_values else (values[0] if values else None)


def addresses(flow):
    """The record's source and destination as overflowd chooses them for dual-stack templates: the
    family with more non-zero addresses; when both have as many set, the family whose fields come
    later in the template (docs/decoders.md)."""
    s4, d4 = address(flow, "cflow.srcaddr"), address(flow, "cflow.dstaddr")
    s6, d6 = address(flow, "cflow.srcaddrv6"), address(flow, "cflow.dstaddrv6")
    if s6 is None and d6 is None:
        return s4, d4
    if s4 is None and d4 is None:
        return s6, d6
    set4 = sum(a is not None and a not in ZERO for a in (s4, d4))
    set6 = sum(a is not None and a not in ZERO for a in (s6, d6))
    order = [k for k, _ in pairs(flow) if k in ("cflow.srcaddr", "cflow.dstaddr", "cflow.srcaddrv6", "cflow.dstaddrv6")]
    v6_last = order[-1].endswith("v6")
    if set6 > set4 or (set6 == set4 and set6 > 0 and v6_last):
        return s6, d6
    return s4, d4


# tshark's names of the counters overflowd reads, with their rank (docs/decoders.md: a non-zero
# count wins over a zero one; then delta over total over post over initiator + responder).
OCTETS = {"cflow.octets": 3, "cflow.permanent_octets": 2, "cflow.post_octets": 1}
PACKETS = {"cflow.packets": 3, "cflow.permanent_packets": 2, "cflow.post_packets": 1}


def count(flow, ranks, initiator, responder):
    """The count overflowd chooses among a record's counters, or None when it has none."""
    best, best_rank = None, 0
    for k, v in pairs(flow):
        if k in ranks:
            value = int(v)
            rank = 1 + ranks[k] + (4 if value else 0)
            if rank >= best_rank:
                best, best_rank = value, rank
    parts = [int(v) for k, v in pairs(flow) if k in (initiator, responder)]
    if parts:
        value = sum(parts)
        if 1 + (4 if value else 0) > best_rank:
            best = value
    return best


def counts(f, flow):
    """bcount and pcount as overflowd reports them: pcount only when the exporter gave a non-zero
    one (else it is estimated for sampling and left out of the report)."""
    octets = count(flow, OCTETS, "cflow.initiator_octets", "cflow.responder_octets")
    packets = count(flow, PACKETS, "cflow.initiator_packets", "cflow.responder_packets")
    if octets is not None:
        f["bcount"] = octets
    if packets is not None:
        f["pcount"] = packets or None


def cflow_flows(layer):
    flows = []

    def visit(k, v):
        if (k.startswith("Flow ") or k.startswith("pdu ")) and isinstance(v, list):
            saddr, daddr = addresses(v)
            section = first(v, "cflow.data_link_frame_section_tree")
            if saddr is None and daddr is None and section is not None:
                # A record that is a sampled frame (RFC 7133): its first (outer) IP header.
                ip = []
                walk(section, lambda k, t: (k in ("ip", "ipv6") and not ip and ip.append((k, t))) or k in ("ip", "ipv6"))
                if ip:
                    kind, tree = ip[0]
                    saddr, daddr = first(tree, f"{kind}.src"), first(tree, f"{kind}.dst")
            if saddr is not None and daddr is not None:
                f = {"saddr": saddr, "daddr": daddr}
                for name, key in (("sport", "cflow.srcport"), ("dport", "cflow.dstport"), ("protocol", "cflow.protocol")):
                    value = first(v, key)
                    if value is not None:
                        f[name] = int(value)
                if section is None:
                    counts(f, v)
                flows.append(f)
            return True
        return False

    walk(layer, visit)
    return flows


INTERFACE_FORMATS = {"1": "discarded", "2": "multiple"}


def sflow_interface(f, sample, which):
    tree = first(sample, f"sflow.flow_sample.{which}_interface_tree")
    if tree is not None:  # compact: format bits and value
        fmt = first(tree, f"sflow.flow_sample.{which}_interface_format")
        value = int(first(tree, f"sflow.flow_sample.{which}_interface_value"))
    else:
        fmt = first(sample, f"sflow.flow_sample.{which}_interface_expanded_format")
        value = first(sample, f"sflow.flow_sample.{which}_interface_expanded_value", f"sflow.flow_sample.{which}_interface")
        if fmt is None or value is None:
            return
        value = int(value)
    if fmt in INTERFACE_FORMATS:
        f[f"{which}_format"] = INTERFACE_FORMATS[fmt]
    elif value in (0x3FFFFFFF, 0xFFFFFFFF):
        f[f"{which}_format"] = "internal"
    else:
        f[which] = value


def sflow_flows(layer):
    flows = []
    for key, sample in pairs(layer):
        if not (key.startswith("Flow sample") or key.startswith("Expanded flow sample")):
            continue
        f = {}
        ip = []

        def visit(k, v):
            if k in ("ip", "ipv6") and not ip:
                ip.append((k, v))
                return True
            return False

        walk(sample, visit)
        if not ip:
            continue  # no IP packet (ARP, ...): overflowd skips the sample too
        kind, tree = ip[0]
        f["saddr"] = first(tree, f"{kind}.src")
        f["daddr"] = first(tree, f"{kind}.dst")
        sflow_interface(f, sample, "input")
        sflow_interface(f, sample, "output")
        flows.append(f)
    return flows


def decode_as(pcap):
    """tshark's -d options: each UDP destination port of the capture as cflow or sflow (by the
    payload's version word), since some exporters use ports tshark does not know."""
    ports = {}
    with open(pcap, "rb") as f:
        reader = dpkt.pcapng.Reader(f) if pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        for _, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.udp.UDP):
                udp = ip.data
                ports.setdefault(udp.dport, "sflow" if bytes(udp.data)[:4] == b"\0\0\0\x05" else "cflow")
    args = []
    for port, proto in sorted(ports.items()):
        args += ["-d", f"udp.port=={port},{proto}"]
    return args


# tshark's JSON per capture, kept between runs (CI runs this test twice: plain and under ASan) in the
# temporary folder, keyed by the capture's bytes, the options and tshark's version: a tshark run
# costs 0.2 s of start-up, most of this test's time.
CACHE = Path(tempfile.gettempdir()) / "overflowd-tshark-cache"


def tshark_json(pcap, args):
    key = hashlib.sha256(pcap.read_bytes() + repr(args).encode() + TSHARK_VERSION.encode()).hexdigest()
    cached = CACHE / f"{key}.json"
    if cached.is_file():
        return cached.read_text()
    out = subprocess.run(["tshark", "-n", "-r", str(pcap)] + args, capture_output=True, text=True, timeout=120).stdout
    with contextlib.suppress(OSError):
        CACHE.mkdir(exist_ok=True)
        tmp = CACHE / f"{key}.{os.getpid()}.tmp"
        tmp.write_text(out)
        tmp.replace(cached)
    return out


def tshark_flows(pcap):
    out = tshark_json(pcap, decode_as(pcap) + ["-T", "json", "-J", "cflow sflow"])
    flows = []
    for packet in json.loads(out or "[]", object_pairs_hook=list):
        layers = first(first(packet, "_source"), "layers")
        for k, layer in pairs(layers):
            if k == "cflow":
                flows += cflow_flows(layer)
            elif k == "sflow":
                flows += sflow_flows(layer)
    return flows


def overflowd_flows(pcap):
    run = subprocess.run([str(lib.binary_path()), "-f", str(pcap), "-r", "1", "--seed", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (pcap.name, run.returncode, run.stderr[-2000:])
    assert not lib.sanitizer_report(run.stderr), run.stderr[-4000:]
    reports = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return [r["flowdata"]["data"] for r in reports], lib.parse_summary(run.stderr)


def compare(pcap):
    """None when they agree as they should, else a description of the difference."""
    expected = tshark_flows(pcap)
    got, summary = overflowd_flows(pcap)
    if pcap.name in FACTS:
        what, holds = FACTS[pcap.name]
        if not holds(got):
            return f"not so: {what}"
    kind = DIFFERENCES.get(pcap.name, (None, ""))[0]
    if kind == "not_compared":
        return None
    if kind == "biflow":
        def swapped(a, b):
            return (a.get("saddr"), a.get("daddr"), a.get("sport"), a.get("dport"), a.get("protocol")) == \
                   (b.get("daddr"), b.get("saddr"), b.get("dport"), b.get("sport"), b.get("protocol"))
        forward = [g for i, g in enumerate(got) if i == 0 or not swapped(g, got[i - 1])]
        if len(forward) == len(got):
            return "listed as biflow, but overflowd reported no reverse flow"
        got = forward
        expected = [{k: v for k, v in e.items() if k not in ("pcount", "bcount")} for e in expected]
    # Compare only what tshark shows of each flow.
    got_cut = [{k: g.get(k) for k in want} for g, want in zip(got, expected)]
    if kind == "tshark_fewer":
        if len(expected) >= len(got):
            return f"listed as tshark_fewer, but tshark has {len(expected)} flows and overflowd {len(got)}"
        return subsequence(expected, got, "tshark", "overflowd")
    if kind == "overflowd_fewer":
        if len(got) >= len(expected):
            return f"listed as overflowd_fewer, but overflowd has {len(got)} flows and tshark {len(expected)}"
        return subsequence([{k: g.get(k) for k in expected[0]} for g in got], expected, "overflowd", "tshark")
    if len(got) != len(expected):
        return f"{len(got)} flows, tshark {len(expected)}; counters {summary}; " + (first_difference(got_cut, expected) or "")
    return first_difference(got_cut, expected)


def subsequence(fewer, more, fewer_name, more_name):
    """None when every flow of `fewer` is in `more`, in the same order (compared on fewer's keys)."""
    i = 0
    for m in more:
        if i < len(fewer) and {k: m.get(k) for k in fewer[i]} == fewer[i]:
            i += 1
    return None if i == len(fewer) else f"{fewer_name}'s flow {i} {fewer[i]} is not among {more_name}'s, in order"


def first_difference(got, expected):
    for i, (g, want) in enumerate(zip(got, expected)):
        if g != want:
            return f"flow {i}: overflowd {g}, tshark {want}"
    return None


def main():
    if shutil.which("tshark") is None:
        skip("tshark is not installed")
    if not REAL.is_dir():
        skip(f"{REAL} is absent (a fresh clone has no ../shared/data)")
    lib.require_binary()
    captures = sorted(REAL.glob("*.pcap"))
    if not captures:
        skip(f"no captures in {REAL}")
    global TSHARK_VERSION
    TSHARK_VERSION = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    for name in list(DIFFERENCES) + list(FACTS):
        assert (REAL / name).is_file(), f"DIFFERENCES names {name}, which is not in {REAL}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(compare, captures))
    failures = [(pcap.name, r) for pcap, r in zip(captures, results) if r]
    for name, why in failures:
        print(f"FAIL {name}: {why}")
    if failures:
        return 1
    print(f"ok: {len(captures)} captures agree with tshark ({len(DIFFERENCES)} listed differences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

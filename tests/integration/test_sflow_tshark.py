#!/usr/bin/python3
"""overflowd's sFlow v5 reports on the shared sflow.pcap agree, sample by sample and field by
field, with tshark's own decoding of the same file.

`overflowd -f sflow.pcap -r 1 -q` reports every flow sample (probability min(1, 1 x 1 x 300) = 1),
in capture order; tshark's JSON (read with duplicate keys kept, in order) gives the same samples in
the same order. Also checks the capture's documented facts: 5,855 flow samples and 502 counter
samples, all in one TCP conversation 192.168.1.2:60565 <-> 192.168.1.3:36875 (3,901 and 1,954
samples by direction), sampling rate 300.

Skips (exit 77) when tshark or the capture is absent.
"""
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
OVERFLOWD = Path(os.environ.get("OVERFLOWD", HERE / "../../build/overflowd"))
SHARED = Path(os.environ.get("OVERFLOWD_SHARED_DATA", HERE / "../../../shared/data"))
PCAP = SHARED / "sflow.pcap"

A = ("192.168.1.2", 60565)
B = ("192.168.1.3", 36875)


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def pairs(obj):
    """tshark JSON objects are read as lists of (key, value) pairs: duplicate keys are kept, in order."""
    return obj if isinstance(obj, list) else []


def first(obj, key):
    for k, v in pairs(obj):
        if k == key:
            return v
    return None


def children(obj, prefix):
    return [v for k, v in pairs(obj) if k.startswith(prefix)]


def tshark_samples():
    """Every flow sample of the capture as tshark decodes it, in order, and the counter-sample count."""
    out = subprocess.run(["tshark", "-r", str(PCAP), "-T", "json", "-J", "frame sflow"],
                         check=True, capture_output=True, text=True).stdout
    packets = json.loads(out, object_pairs_hook=list)
    flows, counters = [], 0
    for packet in packets:
        layers = first(first(packet, "_source"), "layers")
        frame, sflow = first(layers, "frame"), first(layers, "sflow")
        assert sflow is not None, "a packet of sflow.pcap that tshark does not see as sFlow"
        assert first(sflow, "sflow_245.version") == "5"
        received_ms = int(Decimal(first(frame, "frame.time_epoch")) * 1000)
        agent = first(sflow, "sflow_245.agent") or first(sflow, "sflow_245.agent.v6")
        samples = 0
        for key, sample in pairs(sflow):
            if key.startswith("Counters sample") or key.startswith("Expanded counters sample"):
                counters += 1
                samples += 1
                continue
            if not (key.startswith("Flow sample") or key.startswith("Expanded flow sample")):
                continue
            samples += 1
            raw = children(sample, "Raw packet header")
            assert len(raw) == 1, f"expected one raw packet header per sample, got {len(raw)}"
            raw = raw[0]
            assert first(raw, "sflow_245.header_protocol") == "1"  # Ethernet
            tree = first(raw, "sflow_245.header_tree")
            ip, tcp = first(tree, "ip"), first(tree, "tcp")
            out_tree = first(sample, "sflow.flow_sample.output_interface_tree")
            flows.append({
                "bcount": int(first(raw, "sflow_245.header.frame_length")),
                "daddr": first(ip, "ip.dst"),
                "dport": int(first(tcp, "tcp.dstport")),
                "etime": received_ms,
                "exporter": agent,
                "flags": int(first(tcp, "tcp.flags"), 16) & 0xff,
                "input": int(first(sample, "sflow.flow_sample.input_interface")),
                "output": int(first(out_tree, "sflow.flow_sample.output_interface_value")),
                "pcount": 1,
                "protocol": int(first(ip, "ip.proto")),
                "saddr": first(ip, "ip.src"),
                "sampling_interval": int(first(sample, "sflow.flow_sample.sampling_rate")),
                "sport": int(first(tcp, "tcp.srcport")),
                "stime": received_ms,
                "tos": int(first(ip, "ip.dsfield"), 16),
            })
        assert samples == int(first(sflow, "sflow_245.numsamples"))
    return flows, counters


def overflowd_reports(quiet=True):
    cmd = [str(OVERFLOWD), "-f", str(PCAP), "-r", "1"] + (["-q"] if quiet else [])
    run = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()], run.stderr


def main():
    if shutil.which("tshark") is None:
        skip("tshark is not installed")
    if not PCAP.is_file():
        skip(f"{PCAP} is absent (a fresh clone has no ../shared/data)")
    if not OVERFLOWD.is_file():
        print(f"FAIL: no overflowd binary at {OVERFLOWD}")
        return 1

    expected, counter_samples = tshark_samples()
    reports, _ = overflowd_reports()

    # The capture's documented facts, from tshark's side.
    assert len(expected) == 5855, len(expected)
    assert counter_samples == 502, counter_samples
    assert all(f["sampling_interval"] == 300 for f in expected)
    directions = {}
    for f in expected:
        key = ((f["saddr"], f["sport"]), (f["daddr"], f["dport"]))
        assert f["protocol"] == 6 and key in ((A, B), (B, A)), key
        directions[key] = directions.get(key, 0) + 1
    assert directions == {(A, B): 3901, (B, A): 1954}, directions

    # overflowd: one report per flow sample, in order, each agreeing field by field with tshark.
    assert len(reports) == len(expected), (len(reports), len(expected))
    for i, (report, want) in enumerate(zip(reports, expected)):
        assert report["flowdata"]["sourcetype"] == {"type": "sFlow", "version": 5}, report["flowdata"]["sourcetype"]
        got = report["flowdata"]["data"]
        # Nothing beyond what the sample carries: no next hop, masks or AS numbers without extended
        # router/gateway records, no ICMP fields for TCP.
        assert set(got) == set(want), (i, sorted(set(got) ^ set(want)))
        for field, value in want.items():
            assert got[field] == value, f"sample {i}: {field} is {got[field]!r}, tshark says {value!r}"

    # The counters: every datagram accepted, counter samples skipped, nothing refused.
    _, stderr = overflowd_reports(quiet=False)
    summary = {}
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            summary[parts[0]] = int(parts[1])
    assert summary.get("sflow_v5.datagrams") == 1000, summary
    assert summary.get("sflow_v5.records") == 5855, summary
    assert summary.get("sflow_v5.skipped") == 502, summary
    assert not [k for k in summary if ".rejected." in k], summary
    print(f"ok: {len(reports)} flow samples agree with tshark field by field; {counter_samples} counter samples skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading the kernel's own trace (netlab/trace/prove.py): what xtables-monitor --trace and
nft monitor trace printed for one connection in a real lab (tests/golden/monitor-*.txt: pod
10.244.0.2 to ClusterIP 10.97.189.239:80, DNATed to 10.244.1.2:8000 on the other node), the
counters fallback, and the comparison with the walker's prediction.
"""

from __future__ import annotations

import pathlib

from netlab.model.trace import TraceMatch
from netlab.trace.path import Hop, Path
from netlab.trace.prove import (
    KernelHop,
    counter_hits,
    kernel_dnat,
    matching_path,
    packet_ids,
    parse_nft,
    parse_xtables,
    trace_table_script,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"
CHAINS = ["PREROUTING", "KUBE-SERVICES", "KUBE-SVC-7CR5Y7OTXOGQWUQY",
          "KUBE-SEP-J6CHEYK7ZZU2B4XO", "FORWARD", "FORWARD", "FORWARD", "FORWARD",
          "POSTROUTING", "KUBE-POSTROUTING", "POSTROUTING", "FLANNEL-POSTRTG"]


def test_xtables_monitor_first_packet_only_and_netlab_table_left_out():
    hops = parse_xtables((GOLDEN / "monitor-xtables.txt").read_text())
    assert [h.chain for h in hops] == CHAINS
    assert hops[1].rule.startswith("-d 10.97.189.239/32 -p tcp -m comment")
    assert hops[1].verdict == "jump KUBE-SVC-7CR5Y7OTXOGQWUQY"
    assert hops[9].verdict == "return"
    assert kernel_dnat(hops) == "10.244.1.2:8000"


def test_nft_monitor_reads_the_same_path():
    hops = parse_nft((GOLDEN / "monitor-nft.txt").read_text())
    assert [h.chain for h in hops] == CHAINS
    assert {h.table for h in hops} == {"nat", "filter"}
    assert kernel_dnat(hops) == "10.244.1.2:8000"


def test_the_trace_table_is_netlabs_own_and_matches_one_connection():
    text = trace_table_script(TraceMatch("10.244.0.2", "10.96.0.10", 53, "udp"), local=False)
    assert text.splitlines() == [
        "add table ip netlab-trace",
        "add chain ip netlab-trace trace { type filter hook prerouting priority -350; }",
        "add rule ip netlab-trace trace ip saddr 10.244.0.2 ip daddr 10.96.0.10 udp dport 53 "
        "meta nftrace set 1"]
    assert "hook output" in trace_table_script(TraceMatch("a", "b", 1), local=True)


def test_counters_that_moved():
    before = "*nat\n[0:0] -A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-SVC-A\n" \
             "[3:180] -A KUBE-SVC-A -j KUBE-SEP-B\nCOMMIT\n"
    after = before.replace("[0:0]", "[1:60]")
    assert [(h.chain, h.rule) for h in counter_hits(before, after)] == [
        ("KUBE-SERVICES", "-d 10.96.0.1/32 -j KUBE-SVC-A")]


def test_the_kernel_path_is_compared_with_the_predicted_one():
    hops = parse_xtables((GOLDEN / "monitor-xtables.txt").read_text())
    right = Path(0.5, (Hop("PREROUTING", "", table="nat"), Hop("KUBE-SERVICES", "", table="nat"),
                       Hop("KUBE-SEP-J6CHEYK7ZZU2B4XO", "", table="nat")), "accept",
                 "10.244.1.2:8000")
    other = Path(0.5, (Hop("KUBE-SEP-OTHER", "", table="nat"),), "accept", "10.244.0.2:8000")
    assert matching_path([other, right], hops) == (right, True)
    wrong_chain = Path(1.0, (Hop("KUBE-SVL-X", "", table="nat"),), "accept", "10.244.1.2:8000")
    assert matching_path([wrong_chain], hops) == (wrong_chain, False)
    assert matching_path([other], hops) == (None, False)


def test_tables_at_one_priority_may_run_in_either_order():
    """kube-proxy's table and iptables' nat table hook in at the same priority: the kernel
    runs the one registered last first, so the order is checked within each table."""
    kernel = [KernelHop("nat", "POSTROUTING", "", "jump FLANNEL-POSTRTG"),
              KernelHop("nat", "FLANNEL-POSTRTG", "", "accept"),
              KernelHop("kube-proxy", "nat-postrouting", "", "jump masquerading"),
              KernelHop("kube-proxy", "masquerading", "", "return")]
    predicted = Path(1.0, (Hop("nat-postrouting", ""), Hop("masquerading", ""),
                           Hop("POSTROUTING", "", table="nat"),
                           Hop("FLANNEL-POSTRTG", "", table="nat")), "accept", masquerade=True)
    assert matching_path([predicted], kernel) == (predicted, True)
    backwards = Path(1.0, (Hop("masquerading", ""), Hop("nat-postrouting", "")), "accept")
    assert matching_path([backwards], kernel) == (backwards, False)


def test_packets_are_told_apart_by_their_ip_id():
    lines = (GOLDEN / "monitor-xtables.txt").read_text().splitlines(True)
    assert packet_ids(lines) == ["38993", "38994", "38995", "38996"]
    assert packet_ids(lines[:4]) == ["38993"]  # the SYN's trace is not complete yet
    nft = (GOLDEN / "monitor-nft.txt").read_text().splitlines(True)
    assert packet_ids(nft)[:2] == ["38993", "38994"]

"""The packet walker over kube-proxy's nftables rules (netlab/trace/nftables.py), in the way of
kube-proxy's own helpers_test.go: where a new connection lands, with which odds, whether it is
masqueraded, and which rule drops or rejects it.

Address plan (kube-proxy's TestOverallNFTablesRules, as in test_nftables_render.py): cluster
CIDR 10.0.0.0/8, node 192.168.0.2, pods 10.0.0.2 (client) and 10.180.0.x (endpoints),
services ns1..ns6/svcN at 172.30.0.41..46; outside clients 203.0.113.5 (inside svc5's
loadBalancerSourceRanges 203.0.113.0/25) and 198.51.100.7 (outside them).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from netlab.plan.cni import render_masquerade, render_portmap
from netlab.proxy.iptables import merge_tables
from netlab.proxy.nftables import render
from netlab.trace import iptables as iptables_walk
from netlab.trace.nftables import Packet, TraceError, parse, trace
from tests.test_nftables_render import CFG, SIX
from tests.test_workload_kinds import daemonset, ds_pods

NODE = "192.168.0.2"
POD, OUTSIDE, ALLOWED = "10.0.0.2", "198.51.100.7", "203.0.113.5"

# (name, packet, expected {(destination or verdict, masqueraded, odds)})
FLOWS = [
    ("no service: untouched", Packet(POD, "10.0.0.3", 80), {("accept", False, 1.0)}),
    ("cluster IP, one endpoint", Packet(POD, "172.30.0.41", 80),
     {("10.180.0.1:80", False, 1.0)}),
    ("cluster IP, two endpoints", Packet(POD, "172.30.0.44", 80),
     {("10.180.0.4:80", False, 0.5), ("10.180.0.5:80", False, 0.5)}),
    ("cluster IP from outside the cluster CIDR is masqueraded", Packet(OUTSIDE, "172.30.0.41",
                                                                       80),
     {("10.180.0.1:80", True, 1.0)}),
    ("hairpin: an endpoint to its own service", Packet("10.180.0.1", "172.30.0.41", 80),
     {("10.180.0.1:80", True, 1.0)}),
    ("ETP Local external IP from the node itself", Packet(NODE, "192.168.99.22", 80, local=True),
     {("10.180.0.2:80", True, 1.0)}),
    ("ETP Local external IP from a pod: short-circuited", Packet(POD, "192.168.99.22", 80),
     {("10.180.0.2:80", False, 1.0)}),
    ("ETP Local without local endpoints, from outside", Packet(OUTSIDE, "192.168.99.22", 80),
     {("drop", False, 1.0)}),
    ("NodePort from a pod", Packet(POD, NODE, 3001), {("10.180.0.2:80", False, 1.0)}),
    ("ETP Local NodePort from outside, no local endpoint", Packet(OUTSIDE, NODE, 3001),
     {("drop", False, 1.0)}),
    ("ETP Cluster NodePort from outside", Packet(OUTSIDE, NODE, 3003),
     {("10.180.0.3:80", True, 1.0)}),
    ("no endpoints: rejected", Packet(POD, "172.30.0.46", 80), {("reject", False, 1.0)}),
    ("a cluster IP's other port: rejected", Packet(POD, "172.30.0.41", 81),
     {("reject", False, 1.0)}),
    ("an unallocated cluster IP: dropped", Packet(POD, "172.30.0.99", 80),
     {("drop", False, 1.0)}),
    ("load balancer IP from an allowed source", Packet(ALLOWED, "5.6.7.8", 80),
     {("10.180.0.3:80", True, 1.0)}),
    ("load balancer IP from a blocked source", Packet(OUTSIDE, "5.6.7.8", 80),
     {("drop", False, 1.0)}),
    ("UDP to a TCP service port: rejected", Packet(POD, "172.30.0.41", 80, proto="udp"),
     {("reject", False, 1.0)}),
]


def outcomes(rules, pkt, cni=None) -> set[tuple[str, bool, float]]:
    return {(p.dnat if p.dnat and p.verdict == "accept" else p.verdict, p.masquerade,
             round(p.odds, 6)) for p in trace(rules, pkt, {NODE}, cni)}


@pytest.fixture(scope="module")
def rules():
    return parse(render(SIX, CFG, "172.30.0.0/16", [NODE]).text)


@pytest.mark.parametrize("name,pkt,want", FLOWS, ids=[f[0] for f in FLOWS])
def test_flows_through_the_rendered_rules(rules, name, pkt, want):
    assert outcomes(rules, pkt) == want


def test_the_path_names_each_chain_and_rule(rules):
    (path,) = trace(rules, Packet(ALLOWED, "5.6.7.8", 80), {NODE})
    chains = [h.chain for h in path.hops]
    assert chains == [
        "filter-prerouting-pre-dnat", "firewall-check",  # inside the source ranges: on
        "nat-prerouting", "services", "external-HVFWP5L3-ns5/svc5/tcp/p80",
        "mark-for-masquerade", "external-HVFWP5L3-ns5/svc5/tcp/p80",
        "service-HVFWP5L3-ns5/svc5/tcp/p80",  # no affinity entry yet: numgen picks
        "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80",
        "filter-forward", "filter-forward", "nat-postrouting", "masquerading"]
    assert path.hops[3].note == "service-ips[5.6.7.8 . tcp . 80]"
    assert path.hops[-1].rule == "masquerade fully-random"
    reject = trace(rules, Packet(POD, "172.30.0.46", 80), {NODE})[0]
    assert (reject.hops[-1].chain, reject.hops[-1].rule) == ("reject-chain", "reject")


def test_a_rule_it_cannot_read_is_named():
    text = "add chain ip kube-proxy nat-prerouting\n" \
           "add rule ip kube-proxy nat-prerouting tcp flags syn counter\n"
    with pytest.raises(TraceError, match="cannot read 'tcp flags syn counter'"):
        trace(parse(text), Packet(POD, "172.30.0.41", 80), {NODE})


@pytest.mark.root
def test_the_kernels_listing_walks_as_the_rendered_rules(rules):
    """The same walk over what `nft list table` prints once the kernel holds the rules (the
    listing spells several statements its own way), in a namespace of the test's own."""
    if shutil.which("nft") is None:
        pytest.fail("nft is not installed: run scripts/setup")
    text = render(SIX, CFG, "172.30.0.0/16", [NODE]).text
    r = subprocess.run(["unshare", "-n", "sh", "-c",
                        "nft -f - && nft list table ip kube-proxy"], input=text,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    listed = parse(r.stdout)
    assert set(listed.chains) == set(rules.chains)
    for _, pkt, want in FLOWS:
        assert outcomes(listed, pkt) == want, pkt


def cni_tables():
    """What the pod network keeps in iptables beside kube-proxy's table: flannel's masquerade
    for pod traffic leaving the cluster, and the portmap plugin's hostPort (node port 8080 to
    a DaemonSet pod's 80)."""
    pod = next(p for p in ds_pods(daemonset()) if p.node == "node1")
    save = merge_tables(render_masquerade("10.0.0.0/8", "10.0.0.0/24"), render_portmap([pod]))
    return iptables_walk.parse(save), pod


def test_the_pod_networks_iptables_rules_are_walked_beside_the_table(rules):
    cni, pod = cni_tables()
    # a pod reaching out of the cluster: flannel masquerades it, kube-proxy has no say
    (out,) = trace(rules, Packet(POD, OUTSIDE, 443), {NODE}, cni)
    assert out.masquerade and out.why_masqueraded.startswith("FLANNEL-POSTRTG: flanneld masq")
    assert [(h.table, h.chain) for h in out.hops][-2:] == [("nat", "POSTROUTING"),
                                                             ("nat", "FLANNEL-POSTRTG")]
    (plain,) = trace(rules, Packet(POD, OUTSIDE, 443), {NODE})
    assert not plain.masquerade  # without the pod network's rules nothing masquerades it
    # pod to service stays unmasqueraded; a node port from outside is kube-proxy's masquerade
    assert outcomes(rules, Packet(POD, "172.30.0.41", 80), cni) == {
        ("10.180.0.1:80", False, 1.0)}
    (np,) = trace(rules, Packet(OUTSIDE, NODE, 3003), {NODE}, cni)
    assert np.masquerade and np.why_masqueraded.startswith("external-")
    # a host port: the portmap plugin's DNAT in iptables' nat table
    (hp,) = trace(rules, Packet(OUTSIDE, NODE, 8080), {NODE}, cni)
    assert (hp.verdict, hp.dnat) == ("accept", f"{pod.ip}:80")
    assert any(h.table == "nat" and h.chain.startswith("CNI-DN-") for h in hp.hops)

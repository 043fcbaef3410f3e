"""Terminating endpoints as kube-proxy 1.28+ uses them (issue 11), rendered without root:
serving-but-terminating endpoints take traffic only when no ready endpoint is left, separately
for Cluster and Local traffic policy; terminating endpoints that no longer serve never do.
The cases follow kube-proxy's own proxier tests (TestEndpointSliceWithTerminatingEndpoints*):
golden rules for the mixed case, a packet walk for each.

Address plan: node1 172.18.0.2 (pods 10.244.0.0/24), node2 172.18.0.3 (10.244.1.0/24); one
selector-less Service "svc" at 10.96.0.150:80 (NodePort 30150), its endpoints hand-written as
an EndpointSlice on port 80: .0.10 (node1) .0.11 (node1) .1.10 (node2) .1.11 (node2).
Set NETLAB_UPDATE_GOLDEN=1 to rewrite the golden file after a reviewed change.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from netlab.plan.build import plan_lab
from netlab.proxy import core, iptables, ipvs
from tests.helpers import Packet, jump_targets_exist, lab_doc, scenario, trace

GOLDEN = pathlib.Path(__file__).parent / "golden"
NODE1 = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node1", node_ip="172.18.0.2")
NODE2 = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node2", node_ip="172.18.0.3")
ADDRS = {"a": ("10.244.0.10", "node1"), "b": ("10.244.0.11", "node1"),
         "c": ("10.244.1.10", "node2"), "d": ("10.244.1.11", "node2")}


def lab(etp: str, conditions: dict[str, tuple[bool, bool, bool]]):
    """The Service with ETP (and ITP) policy and endpoints a..d with (ready, serving,
    terminating) conditions; endpoints not named are absent."""
    eps = "\n".join(
        f"  - {{addresses: [{ADDRS[k][0]}], nodeName: {ADDRS[k][1]}, conditions: "
        f"{{ready: {str(r).lower()}, serving: {str(s).lower()}, "
        f"terminating: {str(t).lower()}}}}}" for k, (r, s, t) in conditions.items())
    return scenario(lab_doc(nodes=("node1", "node2")), f"""apiVersion: v1
kind: Service
metadata: {{name: svc}}
spec:
  type: NodePort
  clusterIP: 10.96.0.150
  externalTrafficPolicy: {etp}
  ports: [{{name: p80, port: 80, targetPort: 80, nodePort: 30150}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: svc-1, labels: {{kubernetes.io/service-name: svc}}}}
addressType: IPv4
ports: [{{name: p80, port: 80, protocol: TCP}}]
endpoints:
{eps}
""")


def rules(sc, cfg=NODE1) -> str:
    plan = plan_lab(sc)[0]
    return iptables.render(core.service_ports(plan.services, plan.endpoints), cfg).text


def dnat(text: str, pkt: Packet, cfg=NODE1, table: str = "nat",
         start: str = "KUBE-SERVICES") -> set[str]:
    return {o.verdict for o in trace(text, pkt, table=table, start=start,
                                     local_ips={cfg.node_ip, "127.0.0.1"})}


FROM_POD = Packet("10.244.0.50", "10.96.0.150", "tcp", 80)
EXTERNAL = Packet("172.18.0.254", "172.18.0.2", "tcp", 30150)
READY, TERMINATING, GONE = (True, True, False), (False, True, True), (False, False, True)


def test_ready_endpoints_win_over_terminating_ones():
    text = rules(lab("Cluster", {"a": READY, "b": TERMINATING, "c": READY, "d": TERMINATING}))
    path = GOLDEN / "terminating-cluster.rules"
    if os.environ.get("NETLAB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
    assert jump_targets_exist(text) == []
    assert dnat(text, FROM_POD) == {"DNAT 10.244.0.10:80", "DNAT 10.244.1.10:80"}


def test_serving_terminating_endpoints_take_traffic_when_none_is_ready():
    text = rules(lab("Cluster", {"a": TERMINATING, "b": GONE, "c": TERMINATING, "d": GONE}))
    assert dnat(text, FROM_POD) == {"DNAT 10.244.0.10:80", "DNAT 10.244.1.10:80"}
    assert dnat(text, EXTERNAL) == {"DNAT 10.244.0.10:80", "DNAT 10.244.1.10:80"}


def test_terminating_endpoints_that_no_longer_serve_never_take_traffic():
    text = rules(lab("Cluster", {"a": GONE, "c": GONE}))
    assert dnat(text, FROM_POD, table="filter") == {"REJECT"}
    assert "--to-destination 10.244." not in text


@pytest.mark.parametrize(("node", "cfg", "expected"), [
    # node1 has only a terminating local endpoint, and node2 a ready one: Local traffic
    # policy falls back to node1's serving-terminating endpoint (KEP-1669)
    ("node1", NODE1, {"DNAT 10.244.0.10:80"}),
    ("node2", NODE2, {"DNAT 10.244.1.10:80"}),
])
def test_local_policy_falls_back_to_local_terminating_endpoints(node, cfg, expected):
    text = rules(lab("Local", {"a": TERMINATING, "c": READY}), cfg)
    pkt = Packet("172.18.0.254", cfg.node_ip, "tcp", 30150)
    assert dnat(text, pkt, cfg) == expected
    # pods still reach it through the cluster endpoints: the ready one only
    assert dnat(text, FROM_POD, cfg) == {"DNAT 10.244.1.10:80"}


def test_local_policy_without_any_serving_local_endpoint_drops():
    text = rules(lab("Local", {"a": GONE, "c": READY}))
    pkt = Packet("172.18.0.254", "172.18.0.2", "tcp", 30150)
    assert dnat(text, pkt) == {"RETURN"}  # never DNATed here...
    assert dnat(text, pkt, table="filter", start="KUBE-EXTERNAL-SERVICES") == {"DROP"}


def test_ipvs_uses_the_same_endpoints():
    sc = lab("Cluster", {"a": READY, "b": TERMINATING, "c": TERMINATING})
    plan = plan_lab(sc)[0]
    ports = core.service_ports(plan.services, plan.endpoints)
    servers = {v.key: v for v in ipvs.render(ports, NODE1, ["172.18.0.2"]).virtual_servers}
    assert servers[("10.96.0.150", 80, "TCP")].real_servers == (("10.244.0.10", 80),)
    only_terminating = plan_lab(lab("Cluster", {"b": TERMINATING, "c": TERMINATING}))[0]
    ports = core.service_ports(only_terminating.services, only_terminating.endpoints)
    servers = {v.key: v for v in ipvs.render(ports, NODE1, ["172.18.0.2"]).virtual_servers}
    assert servers[("10.96.0.150", 80, "TCP")].real_servers == (("10.244.0.11", 80),
                                                                 ("10.244.1.10", 80))


# -- the same cases walked in nftables and IPVS modes (netlab/trace) --


def walked(sc, mode: str, pkt: Packet, cfg=NODE1) -> set[str]:
    from netlab.proxy import nftables
    from netlab.trace import iptables as iptables_walk
    from netlab.trace import nftables as nftables_walk
    from netlab.trace.path import Packet as WalkPacket

    plan = plan_lab(sc)[0]
    ports = core.service_ports(plan.services, plan.endpoints)
    wp = WalkPacket(pkt.src, pkt.dst, pkt.dport, pkt.proto)
    ips = {cfg.node_ip, "127.0.0.1"}
    if mode == "nftables":
        text = nftables.render(ports, cfg, "10.96.0.0/12", [cfg.node_ip]).text
        paths = nftables_walk.trace(nftables_walk.parse(text), wp, ips)
    else:
        s = ipvs.render(ports, cfg, (cfg.node_ip,), "rr", False)
        t = iptables_walk.parse(ipvs.render_jumps() + s.iptables, s.ipset_restore(),
                                s.virtual_servers)
        paths = iptables_walk.trace(t, wp, ips | {vs.address for vs in s.virtual_servers})
    return {p.dnat or p.verdict for p in paths}


@pytest.mark.parametrize("mode", ["nftables", "ipvs"])
def test_every_mode_prefers_ready_endpoints_and_falls_back_to_terminating(mode):
    mixed = lab("Cluster", {"a": READY, "b": TERMINATING, "c": READY, "d": TERMINATING})
    assert walked(mixed, mode, FROM_POD) == {"10.244.0.10:80", "10.244.1.10:80"}
    only_terminating = lab("Cluster", {"b": TERMINATING, "d": TERMINATING, "a": GONE})
    assert walked(only_terminating, mode, FROM_POD) == {"10.244.0.11:80", "10.244.1.11:80"}

"""The packet walker over a node's iptables rules and IPVS state (netlab/trace/iptables.py),
through every hook a new connection meets, as kube-proxy's tests walk their rules.

Address plan (test_iptables_render's services scenario): node1 172.18.0.2 (cni0 10.244.0.1),
node2 172.18.0.3; pods on node1 10.244.0.x, on node2 10.244.1.x; web endpoints 10.244.0.2
and 10.244.1.3 on port 8000, "one" 10.244.1.2 (node2); ClusterIPs np 10.96.0.110, lb
10.96.0.111 (LB 192.0.2.10, source ranges 172.18.0.0/24), local 10.96.0.112 (ETP Local, LB
192.0.2.11), sticky 10.96.0.113 (external IP 192.0.2.12), itp 10.96.0.114 (ITP Local);
multi.rules' "empty" 10.96.0.201 has no endpoints; lab client 172.18.0.254, an outsider
198.51.100.7.
"""

from __future__ import annotations

import pytest

from netlab.plan.build import plan_lab
from netlab.plan.cni import render_masquerade, render_portmap
from netlab.proxy import iptables as render_iptables
from netlab.proxy import ipvs
from netlab.proxy.core import service_ports
from netlab.trace.iptables import Packet, TraceError, parse, trace
from netlab.trace.path import merged
from tests.helpers import deployment, lab_doc, scenario
from tests.test_iptables_render import CFG, MULTI, NODE2, rendered, services_scenario
from tests.test_workload_kinds import daemonset, ds_pods

NODE1_IPS = {"172.18.0.2", "10.244.0.1", "127.0.0.1"}
NODE2_IPS = {"172.18.0.3", "10.244.1.1", "127.0.0.1"}
POD, CLIENT, OUTSIDE = "10.244.0.9", "172.18.0.254", "198.51.100.7"


def node_rules(cfg=CFG) -> str:
    """What iptables-save shows in a node: kube-proxy's jumps and chains, the CNI's masquerade."""
    return render_iptables.merge_tables(
        render_iptables.render_bootstrap(), rendered(services_scenario(), cfg),
        render_masquerade("10.244.0.0/16", "10.244.0.0/24" if cfg is CFG else "10.244.1.0/24"))


def outcome(paths) -> set[tuple[str, bool, float]]:
    return {(p.dnat if p.verdict == "accept" and p.dnat else p.verdict, p.masquerade,
             round(p.odds, 6)) for p in merged(paths)}


# (name, node, packet, expected {(destination or verdict, masqueraded, odds)})
FLOWS = [
    ("no service: forwarded untouched", 1, Packet(POD, "10.244.1.5", 80),
     {("accept", False, 1.0)}),
    ("cluster IP, two endpoints half each", 1, Packet(POD, "10.96.0.110", 80),
     {("10.244.0.2:8000", False, 0.5), ("10.244.1.3:8000", False, 0.5)}),
    ("cluster IP from outside the cluster CIDR is masqueraded", 1,
     Packet(CLIENT, "10.96.0.110", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("hairpin: an endpoint reaching itself is masqueraded", 1,
     Packet("10.244.0.2", "10.96.0.110", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", False, 0.5)}),
    ("the node itself to a cluster IP: masqueraded, its source is outside the cluster CIDR",
     1, Packet("172.18.0.2", "10.96.0.110", 80, local=True),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("NodePort from a client: masqueraded", 1, Packet(CLIENT, "172.18.0.2", 30080),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("ETP Local NodePort on a node without a local endpoint: dropped", 1,
     Packet(CLIENT, "172.18.0.2", 30082), {("drop", False, 1.0)}),
    ("ETP Local NodePort on the endpoint's node: the client's address kept", 2,
     Packet(CLIENT, "172.18.0.3", 30082), {("10.244.1.2:8000", False, 1.0)}),
    ("ITP Local without a local endpoint: dropped", 1, Packet(POD, "10.96.0.114", 80),
     {("drop", False, 1.0)}),
    ("ITP Local with one", 2, Packet("10.244.1.9", "10.96.0.114", 80),
     {("10.244.1.2:8000", False, 1.0)}),
    ("LB address from an allowed source", 1, Packet(CLIENT, "192.0.2.10", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("LB address from a source outside loadBalancerSourceRanges: dropped", 1,
     Packet(OUTSIDE, "192.0.2.10", 80), {("drop", False, 1.0)}),
    ("a cluster IP's other port: no kube-proxy rule, pod traffic leaving the cluster", 1,
     Packet(POD, "10.96.0.110", 81), {("accept", True, 1.0)}),
]


@pytest.mark.parametrize("name,node,pkt,expected", FLOWS, ids=[f[0] for f in FLOWS])
def test_flow(name, node, pkt, expected):
    t = parse(node_rules(CFG if node == 1 else NODE2))
    assert outcome(trace(t, pkt, NODE1_IPS if node == 1 else NODE2_IPS)) == expected


def test_the_hops_of_a_cluster_ip_path_name_each_chain_and_rule():
    paths = trace(parse(node_rules()), Packet(POD, "10.96.0.110", 80), NODE1_IPS)
    to_node1 = next(p for p in paths if p.dnat == "10.244.0.2:8000")
    chains = [h.chain for h in to_node1.hops]
    assert chains[:3] == ["PREROUTING", "KUBE-SERVICES", render_iptables.svc_chain(
        "default/np", "tcp")]
    assert chains[3].startswith("KUBE-SEP-")
    assert "--probability 0.5000000000" in to_node1.hops[2].rule
    assert to_node1.hops[1].note == "default/np cluster IP"
    assert to_node1.hops[3].rule.endswith("-j DNAT --to-destination 10.244.0.2:8000")


def test_a_service_without_endpoints_is_rejected_by_the_filter_rule():
    text = render_iptables.merge_tables(render_iptables.render_bootstrap(), rendered(
        scenario(lab_doc(), deployment(replicas=2), MULTI)))
    (path,) = trace(parse(text), Packet(POD, "10.96.0.201", 80), NODE1_IPS)
    assert path.verdict == "reject"
    assert path.hops[-1].chain == "KUBE-SERVICES" and path.hops[-1].note == \
        "default/empty has no endpoints"


def test_iptables_save_spelling_of_marks_is_read():
    # iptables-save prints --or-mark as --set-xmark 0x4000/0x4000, --xor-mark as 0x4000/0x0
    text = node_rules().replace("--or-mark 0x4000", "--set-xmark 0x4000/0x4000").replace(
        "--xor-mark 0x4000", "--set-xmark 0x4000/0x0")
    assert "--set-xmark" in text
    out = outcome(trace(parse(text), Packet(CLIENT, "172.18.0.2", 30080), NODE1_IPS))
    assert out == {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}


def test_an_unknown_match_is_named_in_the_error():
    text = node_rules().replace("-A KUBE-SERVICES ", "-A KUBE-SERVICES -m owner --uid-owner 0 ",
                                1)
    with pytest.raises(TraceError, match="--uid-owner"):
        trace(parse(text), Packet(POD, "10.96.0.110", 80), NODE1_IPS)


# -- IPVS mode: the iptables rules and ipsets kube-proxy writes, then the virtual server --


def ipvs_node():
    plan, _ = plan_lab(services_scenario())
    s = ipvs.render(service_ports(plan.services, plan.endpoints), CFG,
                    ("172.18.0.2", "10.244.0.1"), "rr", False)
    t = parse(ipvs.render_jumps() + s.iptables, s.ipset_restore(), s.virtual_servers)
    # every virtual address sits on kube-ipvs0: the node's own
    return t, NODE1_IPS | {vs.address for vs in s.virtual_servers}


IPVS_FLOWS = [
    ("cluster IP: rr over two real servers", Packet(POD, "10.96.0.110", 80),
     {("10.244.0.2:8000", False, 0.5), ("10.244.1.3:8000", False, 0.5)}),
    ("cluster IP from outside the cluster CIDR: masqueraded", Packet(CLIENT, "10.96.0.110", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("hairpin: KUBE-LOOP-BACK masquerades", Packet("10.244.0.2", "10.96.0.110", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", False, 0.5)}),
    ("NodePort from a client: masqueraded", Packet(CLIENT, "172.18.0.2", 30080),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("LB address from a blocked source: dropped", Packet(OUTSIDE, "192.0.2.10", 80),
     {("drop", False, 1.0)}),
    ("LB address from an allowed source: masqueraded", Packet(CLIENT, "192.0.2.10", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("ETP Local NodePort: KUBE-NODE-PORT-LOCAL keeps the client's address", Packet(
        CLIENT, "172.18.0.2", 30082), {("10.244.1.2:8000", False, 1.0)}),
    ("external IP from a pod: masqueraded", Packet(POD, "192.0.2.12", 80),
     {("10.244.0.2:8000", True, 0.5), ("10.244.1.3:8000", True, 0.5)}),
    ("ITP Local without a local endpoint: no real server, rejected", Packet(
        POD, "10.96.0.114", 80), {("reject", False, 1.0)}),
    ("selectorless: the hand-written address", Packet(POD, "10.96.0.115", 80),
     {("172.18.0.254:80", False, 1.0)}),
]


@pytest.mark.parametrize("name,pkt,expected", IPVS_FLOWS, ids=[f[0] for f in IPVS_FLOWS])
def test_ipvs_flow(name, pkt, expected):
    t, ips = ipvs_node()
    assert outcome(trace(t, pkt, ips)) == expected


def test_ipvs_hop_names_the_virtual_server_and_scheduler():
    t, ips = ipvs_node()
    paths = trace(t, Packet(POD, "10.96.0.110", 80), ips)
    (hop,) = [h for h in paths[0].hops if h.chain == "IPVS"]
    assert hop.rule == "TCP 10.96.0.110:80 rr" and hop.rule == "TCP 10.96.0.110:80 rr"
    assert hop.note.startswith("rr picked 10.244.")


def test_ipvs_virtual_server_without_real_servers_rejects():
    t, ips = ipvs_node()
    key = ("10.96.0.110", 80, "tcp")
    import dataclasses

    t.virtual[key] = dataclasses.replace(t.virtual[key], real_servers=())
    (path,) = trace(t, Packet(POD, "10.96.0.110", 80), ips)
    assert path.verdict == "reject" and "no real server" in path.hops[-1].note


def test_why_a_path_is_masqueraded_names_the_rule_that_asked():
    t = parse(node_rules())
    why = {p.why_masqueraded for p in trace(t, Packet(CLIENT, "172.18.0.2", 30080), NODE1_IPS)}
    assert why == {f"{render_iptables.ext_chain('default/np', 'tcp')}: masquerade traffic "
                   "for default/np external destinations"}
    hairpin = next(p for p in trace(t, Packet("10.244.0.2", "10.96.0.110", 80), NODE1_IPS)
                   if p.masquerade)
    assert hairpin.why_masqueraded.endswith(": default/np, -s 10.244.0.2")
    (leaving,) = trace(t, Packet(POD, "10.96.0.110", 81), NODE1_IPS)
    assert leaving.why_masqueraded == "FLANNEL-POSTRTG: flanneld masq, -s 10.244.0.0/16 " \
        "! -d 224.0.0.0/4"
    assert all(not p.why_masqueraded for p in trace(t, Packet(POD, "10.96.0.110", 80),
                                                     NODE1_IPS))


def host_port_node():
    """Node1's rules with the portmap plugin's: a DaemonSet pod maps node port 8080 to its 80."""
    pod = next(p for p in ds_pods(daemonset()) if p.node == "node1")
    return parse(render_iptables.merge_tables(node_rules(), render_portmap([pod]))), pod


def test_a_host_port_is_forwarded_by_the_portmap_plugins_rules():
    t, pod = host_port_node()
    (path,) = trace(t, Packet(CLIENT, "172.18.0.2", 8080), NODE1_IPS)
    assert (path.verdict, path.dnat, path.masquerade) == ("accept", f"{pod.ip}:80", False)
    dnat = [h for h in path.hops if h.chain.startswith(("CNI-", "PREROUTING"))]
    assert [h.chain for h in dnat][-3:-1] == ["PREROUTING", "CNI-HOSTPORT-DNAT"]
    assert dnat[-1].chain.startswith("CNI-DN-") and dnat[-1].table == "nat"
    assert dnat[-1].rule.endswith(f"-j DNAT --to-destination {pod.ip}:80")
    # the pod reaching its own host port comes back masqueraded (the plugin's hairpin mark)
    (hairpin,) = trace(t, Packet(pod.ip, "172.18.0.2", 8080), NODE1_IPS)
    assert hairpin.dnat == f"{pod.ip}:80" and hairpin.masquerade
    assert hairpin.why_masqueraded.startswith("CNI-HOSTPORT-MASQ: ")
    # a port it does not map is the node's own
    (other,) = trace(t, Packet(CLIENT, "172.18.0.2", 8081), NODE1_IPS)
    assert (other.verdict, other.dnat) == ("accept", "")

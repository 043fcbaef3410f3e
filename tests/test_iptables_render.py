"""kube-proxy iptables mode rendering (no root): golden text, chain names, packet walks.

Address plan: pod CIDR 10.244.0.0/16; service CIDR 10.96.0.0/12 with fixed ClusterIPs
10.96.0.100 (web), 10.96.0.200 (multi), 10.96.0.201 (empty), 10.96.0.202 (other proxy);
node 1 pods 10.244.0.2.., node 2 pods 10.244.1.2..; lab network 172.18.0.0/24.
Set NETLAB_UPDATE_GOLDEN=1 to rewrite the golden files after a reviewed change.
"""

import dataclasses
import os
import pathlib

import pytest

from netlab.plan.build import plan_lab
from netlab.proxy import core, iptables
from tests.helpers import (
    Packet,
    deployment,
    jump_targets_exist,
    lab_doc,
    parse_rules,
    pod,
    scenario,
    service,
    trace,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"
CFG = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node1",
                           node_ip="172.18.0.2")


def rendered(sc, cfg: core.ProxyConfig = CFG, changed=None) -> str:
    plan, _ = plan_lab(sc)
    ports = core.service_ports(plan.services, plan.endpoints)
    return iptables.render(ports, cfg, changed=changed).text


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NETLAB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file"


def classic():
    return scenario(lab_doc(nodes=("node1", "node2")), deployment(replicas=3), pod("client"),
                    service(cluster_ip="10.96.0.100"))


MULTI = """
apiVersion: v1
kind: Service
metadata: {name: multi}
spec:
  clusterIP: 10.96.0.200
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8000}
  - {name: dns, port: 53, targetPort: 8000, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {clusterIP: 10.96.0.201, selector: {app: nobody}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: elsewhere
  labels: {service.kubernetes.io/service-proxy-name: other-proxy}
spec: {clusterIP: 10.96.0.202, selector: {app: web}, ports: [{port: 80}]}
"""


def test_chain_names_match_kube_proxy():
    # Values from kube-proxy's own tests (pkg/proxy/iptables/proxier_test.go).
    assert iptables.svc_chain("ns1/svc1:p80", "TCP") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert iptables.ext_chain("ns2/svc2:p80", "tcp") == "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
    assert iptables.sep_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == \
        "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert core.service_port_name("default", "web", "") == "default/web"


def test_probabilities_have_kube_proxy_precision():
    assert [iptables.probability(n) for n in (2, 3, 7)] == \
        ["0.5000000000", "0.3333333333", "0.1428571429"]


def test_classic_clusterip_golden():
    assert_golden("clusterip.rules", rendered(classic()))


def test_multi_port_no_endpoints_and_skipped_golden():
    assert_golden("multi.rules", rendered(scenario(lab_doc(), deployment(replicas=2), MULTI)))


def test_bootstrap_golden():
    assert_golden("bootstrap.rules", iptables.render_bootstrap())


def test_every_jump_targets_an_existing_chain():
    text = rendered(scenario(lab_doc(), deployment(replicas=2), MULTI))
    assert jump_targets_exist(iptables.render_bootstrap() + text) == []
    assert jump_targets_exist(rendered(classic())) == []


def test_clusterip_packet_walk_reaches_each_endpoint_without_masquerade():
    text = rendered(classic())
    outcomes = trace(text, Packet("10.244.0.2", "10.96.0.100", "tcp", 80))
    dnat = sorted(o.verdict for o in outcomes)
    assert dnat == ["DNAT 10.244.0.3:8000", "DNAT 10.244.1.2:8000", "DNAT 10.244.1.3:8000"]
    assert not any(o.masquerade for o in outcomes)  # pod to service keeps its source


def test_clusterip_from_outside_the_cluster_is_masqueraded():
    outcomes = trace(rendered(classic()), Packet("172.18.0.2", "10.96.0.100", "tcp", 80))
    assert outcomes and all(o.masquerade for o in outcomes)


def test_hairpin_to_self_is_masqueraded():
    outcomes = trace(rendered(classic()), Packet("10.244.0.3", "10.96.0.100", "tcp", 80))
    to_self = [o for o in outcomes if o.verdict == "DNAT 10.244.0.3:8000"]
    others = [o for o in outcomes if o.verdict != "DNAT 10.244.0.3:8000"]
    assert to_self and all(o.masquerade for o in to_self)
    assert others and not any(o.masquerade for o in others)


def test_other_ports_and_protocols_fall_through():
    text = rendered(classic())
    assert [o.verdict for o in trace(text, Packet("10.244.0.2", "10.96.0.100", "tcp", 81))] \
        == ["RETURN"]
    assert [o.verdict for o in trace(text, Packet("10.244.0.2", "10.96.0.100", "udp", 80))] \
        == ["RETURN"]


def test_service_without_endpoints_is_rejected_in_filter():
    text = rendered(scenario(lab_doc(), deployment(replicas=2), MULTI))
    out = trace(text, Packet("10.244.0.2", "10.96.0.201", "tcp", 80), table="filter")
    assert [o.verdict for o in out] == ["REJECT"]
    assert "KUBE-SVC" not in " ".join(
        r for r in text.splitlines() if "10.96.0.201" in r and "nat" in r)


def test_skipped_services_get_no_rules():
    text = rendered(scenario(lab_doc(), deployment(replicas=2), MULTI))
    assert "10.96.0.202" not in text and "default/elsewhere" not in text
    assert "default/headless" not in text


def test_udp_port_of_multi_port_service():
    text = rendered(scenario(lab_doc(), deployment(replicas=2), MULTI))
    out = trace(text, Packet("10.244.0.9", "10.96.0.200", "udp", 53))
    assert sorted(o.verdict for o in out) == ["DNAT 10.244.0.2:8000", "DNAT 10.244.0.3:8000"]
    assert '"default/multi:dns cluster IP"' in text


def test_stale_chains_are_deleted():
    stale = {"KUBE-SVC-AAAAAAAAAAAAAAAA", "KUBE-SEP-BBBBBBBBBBBBBBBB", "KUBE-SERVICES"}
    text = iptables.render([], CFG, stale_chains=stale).text
    assert "-X KUBE-SVC-AAAAAAAAAAAAAAAA" in text and "-X KUBE-SEP-BBBBBBBBBBBBBBBB" in text
    assert "-X KUBE-SERVICES" not in text  # never a base chain


def test_nodeports_jump_is_last_in_kube_services():
    rules = parse_rules(rendered(classic()))["nat"]["KUBE-SERVICES"]
    assert rules[-1][-1] == "KUBE-NODEPORTS"


@pytest.mark.parametrize("n", [1, 2, 5])
def test_each_endpoint_is_reachable_for_n_endpoints(n):
    text = rendered(scenario(lab_doc(), deployment(replicas=n), service(cluster_ip="10.96.0.100")))
    out = trace(text, Packet("10.244.0.99", "10.96.0.100", "tcp", 80))
    assert len({o.verdict for o in out}) == n
    stats = [line for line in text.splitlines() if "statistic" in line]
    assert len(stats) == n - 1


# -- every Service type (issue 3) ------------------------------------------------------------
# Node 1 is 172.18.0.2, node 2 172.18.0.3, the client host 172.18.0.254. Pod "one" is pinned to
# node2 (10.244.1.2); Deployment "web" puts pods on both nodes: 10.244.0.2 and 10.244.1.3.

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: np}
spec:
  type: NodePort
  clusterIP: 10.96.0.110
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.111
  selector: {app: web}
  loadBalancerSourceRanges: [172.18.0.0/24]
  ports: [{port: 80, targetPort: 8000, nodePort: 30081}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.112
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  loadBalancerIP: 192.0.2.11
  selector: {app: one}
  ports: [{port: 80, targetPort: 8000, nodePort: 30082}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  clusterIP: 10.96.0.113
  externalIPs: [192.0.2.12]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: itp}
spec:
  clusterIP: 10.96.0.114
  internalTrafficPolicy: Local
  selector: {app: one}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  clusterIP: 10.96.0.115
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: outside}
subsets: [{addresses: [{ip: 172.18.0.254}], ports: [{port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: www.example.org}
"""

ONE = pod("one", node="node2").replace("app: one", "app: one").replace(
    "image: nginx", "image: nginx, ports: [{containerPort: 8000}]")
NODE2 = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node2",
                             node_ip="172.18.0.3")


def services_scenario():
    return scenario(lab_doc(nodes=("node1", "node2"), clients=("laptop",)),
                    deployment(replicas=2), ONE, SERVICES)


def node_ips(cfg):
    return {cfg.node_ip, "127.0.0.1"}


def test_all_service_types_golden_per_node():
    sc = services_scenario()
    assert_golden("services-node1.rules", rendered(sc))
    assert_golden("services-node2.rules", rendered(sc, NODE2))
    assert jump_targets_exist(rendered(sc)) == [] and jump_targets_exist(rendered(sc, NODE2)) == []


def test_node_port_from_a_client_is_masqueraded_to_any_endpoint():
    text = rendered(services_scenario())
    out = trace(text, Packet("172.18.0.254", "172.18.0.2", "tcp", 30080),
                local_ips=node_ips(CFG))
    assert sorted(o.verdict for o in out) == ["DNAT 10.244.0.2:8000", "DNAT 10.244.1.3:8000"]
    assert all(o.masquerade for o in out)
    assert all("KUBE-NODEPORTS" in o.path for o in out)
    # and on 127.0.0.1 inside the node
    local = trace(text, Packet("127.0.0.1", "127.0.0.1", "tcp", 30080), local_ips=node_ips(CFG))
    assert {o.verdict for o in local} == {"DNAT 10.244.0.2:8000", "DNAT 10.244.1.3:8000"}


def test_load_balancer_source_ranges():
    text = rendered(services_scenario())
    allowed = trace(text, Packet("172.18.0.254", "192.0.2.10", "tcp", 80))
    assert {o.verdict for o in allowed} == {"DNAT 10.244.0.2:8000", "DNAT 10.244.1.3:8000"}
    denied = trace(text, Packet("198.51.100.7", "192.0.2.10", "tcp", 80))
    assert [o.verdict for o in denied] == ["RETURN"]
    dropped = trace(text, Packet("198.51.100.7", "192.0.2.10", "tcp", 80), table="filter",
                    start="KUBE-PROXY-FIREWALL")
    assert [o.verdict for o in dropped] == ["DROP"]


def test_external_traffic_policy_local():
    sc = services_scenario()
    node1, node2 = rendered(sc), rendered(sc, NODE2)
    client = Packet("172.18.0.254", "172.18.0.2", "tcp", 30082)
    # node1 has no local endpoint: external traffic is dropped in filter, never DNATed
    assert {o.verdict for o in trace(node1, client, local_ips=node_ips(CFG))} == {"RETURN"}
    drop = trace(node1, client, table="filter", start="KUBE-EXTERNAL-SERVICES",
                 local_ips=node_ips(CFG))
    assert [o.verdict for o in drop] == ["DROP"]
    # node2 sends it to its own endpoint and keeps the client's address
    c2 = Packet("172.18.0.254", "172.18.0.3", "tcp", 30082)
    out = trace(node2, c2, local_ips=node_ips(NODE2))
    assert [(o.verdict, o.masquerade) for o in out] == [("DNAT 10.244.1.2:8000", False)]
    # pods anywhere still reach the service through the external address
    pod_pkt = Packet("10.244.0.2", "192.0.2.11", "tcp", 80)
    assert {o.verdict for o in trace(node1, pod_pkt)} == {"DNAT 10.244.1.2:8000"}
    assert '"default/local:80 health check node port"' not in node1
    assert '"default/local health check node port" -m tcp -p tcp --dport 32000 -j ACCEPT' \
        in node1


def test_session_affinity_rules():
    text = rendered(services_scenario())
    assert "-m recent --name KUBE-SEP-" in text and "--rcheck --seconds 60 --reap" in text
    assert "-m recent --name " in text and "--set -m tcp -p tcp -j DNAT" in text
    out = trace(text, Packet("10.244.0.9", "192.0.2.12", "tcp", 80))
    assert all(o.masquerade for o in out)  # external IP, Cluster policy: masqueraded


def test_internal_traffic_policy_local():
    sc = services_scenario()
    pkt = Packet("10.244.0.9", "10.96.0.114", "tcp", 80)
    node1 = rendered(sc)
    assert [o.verdict for o in trace(node1, pkt, table="filter")] == ["DROP"]
    assert '"default/itp has no local endpoints"' in node1
    node2 = rendered(sc, NODE2)
    assert [o.verdict for o in trace(node2, pkt)] == ["DNAT 10.244.1.2:8000"]


def test_selectorless_service_reaches_the_hand_written_address_and_external_name_none():
    text = rendered(services_scenario())
    out = trace(text, Packet("10.244.0.2", "10.96.0.115", "tcp", 80))
    assert [o.verdict for o in out] == ["DNAT 172.18.0.254:80"]
    assert "default/ext" not in text and "www.example.org" not in text


def test_partial_sync_rewrites_only_changed_services():
    sc = services_scenario()
    plan, _ = plan_lab(sc)
    ports = core.service_ports(plan.services, plan.endpoints)
    full = iptables.render(ports, CFG)
    part = iptables.render(ports, CFG, changed={"default/np"})
    assert part.chains == full.chains
    np_chain = iptables.svc_chain("default/np", "tcp")
    sticky = iptables.svc_chain("default/sticky", "tcp")
    assert f":{np_chain} - [0:0]" in part.text and f":{sticky} - [0:0]" not in part.text
    assert f"-j {sticky}" in part.text  # KUBE-SERVICES still jumps to the kept chain
    assert part.lines < full.lines


def test_stale_service_chains_of_a_removed_service_are_deleted():
    sc = services_scenario()
    plan, _ = plan_lab(sc)
    ports = core.service_ports(plan.services, plan.endpoints)
    before = iptables.render(ports, CFG).chains
    after = iptables.render([p for p in ports if p.service != "default/np"], CFG,
                            stale_chains=before)
    gone = before - after.chains
    assert gone and all(f"-X {c}" in after.text for c in gone)


def test_large_clusters_drop_endpoint_comments_like_kube_proxy():
    from netlab.bench import synthetic_ports

    small = iptables.render(synthetic_ports(10), CFG).text
    large = iptables.render(synthetic_ports(400), CFG).text  # 1200 endpoints > 1000
    assert '-m comment --comment "bench/svc0:http -> ' in small
    assert " -> " not in large and "-A KUBE-SEP-" in large
    assert '"bench/svc0:http cluster IP"' in large  # service rules keep theirs
    sep_rules = [line for line in large.splitlines() if line.startswith("-A KUBE-SEP-")]
    assert sep_rules and not any("--comment" in line for line in sep_rules)


def test_partial_sync_leaves_out_unchanged_top_level_chains():
    from netlab.bench import synthetic_ports

    ports = synthetic_ports(20)
    full = iptables.render(ports, CFG)
    moved = dataclasses.replace(ports[3], endpoints=(core.Endpoint("10.244.9.9:8080", "node1"),
                                                     *ports[3].endpoints[1:]))
    part = iptables.render([*ports[:3], moved, *ports[4:]], CFG, stale_chains=full.chains,
                           changed={moved.service})
    assert part.top_digest == full.top_digest  # only an endpoint inside the service changed
    small = part.partial_text(full.top_digest)
    assert "KUBE-SERVICES" not in small and "DNAT --to-destination 10.244.9.9:8080" in small
    assert small.count("-X KUBE-SEP-") == 1  # the endpoint that went away
    # a service losing all its endpoints changes the top level: then everything is sent
    empty = dataclasses.replace(ports[3], endpoints=())
    gone = iptables.render([*ports[:3], empty, *ports[4:]], CFG, stale_chains=full.chains,
                           changed={empty.service})
    assert gone.top_digest != full.top_digest
    assert gone.partial_text(full.top_digest) == gone.text and "REJECT" in gone.text

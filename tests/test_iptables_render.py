"""kube-proxy iptables mode rendering (no root): golden text, chain names, packet walks.

Address plan: pod CIDR 10.244.0.0/16; service CIDR 10.96.0.0/12 with fixed ClusterIPs
10.96.0.100 (web), 10.96.0.200 (multi), 10.96.0.201 (empty), 10.96.0.202 (other proxy);
node 1 pods 10.244.0.2.., node 2 pods 10.244.1.2..; lab network 172.18.0.0/24.
Set NETLAB_UPDATE_GOLDEN=1 to rewrite the golden files after a reviewed change.
"""

import os
import pathlib

import pytest

from netlab.plan.build import plan_lab
from netlab.proxy import iptables
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
CFG = iptables.ProxyConfig(cluster_cidr="10.244.0.0/16")


def rendered(sc) -> str:
    plan, _ = plan_lab(sc)
    return iptables.render(iptables.service_ports(plan.services, plan.endpoints), CFG)


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
    assert iptables.service_port_name("default", "web", "") == "default/web"


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
    text = iptables.render([], CFG, stale_chains=stale)
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

"""Service fields a cluster honours that netlab used to ignore or refuse (issue 11), decided
and rendered without root: SCTP, allocateLoadBalancerNodePorts, healthCheckNodePort on a
Cluster-policy Service, trimmed source ranges, IP families, port name limits.

Address plan: one node (pods 10.244.0.0/24), services 10.96.0.0/12 with fixed ClusterIPs
10.96.0.120 (lb) and 10.96.0.121 (sig); load balancer address 172.18.0.240.
"""

from __future__ import annotations

import pytest

from netlab.errors import ScenarioErrors
from netlab.plan.build import plan_lab
from netlab.proxy import core, iptables
from tests.helpers import deployment, lab_doc, scenario

CFG = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node1", node_ip="172.18.0.2")


def svc(spec: str, name: str = "lb") -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n{spec}"


LB = """  type: LoadBalancer
  clusterIP: 10.96.0.120
  selector: {app: web}
  loadBalancerIP: 172.18.0.240
  ports: [{port: 80, targetPort: 8000}]
"""


def plan_of(*docs: str):
    return plan_lab(scenario(lab_doc(), deployment(replicas=2), *docs))[0]


def rules(plan) -> str:
    return iptables.render(core.service_ports(plan.services, plan.endpoints), CFG).text


def test_allocate_load_balancer_node_ports_false_gives_no_node_port():
    plan = plan_of(svc(LB + "  allocateLoadBalancerNodePorts: false\n"))
    info = next(s for s in plan.services if s.service.name == "lb")
    assert [p.node_port for p in info.service.ports] == [0]
    text = rules(plan)
    assert [line for line in text.splitlines()
            if line.startswith("-A KUBE-NODEPORTS") and "default/lb" in line] == []
    assert "172.18.0.240" in text  # the load balancer address still works
    default = next(s for s in plan_of(svc(LB)).services if s.service.name == "lb")
    assert default.service.ports[0].node_port  # the default allocates one


def test_sctp_ports_get_kube_proxys_sctp_rules():
    plan = plan_of(svc("""  clusterIP: 10.96.0.121
  selector: {app: web}
  ports: [{name: sig, port: 3868, targetPort: 3868, protocol: SCTP}]
""", name="sig"))
    text = rules(plan)
    sig = [line for line in text.splitlines() if "default/sig:sig" in line]
    assert any("-m sctp -p sctp -d 10.96.0.121 --dport 3868 -j KUBE-SVC-" in line
               for line in sig), sig
    assert any("-m sctp -p sctp -j DNAT --to-destination 10.244.0." in line for line in sig)


def test_health_check_node_port_on_a_cluster_policy_service_is_ignored():
    plan = plan_of(svc(LB + "  healthCheckNodePort: 30500\n"))
    info = next(s for s in plan.services if s.service.name == "lb")
    assert info.service.health_check_node_port == 0
    assert "30500" not in rules(plan)


def test_source_ranges_are_trimmed_as_kube_proxy_trims_them():
    plan = plan_of(svc(LB + '  loadBalancerSourceRanges: [" 10.0.0.0/8 ", "192.168.1.0/24"]\n'))
    info = next(s for s in plan.services if s.service.name == "lb")
    assert info.service.load_balancer_source_ranges == ("10.0.0.0/8", "192.168.1.0/24")


@pytest.mark.parametrize(("fields", "ok"), [
    ("  ipFamilies: [IPv4]\n  ipFamilyPolicy: SingleStack\n", True),
    ("  ipFamilyPolicy: PreferDualStack\n", True),
    ("  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: PreferDualStack\n", True),
    ("  ipFamilies: [IPv6]\n", False),
    ("  ipFamilyPolicy: RequireDualStack\n", False),
    ("  ipFamilies: [IPv5]\n", False),
])
def test_ip_families_single_stack_ipv4(fields, ok):
    doc = svc(LB + fields)
    if ok:
        plan_of(doc)
    else:
        with pytest.raises(ScenarioErrors) as err:
            plan_of(doc)
        assert "ipFamil" in str(err.value)


def test_a_service_port_name_may_have_63_characters_a_container_port_name_15():
    long_name = "a" * 63
    plan_of(svc(LB.replace("ports: [{port: 80, targetPort: 8000}]",
                           f"ports: [{{name: {long_name}, port: 80, targetPort: 8000}}]")))
    with pytest.raises(ScenarioErrors) as err:
        scenario(lab_doc(), "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                            "  containers: [{name: c, image: nginx, ports: "
                            "[{name: abcdefghijklmnop, containerPort: 80}]}]\n")
    assert "is 16 characters, the limit is 15" in str(err.value)


def test_sctp_node_ports_in_ipvs_mode_use_kube_proxys_hash_sets():
    from netlab.proxy import ipvs

    plan = plan_of(svc("""  type: NodePort
  externalTrafficPolicy: Local
  clusterIP: 10.96.0.121
  selector: {app: web}
  ports: [{name: sig, port: 3868, targetPort: 3868, nodePort: 30868, protocol: SCTP}]
""", name="sig"))
    out = ipvs.render(core.service_ports(plan.services, plan.endpoints), CFG,
                      ("172.18.0.2", "10.244.0.1"))
    assert out.ipsets["KUBE-NODE-PORT-SCTP-HASH"] == ("10.244.0.1,sctp:30868",
                                                      "172.18.0.2,sctp:30868")
    assert out.ipsets["KUBE-NODE-PORT-LOCAL-SCTP-HASH"] == out.ipsets["KUBE-NODE-PORT-SCTP-HASH"]
    assert "KUBE-NODE-PORT-SCTP" not in out.ipsets  # no bitmap:port set for SCTP
    assert ('-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for '
            "masquerade purpose with type 'hash ip:port'\" -m set --match-set "
            "KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ") in out.iptables
    assert {(vs.address, vs.port, vs.protocol) for vs in out.virtual_servers
            if vs.port == 30868} == {("172.18.0.2", 30868, "SCTP"), ("10.244.0.1", 30868, "SCTP")}

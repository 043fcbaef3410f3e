"""Every Service behaviour of kube-proxy's iptables and nftables modes, with real traffic
(issues 3 and 14): the module's lab is built once per mode.

Address plan (one lab for the module): node1 172.18.0.2, node2 172.18.0.3, client host laptop
172.18.0.254, client host origin 172.18.0.253 serving HTTP on 8080 (an outside server).
Pods: client and web replicas as placed round robin; `one` and `self` pinned to node2.
ClusterIPs are fixed: 10.96.0.1xx as in the manifests below. LoadBalancer IP 192.0.2.20 and
external IP 192.0.2.30 are only routed inside the lab (the nodes capture them).
"""

from __future__ import annotations

import json

import pytest

from netlab.checks.runner import run_check
from netlab.lifecycle.down import teardown
from netlab.lifecycle.up import up
from netlab.model import CheckSpec, Expect
from tests.helpers import deployment, lab_doc, pod, scenario
from tests.integration.conftest import in_ns, netlab, unique_name

pytestmark = pytest.mark.root

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, clusterIP: 10.96.0.110, selector: {app: web},
       ports: [{port: 80, targetPort: 8000, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec: {clusterIP: 10.96.0.111, sessionAffinity: ClientIP, selector: {app: web},
       ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: plain}
spec: {clusterIP: 10.96.0.112, selector: {app: web}, ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec: {type: LoadBalancer, clusterIP: 10.96.0.113, externalTrafficPolicy: Local,
       healthCheckNodePort: 32100, selector: {app: one},
       ports: [{port: 80, targetPort: 8000, nodePort: 30082}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {clusterIP: 10.96.0.114, selector: {app: nobody}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: selfsvc}
spec: {clusterIP: 10.96.0.115, selector: {app: self}, ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec: {clusterIP: 10.96.0.116, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: outside}
subsets: [{addresses: [{ip: 172.18.0.253}], ports: [{port: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {type: LoadBalancer, clusterIP: 10.96.0.117, selector: {app: web},
       loadBalancerSourceRanges: [172.18.0.0/24], ports: [{port: 80, targetPort: 8000}]}
status: {loadBalancer: {ingress: [{ip: 192.0.2.20}]}}
---
apiVersion: v1
kind: Service
metadata: {name: extip}
spec: {clusterIP: 10.96.0.118, externalIPs: [192.0.2.30], selector: {app: web},
       ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: www.example.org}
"""


def pinned(name: str, node: str, port: int = 8000) -> str:
    return pod(name, node=node).replace("image: nginx",
                                        f"image: nginx, ports: [{{containerPort: {port}}}]")


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def lab(request):
    name = unique_name("svc")
    lab_text = lab_doc(name=name, nodes=("node1", "node2"), clients=("laptop",),
                       mode=request.param).replace(
        "clients: ['laptop']", "clients: [laptop, {name: origin, app: web, ports: [8080]}]")
    sc = scenario(lab_text, pod("client", node="node1", command="[sleep, infinity]"),
                  pinned("one", "node2"), pinned("self", "node2"), deployment(replicas=3),
                  SERVICES)
    plan = up(sc)
    try:
        yield plan
    finally:
        teardown(name)


def check(plan, source, protocol, target, **kw):
    expect = Expect(**kw.pop("expect", {}))
    return run_check(plan, CheckSpec(name="t", source=source, protocol=protocol, target=target,
                                     expect=expect, **kw))


def test_node_port_from_client_hosts_pods_and_localhost(lab):
    for source, target in (("client/laptop", "node/node1"), ("client/laptop", "node/node2"),
                           ("pod/client", "node/node2"), ("node/node1", "127.0.0.1")):
        r = check(lab, source, "http", target, port=30080, attempts=6,
                  expect={"status": 200, "body_contains": "Hostname: web-"})
        if target == "127.0.0.1" and lab.spec.proxy_mode == "nftables":
            # kube-proxy's nftables mode serves NodePorts on the node's addresses only
            assert not r.passed and "0/6 answered" in r.summary, r.summary
            continue
        assert r.passed, f"{source} -> {target}: {r.summary} {r.reason}"


def test_session_affinity_keeps_one_backend_and_plain_spreads(lab):
    sticky = check(lab, "pod/client", "http", "svc/sticky", attempts=15)
    assert sticky.passed and "; 1 backend(s):" in sticky.summary, sticky.summary
    plain = check(lab, "pod/client", "http", "svc/plain", attempts=15,
                  expect={"distinct_backends": 2})
    assert plain.passed, plain.summary


def test_external_traffic_policy_local_keeps_the_client_address(lab):
    local = check(lab, "client/laptop", "http", "node/node2", port=30082, attempts=3,
                  expect={"body_contains": "Hostname: one", "source_ip": "client/laptop"})
    assert local.passed, local.summary + local.reason
    # node1 has no local endpoint: external traffic is dropped there
    none = check(lab, "client/laptop", "http", "node/node1", port=30082, timeout_s=1,
                 expect={"success": False})
    assert none.passed, none.summary
    # with the Cluster policy the backend sees the node's address instead
    cluster = check(lab, "client/laptop", "http", "node/node1", port=30080,
                    expect={"source_ip": "node/node1"})
    assert cluster.passed or "source seen 10.244." in cluster.summary, cluster.summary
    assert "172.18.0.254" not in cluster.summary


def test_health_check_node_port_answers_like_kube_proxy(lab):
    node2 = netlab("exec", "--lab", lab.spec.name, "client/laptop", "--", "curl", "-s", "-i",
                   "--max-time", "2", "http://172.18.0.3:32100/healthz")
    head, _, body = node2.stdout.partition("\n\n")  # text mode turned \r\n into \n
    assert head.startswith("HTTP/1.0 200") and "X-Load-Balancing-Endpoint-Weight: 1" in head
    assert json.loads(body) == {"service": {"namespace": "default", "name": "local"},
                                "localEndpoints": 1, "serviceProxyHealthy": True}
    node1 = check(lab, "client/laptop", "http", "node/node1", port=32100,
                  expect={"status": 503})
    assert node1.passed, node1.summary


def test_service_without_endpoints_is_refused_not_timed_out(lab):
    # the REJECT's ICMP port unreachable: refused at once, not a timeout
    for source in ("pod/client", "node/node1"):
        r = check(lab, source, "http", "svc/empty", timeout_s=2, expect={"success": False})
        assert r.passed and r.summary == "0/1 answered; connection refused", r.summary


def test_hairpin_pod_reaches_itself_through_its_service(lab):
    r = check(lab, "pod/self", "http", "svc/selfsvc", attempts=3,
              expect={"body_contains": "Hostname: self"})
    assert r.passed, r.summary + r.reason
    assert "source seen 10.244.1.1" in r.summary  # hairpin traffic is masqueraded


def test_selectorless_service_reaches_an_outside_server(lab):
    r = check(lab, "pod/client", "http", "svc/outside", attempts=2,
              expect={"body_contains": "Hostname: origin"})
    assert r.passed, r.summary + r.reason


def test_load_balancer_source_ranges_and_external_ips(lab):
    allowed = check(lab, "node/node1", "http", "192.0.2.20", port=80, attempts=3)
    assert allowed.passed, allowed.summary
    denied = check(lab, "pod/client", "http", "192.0.2.20", port=80, timeout_s=1,
                   expect={"success": False})
    assert denied.passed, denied.summary
    ext = check(lab, "pod/client", "http", "192.0.2.30", port=80, attempts=3)
    assert ext.passed, ext.summary


IPTABLES_NEEDLES = (
    "-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/np\" -m tcp --dport 30080 "
    "-j KUBE-EXT-", "\"default/local has no local endpoints\"",
    "\"default/empty has no endpoints\" -m tcp --dport 80 -j REJECT",
    "--rcheck --seconds 10800 --reap", "-A KUBE-FW-",
    "\"default/local health check node port\"")
NFTABLES_NEEDLES = (
    "tcp . 30080 : goto external-", "comment \"default/empty\" : goto reject-chain",
    "tcp . 30082 comment \"default/local\" : drop", "update @affinity-", "timeout 3h",
    "192.0.2.20 . tcp . 80 : goto firewall-",
    "ip saddr != 172.18.0.0/24 drop")  # nft lists a one-element set as its value


def test_rules_and_get_svc_show_every_type(lab):
    node = lab.nodes[0].netns
    saved = in_ns(node, "iptables-save").stdout
    if lab.spec.proxy_mode == "nftables":
        assert "KUBE-SERVICES" not in saved  # iptables keeps only the CNI plugin's rules
        saved = in_ns(node, "nft", "list", "table", "ip", "kube-proxy").stdout
    needles = NFTABLES_NEEDLES if lab.spec.proxy_mode == "nftables" else IPTABLES_NEEDLES
    for needle in needles:
        assert needle in saved, needle
    table = netlab("get", "svc", "--lab", lab.spec.name).stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["np"][1:5] == ["NodePort", "10.96.0.110", "<none>", "80:30080/TCP"]
    assert rows["lb"][1] == "LoadBalancer" and rows["lb"][3] == "192.0.2.20"
    assert rows["ext"][1:4] == ["ExternalName", "<none>", "www.example.org"]
    assert rows["extip"][3] == "192.0.2.30"

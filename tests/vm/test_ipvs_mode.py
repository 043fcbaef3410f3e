"""IPVS proxy mode with real traffic, in scripts/vm-test's VM (issue 5).

Address plan: nodes 172.18.0.2/.3, client host laptop 172.18.0.254; web pods 10.244.x.y on
both nodes; ClusterIPs 10.96.0.100 (web), 10.96.0.101 (sticky), 10.96.0.102 (self),
10.96.0.103 (empty); NodePorts 30080 (Cluster) and 30082 (Local, pod "one" on node2).
"""

from __future__ import annotations

import collections
import json
import re

import pytest

from netlab.checks.runner import run_check
from netlab.lifecycle.query import load
from netlab.model import CheckSpec, Expect
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import in_ns, netlab

pytestmark = pytest.mark.vm  # kernel_ready (tests/conftest.py) loads the modules in the VM


def ipvs_lab(**kw) -> str:
    return lab_doc(**kw, mode="ipvs")


def check(plan, source, protocol, target, **kw):
    expect = Expect(**kw.pop("expect", {}))
    return run_check(plan, CheckSpec(name="t", source=source, protocol=protocol, target=target,
                                     expect=expect, **kw))


def hostnames(plan, netns: str, url: str, n: int) -> collections.Counter:
    out = collections.Counter()
    for _ in range(n):
        body = in_ns(netns, "curl", "-s", "--max-time", "5", url).stdout
        m = re.search(r"^Hostname: (\S+)", body, re.M)
        out[m.group(1) if m else "none"] += 1
    return out


def test_round_robin_ping_and_what_the_tools_show(make_lab):
    plan = make_lab(ipvs_lab(nodes=("node1", "node2")), deployment(replicas=3),
                    pod("client", node="node1", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.100"))
    client = next(p for p in plan.pods if p.name == "client")
    counts = hostnames(plan, client.netns, "http://10.96.0.100/", 6)
    assert sorted(counts.values()) == [2, 2, 2], counts  # rr: each endpoint exactly twice
    assert check(plan, "pod/client", "ping", "svc/web-svc-cip").passed  # the VIP is local
    node = plan.nodes[0].netns
    ipvsadm = in_ns(node, "ipvsadm", "-Ln").stdout
    assert "TCP  10.96.0.100:80 rr" in ipvsadm and ipvsadm.count("Masq") >= 3
    assert "10.96.0.100,tcp:80" in in_ns(node, "ipset", "list", "KUBE-CLUSTER-IP").stdout
    saved = in_ns(node, "iptables-save").stdout
    assert "-m set --match-set KUBE-CLUSTER-IP dst,dst" in saved
    assert "KUBE-SVC-" not in saved  # none of the iptables mode's chains
    dummy = in_ns(node, "ip", "addr", "show", "kube-ipvs0").stdout
    assert "10.96.0.100/32" in dummy and "state DOWN" in dummy
    # netlab trace reads the ipsets and virtual servers back: IPVS's choice, one in three
    r = netlab("trace", "--lab", plan.spec.name, "pod/client", "svc/web-svc-cip", "-o", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mode"] == "ipvs" and len(out["paths"]) == 3
    assert {round(p["odds"], 3) for p in out["paths"]} == {0.333}
    assert all(any(h["chain"] == "IPVS" and h["rule"] == "TCP 10.96.0.100:80 rr"
                   for h in p["hops"]) for p in out["paths"])
    r = netlab("trace", "--lab", plan.spec.name, "pod/client", "svc/web-svc-cip", "--prove",
               "-o", "json", timeout=180)
    proof = json.loads(r.stdout)["proof"]
    assert r.returncode == 0 and proof["answered"] and proof["hops"], (r.stdout, r.stderr)
    assert proof["monitor"] == "xtables-monitor --trace"
    assert any(h["chain"] == "KUBE-SERVICES" for h in proof["hops"])


def test_node_port_affinity_local_policy_hairpin_and_no_endpoints(make_lab):
    sticky = service(name="sticky", cluster_ip="10.96.0.101").replace(
        "spec: {selector", "spec: {sessionAffinity: ClientIP, selector")
    selfsvc = service(name="selfsvc", app="self", cluster_ip="10.96.0.102")
    empty = service(name="empty", app="nobody", cluster_ip="10.96.0.103")
    np = service(name="np", cluster_ip="10.96.0.104").replace(
        "spec: {selector", "spec: {type: NodePort, selector").replace(
        "targetPort: 8000", "targetPort: 8000, nodePort: 30080")
    local = service(name="local", app="one", cluster_ip="10.96.0.105").replace(
        "spec: {selector", "spec: {type: NodePort, externalTrafficPolicy: Local, selector").replace(
        "targetPort: 8000", "targetPort: 8000, nodePort: 30082")
    one = pod("one", node="node2").replace("image: nginx",
                                           "image: nginx, ports: [{containerPort: 8000}]")
    me = pod("self", node="node1").replace("image: nginx",
                                           "image: nginx, ports: [{containerPort: 8000}]")
    plan = make_lab(ipvs_lab(nodes=("node1", "node2"), clients=("laptop",)),
                    deployment(replicas=3), pod("client", command="[sleep, infinity]"), one, me,
                    sticky, selfsvc, empty, np, local)
    r = check(plan, "client/laptop", "http", "node/node1", port=30080, attempts=4,
              expect={"body_contains": "Hostname: web-"})
    assert r.passed, r.summary
    r = check(plan, "pod/client", "http", "svc/sticky", attempts=15)
    assert r.passed and "; 1 backend(s):" in r.summary, r.summary
    r = check(plan, "client/laptop", "http", "node/node2", port=30082,
              expect={"body_contains": "Hostname: one", "source_ip": "client/laptop"})
    assert r.passed, r.summary + r.reason
    r = check(plan, "pod/self", "http", "svc/selfsvc", expect={"body_contains": "Hostname: self"})
    assert r.passed, r.summary + r.reason
    r = check(plan, "pod/client", "http", "svc/empty", timeout_s=2, expect={"success": False})
    assert r.passed, r.summary


def test_scaling_changes_the_real_servers(make_lab):
    plan = make_lab(ipvs_lab(nodes=("node1", "node2")), deployment(replicas=3),
                    pod("client", node="node1", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.100"))
    assert netlab("scale", "--lab", plan.spec.name, "deploy/web", "--replicas=1").returncode == 0
    now = load(plan.spec.name).plan
    ipvsadm = in_ns(now.nodes[0].netns, "ipvsadm", "-Ln").stdout
    block = ipvsadm.split("TCP  10.96.0.100:80 rr", 1)[1].split("TCP ", 1)[0]
    assert block.count("Masq") == 1
    client = next(p for p in now.pods if p.name == "client")
    assert len(hostnames(now, client.netns, "http://10.96.0.100/", 4)) == 1


def test_vip_filter_of_kube_proxy_1_27_rejects_ping(make_lab):
    lab = ipvs_lab().replace("proxyMode: ipvs", "proxyMode: ipvs\n  ipvs: {vipFilter: true}")
    plan = make_lab(lab, deployment(replicas=1), pod("client", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.100"))
    r = check(plan, "pod/client", "ping", "svc/web-svc-cip", timeout_s=1,
              expect={"success": False})
    assert r.passed, r.summary
    assert check(plan, "pod/client", "http", "svc/web-svc-cip").passed  # the port still works
    assert "KUBE-IPVS-FILTER" in in_ns(plan.nodes[0].netns, "iptables-save").stdout


def test_switching_modes_leaves_nothing_of_the_other(make_lab, tmp_path):
    plan = make_lab(lab_doc(nodes=("node1", "node2")), deployment(replicas=2),
                    pod("client", node="node1", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.100"))
    lab, node = plan.spec.name, plan.nodes[0].netns

    def switch(mode: str) -> None:
        text = lab_doc(name=lab, nodes=("node1", "node2"), mode=mode)
        (tmp_path / "lab.yaml").write_text(text)
        r = netlab("apply", "--lab", lab, "-f", str(tmp_path / "lab.yaml"))
        assert r.returncode == 0, r.stderr

    switch("ipvs")
    saved = in_ns(node, "iptables-save").stdout
    assert "KUBE-SVC-" not in saved and "KUBE-SEP-" not in saved
    assert "TCP  10.96.0.100:80 rr" in in_ns(node, "ipvsadm", "-Ln").stdout
    assert check(plan, "pod/client", "ping", "svc/web-svc-cip").passed
    switch("iptables")
    saved = in_ns(node, "iptables-save").stdout
    assert "KUBE-SVC-" in saved and "match-set" not in saved and "KUBE-NODE-PORT " not in saved
    assert "10.96.0.100" not in in_ns(node, "ipvsadm", "-Ln").stdout
    assert in_ns(node, "ipset", "list", "-n").stdout.strip() == ""
    assert in_ns(node, "ip", "link", "show", "kube-ipvs0").returncode != 0
    assert check(plan, "pod/client", "http", "svc/web-svc-cip").passed
    assert not check(plan, "pod/client", "ping", "svc/web-svc-cip", timeout_s=1).passed
    # nftables <-> IPVS (issue 14): each leaves nothing of the other
    switch("nftables")
    assert_nftables_only(plan, node)
    switch("ipvs")
    assert "table ip kube-proxy" not in in_ns(node, "nft", "list", "tables").stdout
    assert "TCP  10.96.0.100:80 rr" in in_ns(node, "ipvsadm", "-Ln").stdout
    assert "KUBE-SERVICES" in in_ns(node, "iptables-save").stdout  # IPVS mode's own chains
    assert check(plan, "pod/client", "ping", "svc/web-svc-cip").passed
    switch("nftables")
    assert_nftables_only(plan, node)


def assert_nftables_only(plan, node: str) -> None:
    """nftables mode: the ip kube-proxy table, no KUBE- chain, ipset, virtual server or
    kube-ipvs0 left by another mode, and the service answers."""
    assert "table ip kube-proxy" in in_ns(node, "nft", "list", "tables").stdout
    assert "KUBE-" not in in_ns(node, "iptables-save").stdout
    assert in_ns(node, "ipset", "list", "-n").stdout.strip() == ""
    assert "10.96.0.100" not in in_ns(node, "ipvsadm", "-Ln").stdout
    assert in_ns(node, "ip", "link", "show", "kube-ipvs0").returncode != 0
    assert check(plan, "pod/client", "http", "svc/web-svc-cip", attempts=6,
                 expect={"distinct_backends": 2}).passed

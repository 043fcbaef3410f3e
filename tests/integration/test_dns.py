"""Cluster DNS as a pod sees it, through the real kube-dns ClusterIP (issue 4).

Address plan: kube-dns 10.96.0.10 (pod on node1); web-svc-cip 10.96.0.100; other/backend in
namespace "other" 10.96.0.101; client host origin 172.18.0.254 serves www.example.org.
"""

from __future__ import annotations

import json

import pytest

from netlab.checks.runner import run_check
from netlab.lifecycle.down import teardown
from netlab.lifecycle.query import load
from netlab.lifecycle.up import up
from netlab.model import CheckSpec, Expect
from tests.helpers import deployment, lab_doc, pod, scenario, service
from tests.integration.conftest import netlab, unique_name

pytestmark = pytest.mark.root

OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: other}
spec: {clusterIP: 10.96.0.101, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: http, port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: primary, labels: {app: db}}
spec:
  hostname: primary
  subdomain: db
  containers: [{name: c, image: nginx, ports: [{containerPort: 8000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: www.example.org}
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  dnsPolicy: Default
  containers: [{name: c, image: curl, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: custom}
spec:
  dnsPolicy: None
  dnsConfig: {nameservers: [10.96.0.10], searches: [other.svc.cluster.local],
              options: [{name: ndots, value: "1"}]}
  containers: [{name: c, image: curl, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  nodeName: node2
  containers: [{name: c, image: curl, command: [sleep, infinity]}]
"""


def lab_text(name: str) -> str:
    return lab_doc(name=name, nodes=("node1", "node2"), clients=("origin",), dns=True).replace(
        "clients: ['origin']", "clients: [{name: origin, app: web, ports: [80]}]").replace(
        "clusterDNS: true", "clusterDNS: true\n  outsideNames: {www.example.org: origin}")


@pytest.fixture(scope="module")
def lab():
    name = unique_name("dns")
    with open("/etc/resolv.conf") as f:
        host_resolv = f.read()
    sc = scenario(lab_text(name), pod("client", command="[sleep, infinity]"),
                  deployment(replicas=2), service(cluster_ip="10.96.0.100"), OBJECTS)
    plan = up(sc)
    try:
        yield plan
    finally:
        teardown(name)
        with open("/etc/resolv.conf") as f:
            assert f.read() == host_resolv, "the host's resolv.conf changed"


def run(plan, *argv: str, target: str = "pod/client") -> str:
    r = netlab("exec", "--lab", plan.spec.name, target, "--", *argv)
    return r.stdout


def dig(plan, name: str, rtype: str = "A", target: str = "pod/client") -> list[str]:
    return run(plan, "dig", "+short", "+search", name, rtype, target=target).split()


def test_every_record_kind_through_kube_dns(lab):
    web = sorted(p.ip for p in lab.pods if p.owner == "Deployment/web")
    primary = next(p for p in lab.pods if p.name == "primary")
    assert dig(lab, "web-svc-cip.default.svc.cluster.local") == ["10.96.0.100"]
    assert dig(lab, "db.default.svc.cluster.local") == [primary.ip]
    assert dig(lab, "primary.db.default.svc.cluster.local") == [primary.ip]
    assert dig(lab, f"{web[0].replace('.', '-')}.default.pod.cluster.local") == [web[0]]
    assert dig(lab, "_http._tcp.db.default.svc.cluster.local", "SRV") == [
        "0", "100", "8000", "primary.db.default.svc.cluster.local."]
    assert dig(lab, "ext.default.svc.cluster.local") == ["www.example.org.", "172.18.0.254"]
    ptr = run(lab, "dig", "+short", "-x", "10.96.0.100").split()
    assert ptr == ["web-svc-cip.default.svc.cluster.local."]
    pod_ptr = run(lab, "dig", "+short", "-x", web[0]).split()
    assert pod_ptr == [f"{web[0].replace('.', '-')}.default.pod.cluster.local."]
    status = run(lab, "dig", "nope.default.svc.cluster.local")
    assert "status: NXDOMAIN" in status
    # an outside name the lab does not declare fails at once, it does not hang
    r = run_check(lab, CheckSpec(name="t", source="pod/client", protocol="dns",
                                 target="www.unknown.example.", timeout_s=1,
                                 expect=Expect(success=False)))
    assert r.passed and r.summary.startswith("NXDOMAIN"), r.summary


def test_search_paths_and_namespaces(lab):
    for url in ("http://web-svc-cip/", "http://web-svc-cip.default/",
                "http://web-svc-cip.default.svc.cluster.local/"):
        assert "Hostname: web-" in run(lab, "curl", "-s", "--max-time", "2", url), url
    # a name in another namespace needs its namespace
    assert run(lab, "getent", "hosts", "backend").strip() == ""
    assert run(lab, "getent", "hosts", "backend.other").split()[:1] == ["10.96.0.101"]
    assert "Address: 10.96.0.100" in run(lab, "nslookup", "web-svc-cip")
    # ExternalName to an outside server the lab runs
    assert "Hostname: origin" in run(lab, "curl", "-s", "--max-time", "2", "http://ext/")
    check = run_check(lab, CheckSpec(name="t", source="pod/client", protocol="dns",
                                     target="web-svc-cip",
                                     expect=Expect(answers=("10.96.0.100",))))
    assert check.passed, check.summary


def test_dns_policies(lab):
    assert run(lab, "cat", "/etc/resolv.conf") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")
    with open("/etc/resolv.conf") as f:
        assert run(lab, "cat", "/etc/resolv.conf", target="pod/plain") == f.read()
    assert run(lab, "cat", "/etc/resolv.conf", target="pod/custom") == (
        "search other.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:1\n")
    assert dig(lab, "backend", target="pod/custom") == ["10.96.0.101"]
    assert dig(lab, "web-svc-cip", target="pod/hostnet") == ["10.96.0.100"]
    hosts = run(lab, "cat", "/etc/hosts", target="pod/primary")
    primary = next(p for p in lab.pods if p.name == "primary")
    assert f"{primary.ip}\tprimary.db.default.svc.cluster.local\tprimary" in hosts


def test_headless_answers_follow_scaling(make_lab):
    headless = service(name="web-headless").replace("spec: {selector", "spec: {clusterIP: None, "
                                                                       "selector")
    plan = make_lab(lab_doc(nodes=("node1", "node2"), dns=True), deployment(replicas=3),
                    pod("client", command="[sleep, infinity]"), headless)
    assert len(dig(plan, "web-headless")) == 3
    assert netlab("scale", "--lab", plan.spec.name, "deploy/web", "--replicas=1").returncode == 0
    now = load(plan.spec.name).plan
    web = [p.ip for p in now.pods if p.owner == "Deployment/web"]
    assert dig(now, "web-headless") == web and len(web) == 1


def test_env_vars_go_stale_when_a_service_is_recreated(make_lab, tmp_path):
    plan = make_lab(lab_doc(dns=True), deployment(replicas=1),
                    pod("client", command="[sleep, infinity]"), service())
    lab = plan.spec.name
    old_ip = next(s.cluster_ip for s in plan.services if s.service.name == "web-svc-cip")
    env = run(plan, "env")
    assert f"WEB_SVC_CIP_SERVICE_HOST={old_ip}" in env
    assert netlab("delete", "--lab", lab, "svc/web-svc-cip").returncode == 0
    (tmp_path / "svc.yaml").write_text(service())
    assert netlab("apply", "--lab", lab, "-f", str(tmp_path)).returncode == 0
    now = load(lab).plan
    new_ip = next(s.cluster_ip for s in now.services if s.service.name == "web-svc-cip")
    assert new_ip != old_ip
    assert f"WEB_SVC_CIP_SERVICE_HOST={old_ip}" in run(now, "env")  # set at container start
    assert dig(now, "web-svc-cip") == [new_ip]  # DNS follows the new service
    svc = json.loads(netlab("get", "svc", "web-svc-cip", "--lab", lab, "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == new_ip

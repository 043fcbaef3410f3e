"""What every cluster has, that pods and lessons expect (issue 11): the kubernetes Service at
the first service address with the API server answering behind it, kube-proxy's own HTTP
endpoints in every node, and kube-proxy's conntrack settings inside the nodes (never the
host's).

Address plan: two nodes (172.18.0.2 is the control plane, where the API server listens on
6443), pods 10.244.0.0/16, services 10.96.0.0/12: kubernetes 10.96.0.1:443, kube-dns
10.96.0.10.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import lab_doc, pod
from tests.integration.conftest import in_ns, netlab, unique_name

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_name("basics")
    path = tmp_path_factory.mktemp("basics") / "lab.yaml"
    path.write_text(lab_doc(name=name, nodes=("node1", "node2"), dns=True) + "---\n" +
                    pod("client", command="[sleep, infinity]", node="node2"))
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        yield name
    finally:
        netlab("down", name)


def in_pod(lab: str, *argv: str):
    return netlab("exec", "--lab", lab, "pod/client", "--", *argv)


def test_the_kubernetes_service_resolves_and_answers_as_an_api_server(lab):
    r = netlab("get", "svc", "kubernetes", "--lab", lab)
    assert r.stdout.splitlines()[1].split()[:5] == ["kubernetes", "ClusterIP", "10.96.0.1",
                                                    "<none>", "443/TCP"], r.stdout
    r = netlab("get", "ep", "kubernetes", "--lab", lab)
    assert r.stdout.splitlines()[1].split()[1] == "172.18.0.2:6443", r.stdout
    r = in_pod(lab, "getent", "hosts", "kubernetes.default.svc.cluster.local")
    assert r.stdout.split()[0] == "10.96.0.1", r.stdout + r.stderr
    # from a pod on the other node, through the ClusterIP, over TLS
    r = in_pod(lab, "curl", "-sk", "https://kubernetes.default.svc/version")
    assert json.loads(r.stdout)["gitVersion"] == "v1.33.0", r.stdout + r.stderr
    r = in_pod(lab, "curl", "-sk", "https://kubernetes.default.svc/api")
    assert json.loads(r.stdout)["reason"] == "Forbidden"
    r = in_pod(lab, "sh", "-c", "echo | openssl s_client -connect 10.96.0.1:443 2>/dev/null "
                                "| openssl x509 -noout -ext subjectAltName")
    assert "DNS:kubernetes.default.svc" in r.stdout and "IP Address:10.96.0.1" in r.stdout, \
        r.stdout + r.stderr


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_kube_proxy_answers_on_its_own_ports_in_every_node(lab, node):
    ns = f"netlab.{lab}.node.{node}"
    assert in_ns(ns, "curl", "-s", "http://127.0.0.1:10249/proxyMode").stdout == "iptables"
    r = in_ns(ns, "curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:10256/healthz")
    body, code = r.stdout.rsplit("\n", 1)
    health = json.loads(body)
    assert code == "200" and health["nodeName"] == node and health["nodeHealthy"] is True
    metrics = in_ns(ns, "curl", "-s", "http://127.0.0.1:10249/metrics").stdout
    lines = dict(line.rsplit(" ", 1) for line in metrics.splitlines()
                 if line and not line.startswith("#"))
    assert int(lines["kubeproxy_sync_full_proxy_rules_duration_seconds_count"]) >= 1
    assert int(lines['kubeproxy_sync_proxy_rules_iptables_total{table="nat"}']) > 10
    assert float(lines["kubeproxy_sync_proxy_rules_last_timestamp_seconds"]) > 1.7e9
    # the metrics port is the node's own (127.0.0.1), the health port everyone's
    node_ip = {"node1": "172.18.0.2", "node2": "172.18.0.3"}[node]
    assert in_pod(lab, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                  f"http://{node_ip}:10256/healthz").stdout == "200"
    assert in_pod(lab, "curl", "-s", "--max-time", "2",
                  f"http://{node_ip}:10249/proxyMode").returncode != 0


def test_kube_proxys_conntrack_settings_are_in_the_nodes_not_the_host(lab):
    with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established") as f:
        host = f.read().strip()
    ns = f"netlab.{lab}.node.node1"
    r = in_ns(ns, "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_timeout_established",
              "net.netfilter.nf_conntrack_tcp_timeout_close_wait")
    assert r.stdout.split() == ["86400", "3600"]
    with open("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established") as f:
        assert f.read().strip() == host

"""nftables mode in real namespaces: the ip kube-proxy table and nothing of iptables mode,
a table deleted or flushed by hand restored by the lab's controller, and `apply` switching a
running lab between iptables and nftables leaving nothing of the other mode.

Address plan: lab network 172.18.0.0/24 (node1 .2); pods 10.244.0.0/24; ClusterIP
10.96.0.150 port 80 -> 8000.
"""

from __future__ import annotations

import pytest

from tests.helpers import deployment, pod, service
from tests.integration.conftest import in_ns, netlab, unique_name, wait_for

pytestmark = pytest.mark.root

LAB = """\
apiVersion: netlab/v1
kind: Lab
metadata: {{name: {name}}}
spec:
  nodes: [node1]
  clusterDNS: false
  syncPeriod: 2s
  proxyMode: {mode}
"""


def write(folder, name: str, mode: str):
    path = folder / f"{mode}.yaml"
    path.write_text("---\n".join([LAB.format(name=name, mode=mode), deployment(replicas=2),
                                  service(cluster_ip="10.96.0.150"),
                                  pod("client", command="[sleep, infinity]")]))
    return path


def answers(name: str) -> bool:
    r = netlab("check", "--lab", name, "pod/client", "http", "svc/web-svc-cip", "--attempts",
               "12", "--backends", "2", "--timeout", "1")
    return r.returncode == 0


def tables(name: str) -> tuple[str, int]:
    node = f"netlab.{name}.node.node1"
    nft = in_ns(node, "nft", "list", "tables").stdout
    kube = sum(1 for line in in_ns(node, "iptables-save").stdout.splitlines()
               if "KUBE-" in line)
    return nft, kube


def test_nftables_mode_is_restored_and_switches_both_ways(tmp_path):
    name = unique_name("nft")
    r = netlab("up", str(write(tmp_path, name, "nftables")), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        assert answers(name)
        nft, kube = tables(name)
        assert "table ip kube-proxy" in nft and kube == 0, (nft, kube)
        # a third pod: the controller's partial sync adds its endpoint chain
        r = netlab("scale", "deploy/web", "--replicas=3", "--lab", name)
        assert r.returncode == 0, r.stderr
        wait_for("three backends", lambda: netlab(
            "check", "--lab", name, "pod/client", "http", "svc/web-svc-cip", "--attempts", "24",
            "--backends", "3", "--timeout", "1").returncode == 0, 30)
        metrics = in_ns(f"netlab.{name}.node.node1", "curl", "-s",
                        "http://127.0.0.1:10249/metrics").stdout
        partial = [x for x in metrics.splitlines() if x.startswith(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds_count")]
        assert partial and float(partial[0].split()[-1]) >= 1, metrics[:2000]
        # someone deletes the table: the controller's check puts it back
        in_ns(f"netlab.{name}.node.node1", "nft", "delete", "table", "ip", "kube-proxy")
        wait_for("the table to come back", lambda: "kube-proxy" in tables(name)[0], 15)
        assert answers(name)
        # flushed: chains and sets stay, every rule goes; restored all the same
        node = f"netlab.{name}.node.node1"
        in_ns(node, "nft", "flush", "table", "ip", "kube-proxy")
        assert "jump services" not in in_ns(node, "nft", "list", "chain", "ip", "kube-proxy",
                                            "nat-prerouting").stdout
        wait_for("the rules to come back", lambda: "jump services" in in_ns(
            node, "nft", "list", "chain", "ip", "kube-proxy", "nat-prerouting").stdout, 15)
        assert answers(name)
        # to iptables mode: KUBE- chains, no nftables table
        r = netlab("apply", "-f", str(write(tmp_path, name, "iptables")), "--lab", name)
        assert r.returncode == 0, r.stderr
        nft, kube = tables(name)
        assert "kube-proxy" not in nft and kube > 10, (nft, kube)
        assert answers(name)
        # and back
        r = netlab("apply", "-f", str(write(tmp_path, name, "nftables")), "--lab", name)
        assert r.returncode == 0, r.stderr
        nft, kube = tables(name)
        assert "table ip kube-proxy" in nft and kube == 0, (nft, kube)
        assert answers(name)
    finally:
        netlab("down", name)

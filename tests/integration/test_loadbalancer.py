"""LoadBalancer addresses for real (issue 12): MetalLB's allocation, one node's speaker
answering ARP with its MAC (arping from a client outside the cluster gets one answer),
traffic through the address, L2Advertisement node selectors, and a pool nobody announces.

Address plan: lab network 172.18.0.0/24 (node1 .2, node2 .3, client laptop .253); pools
outside it: 172.17.255.0/24 (legacy ConfigMap lesson), 172.16.10.0/30 "announced" and
172.16.20.0/30 "silent" (CRDs); the clients route both on-link.
"""

from __future__ import annotations

import hashlib
import pathlib
import re
import textwrap

import pytest

from netlab.plan import naming
from tests.integration.conftest import in_ns, netlab, unique_name, wait_for

pytestmark = pytest.mark.root

ROOT = pathlib.Path(__file__).parents[2]


def up(tmp_path, text: str, tag: str) -> str:
    name = unique_name(tag)
    renamed = re.sub(r"(kind: Lab\nmetadata:\n  name: )\S+", rf"\g<1>{name}", text, count=1)
    (tmp_path / "lab.yaml").write_text(renamed)
    r = netlab("up", str(tmp_path / "lab.yaml"), "--no-checks")
    assert r.returncode == 0, r.stderr
    return name


def mac(lab: str, node: str) -> str:
    out = in_ns(naming.node_netns(lab, node), "ip", "-o", "link", "show", "eth0").stdout
    return out.split("link/ether ")[1].split()[0].upper()


def arping(lab: str, ip: str) -> list[str]:
    """The MACs that answered 3 ARP requests for IP from the laptop."""
    out = in_ns(naming.client_netns(lab, "laptop"), "arping", "-c", "3", "-w", "4", "-I",
                "eth0", ip, timeout=10).stdout
    return re.findall(r"\[([0-9A-F:]{17})\]", out)


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    name = up(tmp_path_factory.mktemp("lb"), (ROOT / "scenarios" / "metallb-l2.yaml")
              .read_text(), "lb")
    try:
        yield name
    finally:
        netlab("down", name)


def elected(ip: str, nodes=("node1", "node2")) -> str:
    return min(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


def test_the_service_gets_the_pools_first_address(lesson):
    r = netlab("get", "svc", "web-svc-lb", "--lab", lesson)
    assert r.stdout.splitlines()[1].split()[3] == "172.17.255.1", r.stdout
    text = netlab("describe", "svc", "web-svc-lb", "--lab", lesson).stdout
    assert "LoadBalancer Ingress:     172.17.255.1 (VIP)" in text, text
    assert 'IPAllocated    ' in text and 'Assigned IP ["172.17.255.1"]' in text
    node = elected("172.17.255.1")
    assert f'metallb-speaker      announcing from node "{node}" with protocol "layer2"' \
        in text, text


def test_one_node_answers_arp_with_its_mac(lesson):
    node = elected("172.17.255.1")
    answers = arping(lesson, "172.17.255.1")
    assert answers and set(answers) == {mac(lesson, node)}, answers
    assert len(answers) == 3  # one answer per request: no other node claims it


def test_the_laptop_reaches_the_pods_through_the_address(lesson):
    seen = set()
    for _ in range(9):
        r = in_ns(naming.client_netns(lesson, "laptop"), "curl", "-s", "-m", "2",
                  "http://172.17.255.1/")
        assert r.returncode == 0, r.stderr
        seen.add(r.stdout.splitlines()[0])
    assert len(seen) >= 2, seen
    neigh = in_ns(naming.client_netns(lesson, "laptop"), "ip", "neigh", "show",
                  "172.17.255.1").stdout
    assert mac(lesson, elected("172.17.255.1")).lower() in neigh, neigh


def test_trace_asks_arp_which_node_the_laptop_reaches(lesson):
    """netlab trace from the laptop to the address starts where a real ARP request is
    answered (the MAC and its node), walks that node's rules, and --prove agrees."""
    import json

    node = elected("172.17.255.1")
    r = netlab("trace", "--lab", lesson, "client/laptop", "172.17.255.1:80", "--prove",
               "-o", "json", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert (got["arp"], got["node"]) == (node, node), got
    assert got["arpMac"] == mac(lesson, node).lower(), got
    assert got["proof"]["agrees"] and got["proof"]["answered"], got["proof"]
    text = netlab("trace", "--lab", lesson, "client/laptop", "172.17.255.1:80").stdout
    assert f"{node} answers ARP for 172.17.255.1 with {mac(lesson, node).lower()}" in text, text


CRDS = textwrap.dedent("""
    apiVersion: netlab/v1
    kind: Lab
    metadata:
      name: crds
    spec:
      nodes: [node1, node2]
      clients: [laptop]
      loadBalancer: {clientRoutes: [172.16.10.0/30, 172.16.20.0/30]}
    ---
    apiVersion: metallb.io/v1beta1
    kind: IPAddressPool
    metadata: {name: announced, namespace: metallb-system}
    spec: {addresses: [172.16.10.0/30], avoidBuggyIPs: true}
    ---
    apiVersion: metallb.io/v1beta1
    kind: IPAddressPool
    metadata: {name: silent, namespace: metallb-system}
    spec: {addresses: [172.16.20.1-172.16.20.2], autoAssign: false}
    ---
    apiVersion: metallb.io/v1beta1
    kind: L2Advertisement
    metadata: {name: only-node1, namespace: metallb-system}
    spec:
      ipAddressPools: [announced]
      nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: python:3-slim, ports: [{containerPort: 8000}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: shown}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 8000}]
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: hidden
      annotations: {metallb.universe.tf/address-pool: silent}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 8000}]
    """)


def test_advertisements_choose_the_nodes_and_an_unannounced_pool_is_silent(tmp_path):
    name = up(tmp_path, CRDS, "crd")
    try:
        rows = {line.split()[0]: line.split()[3] for line in
                netlab("get", "svc", "--lab", name).stdout.splitlines()[1:]}
        # avoidBuggyIPs skips 172.16.10.0; node1 is the only node the advertisement selects
        assert rows["shown"] == "172.16.10.1" and rows["hidden"] == "172.16.20.1", rows
        assert set(arping(name, "172.16.10.1")) == {mac(name, "node1")}
        # the trap: an address from a pool no L2Advertisement covers is handed out, but no
        # node answers ARP for it
        assert arping(name, "172.16.20.1") == []
        text = netlab("describe", "svc", "hidden", "--lab", name).stdout
        assert 'no L2Advertisement selects pool "silent": no node answers ARP for ' \
               "172.16.20.1" in text, text
        r = netlab("trace", "--lab", name, "client/laptop", "172.16.20.1:80")
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stdout + r.stderr
        assert "nobody answers ARP for 172.16.20.1 on client/laptop's eth0" in r.stderr, \
            r.stderr
    finally:
        netlab("down", name)


def test_failover_moves_the_address_and_the_client_follows(tmp_path):
    """netlab node stop on the announcing node: the other node takes the address over with
    gratuitous ARP, the laptop's ARP cache follows without a flush, and requests answer again
    within a few seconds (the outage is printed); node start brings the node back."""
    import time

    name = up(tmp_path, (ROOT / "scenarios" / "metallb-l2.yaml").read_text(), "fo")
    laptop = naming.client_netns(name, "laptop")
    try:
        first = elected("172.17.255.1")
        other = "node2" if first == "node1" else "node1"
        r = in_ns(laptop, "curl", "-s", "-m", "2", "http://172.17.255.1/")
        assert r.returncode == 0, r.stderr
        r = netlab("node", "stop", first, "--lab", name)
        assert r.returncode == 0 and f"node/{first} stopped" in r.stdout, r.stdout + r.stderr
        stopped = time.monotonic()
        outage = None
        # the pods on the stopped node stay endpoints (as until a cluster evicts them), so a
        # probe may still time out on one: the outage is printed, not bounded by the test
        while time.monotonic() - stopped < 30:
            if in_ns(laptop, "curl", "-s", "-m", "1", "http://172.17.255.1/").returncode == 0:
                outage = time.monotonic() - stopped
                break
        assert outage is not None, "no answer within 30 s of the failover"
        print(f"failover outage: {outage:.2f} s")
        neigh = in_ns(laptop, "ip", "neigh", "show", "172.17.255.1").stdout
        assert mac(name, other).lower() in neigh, neigh  # the gratuitous ARP moved it
        nodes = {row.split()[0]: row.split()[1]
                 for row in netlab("get", "nodes", "--lab", name).stdout.splitlines()[1:]}
        assert nodes[first] == "NotReady" and nodes[other] == "Ready"
        text = netlab("describe", "svc", "web-svc-lb", "--lab", name).stdout
        assert f'announcing from node "{other}"' in text, text
        r = netlab("node", "start", first, "--lab", name)
        assert r.returncode == 0, r.stderr
        # back with the first node, by the hash (the answers switch within a request or two)
        wait_for(f"{first} answering ARP again",
                 lambda: arping(name, "172.17.255.1")[-1:] == [mac(name, first)])
    finally:
        netlab("down", name)


def test_two_services_share_an_address_for_dns_over_udp_and_tcp(tmp_path):
    """scenarios/metallb-dns.yaml: kube-dns behind one shared address, asked from outside."""
    name = up(tmp_path, (ROOT / "scenarios" / "metallb-dns.yaml").read_text(), "dns")
    try:
        rows = {line.split()[0]: line.split()[3] for line in netlab(
            "get", "svc", "-n", "kube-system", "--lab", name).stdout.splitlines()[1:]}
        assert rows["dns-udp"] == rows["dns-tcp"] == "172.17.255.2", rows
        for how in ("+notcp", "+tcp"):
            r = in_ns(naming.client_netns(name, "laptop"), "dig", how, "+short", "+time=2",
                      "+tries=1", "@172.17.255.2", "web-svc-cip.default.svc.cluster.local")
            assert r.stdout.split() == ["10.96.0.100"], (how, r.stdout, r.stderr)
    finally:
        netlab("down", name)


def test_servicelb_holds_the_ports_on_every_node(tmp_path):
    """scenarios/servicelb.yaml: EXTERNAL-IP lists the three nodes, each answers, kube-proxy
    has KUBE-EXT rules for them, and a second Service on the same port stays pending."""
    name = up(tmp_path, (ROOT / "scenarios" / "servicelb.yaml").read_text(), "slb")
    try:
        rows = {line.split()[0]: line.split()[3] for line in
                netlab("get", "svc", "--lab", name).stdout.splitlines()[1:]}
        assert rows["web-svc-lb"] == "172.18.0.2,172.18.0.3,172.18.0.4", rows
        assert rows["other"] == "<pending>", rows
        ds = {line.split()[0].rsplit("-", 1)[0]: line.split()[1:3] for line in netlab(
            "get", "ds", "-n", "kube-system", "--lab", name).stdout.splitlines()[1:]}
        assert ds == {"svclb-web-svc-lb": ["3", "3"], "svclb-other": ["0", "0"]}, ds
        for ip in ("172.18.0.2", "172.18.0.3", "172.18.0.4"):
            r = in_ns(naming.client_netns(name, "laptop"), "curl", "-s", "-m", "2",
                      f"http://{ip}/")
            assert r.stdout.startswith("Hostname: web-"), (ip, r.stdout, r.stderr)
        saved = in_ns(naming.node_netns(name, "node1"), "iptables-save", "-t", "nat").stdout
        assert '-A KUBE-SERVICES -d 172.18.0.3/32 -p tcp -m comment --comment ' \
               '"default/web-svc-lb loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-' in saved
    finally:
        netlab("down", name)


def test_a_pool_inside_the_lab_network_needs_no_route(tmp_path):
    """The pool 172.18.0.240-250 lies in the lab network: the laptop ARPs for it directly."""
    text = (ROOT / "scenarios" / "metallb-l2.yaml").read_text() \
        .replace("172.17.255.1-172.17.255.255", "172.18.0.240-172.18.0.250") \
        .replace("    clientRoutes: [172.17.255.0/24]\n", "")
    name = up(tmp_path, text, "inl")
    try:
        assert arping(name, "172.18.0.240") == [mac(name, elected("172.18.0.240"))] * 3
        r = in_ns(naming.client_netns(name, "laptop"), "curl", "-s", "-m", "2",
                  "http://172.18.0.240/")
        assert r.stdout.startswith("Hostname: web-"), r.stdout + r.stderr
    finally:
        netlab("down", name)


def test_a_killed_speaker_is_started_again_and_answers(tmp_path):
    """The announcing node's speaker killed by hand: no answer for a moment, then the lab's
    controller starts it again (at its next resync) and it answers ARP again."""
    import json
    import os
    import signal

    name = up(tmp_path, (ROOT / "scenarios" / "metallb-l2.yaml").read_text(), "spk")
    try:
        node = elected("172.17.255.1")
        state = json.loads(pathlib.Path(f"/run/netlab/{name}/state.json").read_text())
        pid = state["system"][f"speaker/{node}"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for("the speaker started again", lambda: json.loads(pathlib.Path(
            f"/run/netlab/{name}/state.json").read_text())["system"][f"speaker/{node}"]["pid"]
            != pid, timeout_s=20)
        wait_for("an ARP answer from its node",
                 lambda: arping(name, "172.17.255.1")[-1:] == [mac(name, node)])
    finally:
        netlab("down", name)

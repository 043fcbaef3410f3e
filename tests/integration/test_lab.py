"""Real labs: namespaces, veths, routes, kube-proxy rules, traffic with curl and ping.

Address plan: see conftest (pods 10.244.i.0/24 per node, services 10.96.0.0/12, ClusterIPs
fixed at 10.96.0.100 where a test names one, lab network 172.18.0.0/24).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from netlab.checks.runner import run_check
from netlab.kernel import netfilter
from netlab.model import CheckSpec, Expect
from netlab.proxy.iptables import sep_chain, svc_chain
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import in_ns, netlab

pytestmark = pytest.mark.root


def check(plan, source, protocol, target, **kw) -> object:
    expect = Expect(**kw.pop("expect", {}))
    return run_check(plan, CheckSpec(name="t", source=source, protocol=protocol, target=target,
                                     expect=expect, **kw))


def classic_docs():
    return (lab_doc(nodes=("node1", "node2")), deployment(replicas=3), pod(
        "client", command="[sleep, infinity]"), service(cluster_ip="10.96.0.100"))


def test_clusterip_reaches_every_endpoint_and_ping_fails(make_lab):
    plan = make_lab(*classic_docs())
    r = check(plan, "pod/client", "http", "svc/web-svc-cip", attempts=30,
              expect={"status": 200, "distinct_backends": 3, "body_contains": "Hostname: web-"})
    assert r.passed, r.summary + r.reason
    backends = {p.name for p in plan.pods if p.owner}
    assert set(re.findall(r"web-\w+-\w+", r.summary)) == backends
    ping = check(plan, "pod/client", "ping", "svc/web-svc-cip", attempts=2, timeout_s=1)
    assert not ping.passed and "0/2 replies" in ping.summary
    # the backend sees the client pod's own address: no NAT from pod to service
    src = check(plan, "pod/client", "http", "svc/web-svc-cip", expect={"source_ip": "pod/client"})
    assert src.passed, src.summary + src.reason


def test_iptables_save_in_node_shows_kube_proxy_chains(make_lab):
    plan = make_lab(*classic_docs())
    node = plan.nodes[1]
    flavour = netfilter.detect_flavour(node.netns)
    version = subprocess.run(["iptables", "--version"], capture_output=True, text=True).stdout
    assert flavour == ("legacy" if "(legacy)" in version else "nft")
    saved = in_ns(node.netns, "iptables-save").stdout
    chain = svc_chain("default/web-svc-cip", "tcp")
    assert f"-A KUBE-SERVICES -d 10.96.0.100/32 -p tcp -m comment --comment " \
           f"\"default/web-svc-cip cluster IP\" -m tcp --dport 80 -j {chain}" in saved
    for p in plan.pods:
        if p.owner:
            sep = sep_chain("default/web-svc-cip", "tcp", f"{p.ip}:8000")
            assert f"-A {sep} -p tcp -m comment --comment \"default/web-svc-cip\" -m tcp " \
                   f"-j DNAT --to-destination {p.ip}:8000" in saved
    for line in ('-A PREROUTING -m comment --comment "kubernetes service portals" '
                 "-j KUBE-SERVICES",
                 '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" '
                 "-j KUBE-POSTROUTING",
                 "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
                 "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                 ":KUBE-IPTABLES-HINT - [0:0]"):
        assert line in saved, line
    assert len(re.findall(r"statistic --mode random --probability", saved)) == 2
    # a flavour-less restore left nothing in the other flavour
    other = "legacy" if flavour == "nft" else "nft"
    other_save = in_ns(node.netns, f"iptables-{other}-save").stdout
    assert "KUBE-SERVICES" not in other_save


@pytest.mark.parametrize("routing", ["host-gw", "vxlan"])
def test_pod_to_pod_across_nodes_keeps_source_ip(make_lab, routing):
    plan = make_lab(lab_doc(nodes=("node1", "node2"), routing=routing),
                    pod("a", node="node1"), pod("b", node="node2"), tag=routing[:2])
    a, b = (next(p for p in plan.pods if p.name == n) for n in "ab")
    assert a.ip.startswith("10.244.0.") and b.ip.startswith("10.244.1.")
    r = check(plan, "pod/a", "http", "pod/b",
              expect={"status": 200, "body_contains": "Hostname: b", "source_ip": "pod/a"})
    assert r.passed, r.summary + r.reason
    assert check(plan, "pod/b", "ping", "pod/a").passed
    routes = in_ns(plan.nodes[0].netns, "ip", "route").stdout
    if routing == "vxlan":
        assert "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink" in routes
        link = in_ns(plan.nodes[0].netns, "ip", "-d", "link", "show", "flannel.1").stdout
        assert "vxlan id 1" in link and "dstport 8472" in link
    else:
        assert "10.244.1.0/24 via 172.18.0.3 dev eth0" in routes


def test_pod_has_its_own_hostname_lo_eth0_and_default_route(make_lab):
    plan = make_lab(*classic_docs())
    client = next(p for p in plan.pods if p.name == "client")
    r = netlab("exec", "--lab", plan.spec.name, "pod/client", "--", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == "client"
    links = in_ns(client.netns, "ip", "-o", "link").stdout
    assert sorted(re.findall(r"^\d+: (\w+)[@:]", links, re.M)) == ["eth0", "lo"]
    assert in_ns(client.netns, "ip", "route").stdout.startswith("default via 10.244.0.1")
    # the node's bridge holds the gateway and the pod's veth, with forwarding on
    node = plan.nodes[0]
    assert "10.244.0.1/24" in in_ns(node.netns, "ip", "-o", "addr", "show", "cni0").stdout
    assert client.host_veth in in_ns(node.netns, "ip", "-o", "link", "show", "master",
                                      "cni0").stdout
    assert in_ns(node.netns, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    port = in_ns(node.netns, "bridge", "-d", "link", "show", "dev", client.host_veth).stdout
    assert "hairpin on" in port and "mcast_flood off" in port
    assert "inet6 fe80::" in in_ns(client.netns, "ip", "addr", "show", "eth0").stdout
    assert netlab("exec", "--lab", plan.spec.name, "node/node1", "--", "hostname") \
        .stdout.strip() == "node1"


def test_client_host_and_host_network_pod(make_lab):
    hostnet = pod("hn", node="node2").replace("spec:", "spec:\n  hostNetwork: true")
    plan = make_lab(lab_doc(nodes=("node1", "node2"), clients=("laptop",)), hostnet,
                    pod("a", node="node1"))
    hn = next(p for p in plan.pods if p.name == "hn")
    assert hn.ip == plan.nodes[1].lan_ip
    r = check(plan, "client/laptop", "http", "node/node2", port=80,
              expect={"body_contains": "Hostname: node2"})
    assert r.passed, r.summary + r.reason
    # pod traffic to a host outside the cluster leaves masqueraded to the node address
    r = check(plan, "pod/a", "http", "node/node2", port=80, expect={"source_ip": "node/node1"})
    assert r.passed, r.summary + r.reason


def test_named_target_port_and_udp_service(make_lab):
    udp_pod = pod("u").replace("labels: {app: u}", "labels: {app: udp}").replace(
        "image: nginx", "image: nginx, ports: [{containerPort: 5353, protocol: UDP, name: dns}]")
    web = deployment(replicas=2, port=8080, port_name="http")
    plan = make_lab(lab_doc(), web, udp_pod, pod("client", command="[sleep, infinity]"),
                    service(target="http", cluster_ip="10.96.0.100"),
                    service(name="dns", app="udp", port=53, target="dns", proto="UDP",
                            cluster_ip="10.96.0.101"))
    r = check(plan, "pod/client", "http", "svc/web-svc-cip", attempts=12,
              expect={"distinct_backends": 2})
    assert r.passed, r.summary + r.reason
    client = next(p for p in plan.pods if p.name == "client")
    code = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);"
            "s.sendto(b'hi',('10.96.0.101',53));print(s.recv(512).decode())")
    out = in_ns(client.netns, sys.executable, "-c", code)
    assert "Hostname: u" in out.stdout, out.stderr
    assert f"RemoteAddr: {client.ip}:" in out.stdout


def test_tcp_and_dns_checks_and_the_check_command(make_lab):
    plan = make_lab(lab_doc(nodes=("node1", "node2"), clients=("laptop",)),
                    deployment(replicas=3), pod("client", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.100"))
    ok = check(plan, "pod/client", "tcp", "svc/web-svc-cip", port=80, attempts=3)
    assert ok.passed and "3/3 connected" in ok.summary, ok.summary
    closed = check(plan, "pod/client", "tcp", "svc/web-svc-cip", port=81, timeout_s=1,
                   expect={"success": False})
    assert closed.passed, closed.summary
    # no DNS server in this lab yet: dig gets no answer, quickly, and says so
    dns = check(plan, "pod/client", "dns", "web-svc-cip.default.svc.cluster.local",
                server="client/laptop", timeout_s=1, expect={"success": False})
    assert dns.passed and dns.summary.startswith("no answer"), dns.summary
    assert dns.command.startswith("dig ") and "@172.18.0.254" in dns.command
    r = netlab("check", "--lab", plan.spec.name, "pod/client", "http", "svc/web-svc-cip",
               "--attempts", "30", "--backends", "3")
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    r = netlab("check", "--lab", plan.spec.name, "deploy/web", "ping", "svc/web-svc-cip",
               "--timeout", "1")
    assert r.returncode == 1 and "FAIL" in r.stdout


def test_get_outputs_kubernetes_objects(make_lab):
    plan = make_lab(*classic_docs())
    lab = plan.spec.name
    pods = json.loads(netlab("get", "pods", "--lab", lab, "-o", "json").stdout)
    assert pods["kind"] == "List" and len(pods["items"]) == 4
    assert all(p["status"]["phase"] == "Running" for p in pods["items"])
    ep = json.loads(netlab("get", "ep", "web-svc-cip", "--lab", lab, "-o", "json").stdout)
    assert len(ep["subsets"][0]["addresses"]) == 3
    table = netlab("get", "svc", "--lab", lab).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert [r.split()[:5] for r in table[1:]] == [  # sorted by name, as kubectl sorts them
        ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        ["web-svc-cip", "ClusterIP", "10.96.0.100", "<none>", "80/TCP"]]
    wide = netlab("get", "pods", "--lab", lab, "-o", "wide").stdout
    assert all(p.ip in wide for p in plan.pods)
    # a container that dies is restarted by the lab's controller and counted, as in kubectl
    state = json.load(open(f"/run/netlab/{lab}/state.json"))
    pid = state["processes"]["default/client"]["c"]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        row = next(line for line in netlab("get", "pods", "--lab", lab).stdout.splitlines()
                   if line.startswith("client ")).split()
        if row[1:4] == ["1/1", "Running", "1"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row[1:4] == ["1/1", "Running", "1"]


def test_manual_steps_build_a_working_pod_network():
    """The commands `netlab steps` prints build a pod network that carries traffic."""
    from netlab.bench import ByHand
    from netlab.plan.build import plan_lab
    from tests.integration.conftest import unique_name

    name = unique_name("hand")
    sc = scenario_from(lab_doc(name=name), pod("red"), pod("blue", command="[sleep, infinity]"))
    plan, _ = plan_lab(sc)
    hand = ByHand(plan)
    try:
        hand.up()
        blue = next(p for p in plan.pods if p.name == "blue")
        red = next(p for p in plan.pods if p.name == "red")
        out = in_ns(blue.netns, "curl", "-s", "--max-time", "2", f"http://{red.ip}/")
        assert "Hostname: red" in out.stdout and f"RemoteAddr: {blue.ip}:" in out.stdout
    finally:
        hand.down()
    assert hand.leftovers() == []


def scenario_from(*docs):
    from tests.helpers import scenario

    return scenario(*docs)

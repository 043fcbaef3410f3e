"""Changing a running lab: scale, delete, apply; no stale chains; UDP survives a replaced pod.

Address plan: see conftest. Deployment web (port 8000) behind web-svc-cip 10.96.0.130; UDP
server behind dns-svc 10.96.0.131:53 -> 5353; client pod on node1.
"""

from __future__ import annotations

import sys

import pytest

from netlab.checks.runner import run_check
from netlab.model import CheckSpec
from netlab.proxy.iptables import svc_chain
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import in_ns, netlab, wait_for

pytestmark = pytest.mark.root

UDP_DEPLOY = deployment(name="dns", replicas=1, port=5353).replace(
    "containerPort: 5353}", "containerPort: 5353, protocol: UDP}")


def backends(plan, service_ref: str, attempts: int) -> set[str]:
    r = run_check(plan, CheckSpec(name="t", source="pod/client", protocol="http",
                                  target=service_ref, attempts=attempts))
    assert r.passed, r.summary
    return set(r.summary.split("backend(s): ")[1].split(";")[0].split(", "))


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_scale_down_and_up_changes_who_answers(make_lab, mode):
    plan = make_lab(lab_doc(nodes=("node1", "node2"), mode=mode), deployment(replicas=3),
                    pod("client", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.130"))
    lab = plan.spec.name
    assert len(backends(plan, "svc/web-svc-cip", 30)) == 3
    r = netlab("scale", "--lab", lab, "deploy/web", "--replicas=1")
    assert r.returncode == 0 and "deployment.apps/web scaled" in r.stdout, r.stderr
    from netlab.lifecycle.query import load
    plan1 = load(lab).plan
    assert len(backends(plan1, "svc/web-svc-cip", 10)) == 1
    assert netlab("scale", "--lab", lab, "deploy/web", "--replicas=3").returncode == 0
    plan3 = load(lab).plan
    assert len(backends(plan3, "svc/web-svc-cip", 30)) == 3
    old_ips = {p.ip for p in plan.pods if p.owner}
    new_ips = {p.ip for p in plan3.pods if p.owner}
    assert len(old_ips & new_ips) == 1  # the pod that stayed; the others got fresh addresses
    assert next(s.cluster_ip for s in plan3.services if s.service.name == "web-svc-cip") == \
        "10.96.0.130"


def test_delete_and_apply_leave_no_stale_chains(make_lab, tmp_path):
    plan = make_lab(lab_doc(), deployment(replicas=2), pod("client", command="[sleep, infinity]"),
                    service(cluster_ip="10.96.0.130"))
    lab, node = plan.spec.name, plan.nodes[0].netns
    chain = svc_chain("default/web-svc-cip", "tcp")
    assert chain in in_ns(node, "iptables-save", "-t", "nat").stdout
    r = netlab("delete", "--lab", lab, "svc/web-svc-cip")
    assert r.returncode == 0 and 'service "web-svc-cip" deleted' in r.stdout, r.stderr
    saved = in_ns(node, "iptables-save").stdout
    assert chain not in saved and "web-svc-cip" not in saved
    assert not any(f"--to-destination {p.ip}:" in saved for p in plan.pods)  # no stale SEP
    (tmp_path / "svc.yaml").write_text(service(name="again", cluster_ip="10.96.0.132"))
    r = netlab("apply", "--lab", lab, "-f", str(tmp_path))
    assert r.returncode == 0 and "service/again created" in r.stdout, r.stderr
    assert svc_chain("default/again", "tcp") in in_ns(node, "iptables-save", "-t", "nat").stdout
    r = netlab("apply", "--lab", lab, "-f", str(tmp_path))
    assert "service/again unchanged" in r.stdout
    r = netlab("delete", "--lab", lab, "deploy/nothere")
    assert r.returncode == 2 and "not found" in r.stderr  # bad input
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text(pod("web_1"))
    r = netlab("apply", "--lab", lab, "-f", str(bad))
    assert r.returncode == 2 and "metadata.name" in r.stderr  # rejected, lab unchanged
    assert netlab("get", "svc", "again", "--lab", lab).returncode == 0


UDP_CLIENT = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.bind(("0.0.0.0", 40053))  # a fixed source port, like a resolver that keeps its socket
def ask():
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        s.sendto(b"q", ("10.96.0.131", 53))
        try:
            return s.recv(512).decode().split()[1]
        except OSError:
            pass
    return "none"
print(ask(), flush=True)
sys.stdin.readline()  # the test replaces the server pod meanwhile
print(ask(), flush=True)
"""


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_udp_client_follows_a_replaced_server_pod(make_lab, tmp_path, mode):
    import subprocess

    plan = make_lab(lab_doc(mode=mode), UDP_DEPLOY, pod("client", command="[sleep, infinity]"),
                    service(name="dns-svc", app="dns", port=53, target=5353, proto="UDP",
                            cluster_ip="10.96.0.131"))
    client = next(p for p in plan.pods if p.name == "client")
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{client.netns}", sys.executable,
                             "-c", UDP_CLIENT, "5"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("dns-"), first
        # a new template: the Deployment replaces its pod with a new one (new name, new IP)
        (tmp_path / "d.yaml").write_text(UDP_DEPLOY.replace("app: dns}", "app: dns, v: '2'}"))
        r = netlab("apply", "--lab", plan.spec.name, "-f", str(tmp_path))
        assert r.returncode == 0, r.stderr
        # the rollout: the new pod first, then the old one goes (Terminating, then gone)
        r = netlab("rollout", "status", "deploy/dns", "--lab", plan.spec.name)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for("the old pod gone", lambda: "Terminating" not in netlab(
            "get", "pods", "--lab", plan.spec.name).stdout)
        proc.stdin.write("\n")
        proc.stdin.flush()
        second = proc.stdout.readline().strip()
        # "none": the datagrams kept going to the old pod through a stale conntrack entry
        assert second.startswith("dns-") and second != first, (first, second)
    finally:
        proc.kill()
        proc.wait()


def test_switching_session_affinity_off_spreads_again(make_lab, tmp_path):
    sticky = service(cluster_ip="10.96.0.133").replace(
        "spec: {selector", "spec: {sessionAffinity: ClientIP, selector")
    plan = make_lab(lab_doc(nodes=("node1", "node2")), deployment(replicas=3),
                    pod("client", command="[sleep, infinity]"), sticky)
    assert len(backends(plan, "svc/web-svc-cip", 15)) == 1
    (tmp_path / "svc.yaml").write_text(service(cluster_ip="10.96.0.133"))
    r = netlab("apply", "--lab", plan.spec.name, "-f", str(tmp_path))
    assert r.returncode == 0 and "service/web-svc-cip configured" in r.stdout, r.stderr
    assert len(backends(plan, "svc/web-svc-cip", 15)) >= 2


def test_apply_of_a_lab_changes_only_proxy_settings(make_lab, tmp_path):
    from netlab.kernel import features

    plan = make_lab(lab_doc(), deployment(replicas=1), service(cluster_ip="10.96.0.130"))
    lab = plan.spec.name
    (tmp_path / "lab.yaml").write_text(lab_doc(name=lab, nodes=("node1", "node9")))
    r = netlab("apply", "--lab", lab, "-f", str(tmp_path / "lab.yaml"))
    assert r.returncode == 2 and "only the proxy settings of the Lab" in r.stderr
    if not features.loaded(["ip_vs", "dummy"]):
        (tmp_path / "lab.yaml").write_text(lab_doc(name=lab, mode="ipvs"))
        r = netlab("apply", "--lab", lab, "-f", str(tmp_path / "lab.yaml"))
        assert r.returncode == 2 and "needed for proxyMode ipvs" in r.stderr
    from netlab.lifecycle.query import load
    still = load(lab).plan
    assert still.spec.proxy_mode == "iptables" and still.spec.nodes == ("node1",)

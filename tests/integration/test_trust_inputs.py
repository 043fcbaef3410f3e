"""Inputs that slipped through, private state, changes that clashed (issue 10), through the
real CLI: refused with exit 2 and nothing created, or handled as Kubernetes handles them.

Address plan: see conftest (pods 10.244.0.0/16, services 10.96.0.0/12, lab network
172.18.0.0/24); a selector-less Service "outside" points at 172.18.0.253:8080.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from netlab.plan.naming import RUN_DIR, lab_dir
from tests.helpers import lab_doc, pod, service
from tests.integration.conftest import netlab, unique_name
from tests.integration.test_safety import lab_traces

pytestmark = pytest.mark.root


def write(tmp_path, name: str, *docs: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n---\n".join([lab_doc(name=name), *docs]))
    return str(path)


def refused(r, *needles: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr


@pytest.mark.parametrize(("what", "doc", "needle"), [
    ("newline", 'apiVersion: v1\nkind: Pod\nmetadata: {name: "web\\n"}\n'
                "spec: {containers: [{name: c, image: nginx}]}\n", "is not a DNS subdomain"),
    ("duplicate key", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"
                      "spec: {containers: [{name: c, image: nginx}]}\n",
     "key 'name' is already set"),
    ("deep", "a: " + "[" * 100000 + "]" * 100000, "nested deeper than 100 levels"),
    ("probe", pod("p", extra="").replace(
        "image: nginx}", "image: nginx, readinessProbe: {tcpSocket: {port: 80}, "
                         "initialDelaySeconds: 99999999999}}"),
     "initialDelaySeconds: must be a whole number from 0 to 3600"),
])
def test_bad_input_is_refused_before_anything_is_created(tmp_path, what, doc, needle):
    name = unique_name("in")
    r = netlab("up", write(tmp_path, name, doc), timeout=60)
    refused(r, needle)
    assert lab_traces(name) == []


@pytest.mark.parametrize("cidr", ["127.0.0.0/16", "224.0.0.0/16", "0.0.0.0/16",
                                  "169.254.0.0/16"])
def test_lab_cidrs_that_cannot_carry_traffic_are_refused(tmp_path, cidr):
    name = unique_name("cidr")
    path = tmp_path / "lab.yaml"
    path.write_text(lab_doc(name=name).replace("routing: host-gw",
                                               f"routing: host-gw\n  podCIDR: {cidr}"))
    refused(netlab("up", str(path)), f"{cidr} overlaps")
    assert lab_traces(name) == []


def test_a_253_character_pod_name_works_and_down_removes_everything(tmp_path):
    name = unique_name("long")
    long = ".".join(["a" * 63] * 3) + "." + "b" * 61
    dotted = "x" * 60 + ".y.z.w"  # hostname: the first 63 characters, no trailing '.'
    docs = [f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {n}}}\n"
            "spec: {containers: [{name: c, image: nginx, command: [sleep, infinity]}]}\n"
            for n in (long, dotted)]
    r = netlab("up", write(tmp_path, name, *docs), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        out = netlab("exec", "--lab", name, f"pod/{dotted}", "--", "hostname")
        assert out.stdout.strip() == ("x" * 60 + ".y"), out.stdout + out.stderr
        pods = netlab("get", "pods", "--lab", name).stdout
        assert long in pods and "Running" in pods
    finally:
        d = netlab("down", name)
    assert d.returncode == 0 and lab_traces(name) == []


def test_state_is_private_and_junit_does_not_follow_a_planted_symlink(tmp_path):
    name = unique_name("priv")
    check = ("apiVersion: netlab/v1\nkind: Check\nmetadata: {name: self}\n"
             "spec: {from: pod/a, ping: pod/a}\n")
    path = write(tmp_path, name, pod("a", command="[sleep, infinity]"), check)
    r = netlab("up", path, "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(os.stat(RUN_DIR).st_mode) == 0o700
        d = lab_dir(name)
        for f in ("state.json", "journal.jsonl", "lock", "logs/default.a.c.log",
                  "logs/controller.log"):
            assert stat.S_IMODE(os.stat(f"{d}/{f}").st_mode) == 0o600, f
        assert stat.S_IMODE(os.stat(f"{d}/logs").st_mode) == 0o700
    finally:
        netlab("down", name)
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    (tmp_path / "out.xml").symlink_to(victim)
    r = netlab("test", path, "--junit", str(tmp_path / "out.xml"))
    assert r.returncode == 2 and "is a symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == "root's file\n"


OUTSIDE = """apiVersion: v1
kind: Service
metadata: {name: outside}
spec: {ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: outside}
subsets: [{addresses: [{ip: 172.18.0.253}], ports: [{port: 8080}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: outside-1, labels: {kubernetes.io/service-name: outside}}
addressType: IPv4
endpoints: [{addresses: [172.18.0.254]}]
ports: [{port: 8080}]
"""


def test_hand_written_endpoints_and_a_node_port_clash(tmp_path):
    name = unique_name("ep")
    np = service(name="np").replace("spec: {selector", "spec: {type: NodePort, selector")
    r = netlab("up", write(tmp_path, name, OUTSIDE, np), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        for kind in ("ep", "endpointslices"):
            got = netlab("get", kind, "--lab", name, "-o", "json")
            assert got.returncode == 0 and "Traceback" not in got.stderr, got.stderr
        ep = json.loads(netlab("get", "ep", "outside", "--lab", name, "-o", "json").stdout)
        assert {a["ip"] for s in ep["subsets"] for a in s["addresses"]} == \
            {"172.18.0.253", "172.18.0.254"}
        held = json.loads(netlab("get", "svc", "np", "--lab", name, "-o", "json").stdout)[
            "spec"]["ports"][0]["nodePort"]
        clash = tmp_path / "clash.yaml"
        clash.write_text(service(name="other").replace(
            "spec: {selector", "spec: {type: NodePort, selector").replace(
            "targetPort: 8000", f"targetPort: 8000, nodePort: {held}"))
        refused(netlab("apply", "--lab", name, "-f", str(clash)),
                f"node port {held}/TCP is already allocated to default/np")
        assert "other" not in netlab("get", "svc", "--lab", name).stdout
        node = json.loads(netlab("get", "nodes", "--lab", name, "-o", "json").stdout)
        assert node["items"]
    finally:
        netlab("down", name)


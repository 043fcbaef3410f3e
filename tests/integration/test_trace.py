"""`netlab trace` on a running lab, in iptables and nftables modes: the explanation read from
the node's loaded rules, the kernel's own trace of one real connection (--prove) agreeing
with it, a tampered rule explained, and bad references refused before anything runs.

Address plan: lab network 172.18.0.0/24 (node1 .2, node2 .3, client laptop .254); pods
10.244.0.0/24 on node1, 10.244.1.0/24 on node2 (two web pods, one per node, port 8000,
and pod client on node1, and pod relay on node1 with hostPort 9090 -> 8000); ClusterIP
10.96.0.160 port 80, and 53/UDP -> 8053 where nothing listens; NodePort 30090.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import deployment, lab_doc, pod
from tests.integration.conftest import in_ns, netlab, unique_name

pytestmark = pytest.mark.root

NODEPORT = """
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000, nodePort: 30090}]
"""

CLUSTERIP = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.160
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8000}
  - {name: dns, port: 53, targetPort: 8053, protocol: UDP}
"""


RELAY = """
apiVersion: v1
kind: Pod
metadata: {name: relay, labels: {app: relay}}
spec:
  nodeName: node1
  containers:
  - {name: relay, image: "python:3-slim", ports: [{containerPort: 8000, hostPort: 9090}]}
"""


@pytest.fixture(scope="module", params=["iptables", "nftables"])
def lab(request, tmp_path_factory):
    mode = request.param
    name = unique_name(f"tr{mode[:3]}")
    path = tmp_path_factory.mktemp(mode) / "lab.yaml"
    path.write_text("---\n".join([
        lab_doc(name, nodes=("node1", "node2"), clients=("laptop",), mode=mode),
        deployment(replicas=2), CLUSTERIP, NODEPORT, RELAY,
        pod("client", node="node1", command="[sleep, infinity]")]))
    r = netlab("up", str(path), "--no-checks", timeout=300)
    try:
        assert r.returncode == 0, r.stderr
        yield name, mode
    finally:
        netlab("down", name, timeout=300)


def trace(name: str, *args: str):
    r = netlab("trace", "--lab", name, *args, "-o", "json", timeout=60)
    assert r.returncode in (0, 1), r.stderr
    return r, json.loads(r.stdout)


def test_cluster_ip_from_a_pod_reaches_either_pod_unmasqueraded(lab):
    name, mode = lab
    _, out = trace(name, "pod/client", "svc/web:80")
    assert out["mode"] == mode and out["node"] == "node1"
    assert out["what"] == "default/web cluster IP"
    paths = out["paths"]
    assert sorted(p["endpointNode"] for p in paths) == ["node1", "node2"]
    assert all(p["verdict"] == "accept" and not p["masquerade"] for p in paths)
    assert [round(p["odds"], 3) for p in paths] == [0.5, 0.5]
    assert all(p["dnat"].endswith(":8000") and p["endpoint"].startswith("default/web-")
               for p in paths)
    chains = {h["chain"] for p in paths for h in p["hops"]}
    if mode == "iptables":
        assert "KUBE-SERVICES" in chains and any(c.startswith("KUBE-SEP-") for c in chains)
    else:
        assert "services" in chains and any(c.startswith("endpoint-") for c in chains)
    # the text says the same, in the lessons' words
    text = netlab("trace", "--lab", name, "pod/client", "svc/web").stdout
    assert "one of 2 ways" in text and "50.0%  DNAT to 10.244." in text


def test_prove_the_kernel_takes_a_predicted_path(lab):
    name, mode = lab
    r, out = trace(name, "pod/client", "svc/web:80", "--prove")
    proof = out["proof"]
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert proof["answered"] and proof["agrees"], proof
    assert proof["monitor"] == ("nft monitor trace" if mode == "nftables"
                                else "xtables-monitor --trace")
    assert proof["dnat"] in {p["dnat"] for p in out["paths"]}
    assert proof["hops"], proof
    # netlab's trace table is gone afterwards, kube-proxy's untouched
    tables = in_ns(f"netlab.{name}.node.node1", "nft", "list", "tables").stdout
    assert "netlab-trace" not in tables


def test_a_udp_flow_is_traced_and_proved_even_without_an_answer(lab):
    name, mode = lab
    r, out = trace(name, "pod/client", "svc/web:dns", "--udp", "--prove")
    assert out["packet"]["proto"] == "udp" and out["packet"]["dport"] == 53
    assert sorted(p["dnat"].split(":")[1] for p in out["paths"]) == ["8053", "8053"]
    proof = out["proof"]
    assert r.returncode == 0 and proof["agrees"] and proof["dnat"].endswith(":8053"), proof
    assert not proof["answered"]  # nothing listens on 8053: the trace still shows the way


def test_node_port_from_a_client_is_masqueraded(lab):
    name, mode = lab
    _, out = trace(name, "client/laptop", "node/node2:30090")
    assert out["node"] == "node2" and out["what"] == "default/web-np node port on node2"
    assert {p["masquerade"] for p in out["paths"]} == {True}
    assert len(out["paths"]) == 2


def test_a_pod_leaving_the_cluster_is_masqueraded_by_the_pod_network(lab):
    """flannel's masquerade is an iptables rule in every mode; in nftables mode too the walk
    reads it beside kube-proxy's table."""
    name, mode = lab
    _, out = trace(name, "pod/client", "172.18.0.254:80")
    (path,) = out["paths"]
    assert path["masquerade"] and path["dnat"] == "", path
    assert path["whyMasqueraded"].startswith("FLANNEL-POSTRTG: flanneld masq"), path
    assert {h["table"] for h in path["hops"] if h["chain"] == "FLANNEL-POSTRTG"} == {"nat"}
    assert out["back"] == ["no service rule rewrote its destination; masqueraded, it reaches "
                           "172.18.0.254 from node1's address, whose conntrack turns the "
                           "replies back to " + out["packet"]["src"]]


def test_a_host_port_is_traced_and_proved_through_the_portmap_rules(lab):
    name, mode = lab
    r, out = trace(name, "client/laptop", "node/node1:9090", "--prove")
    (path,) = out["paths"]
    assert path["endpoint"] == "default/relay" and path["dnat"].endswith(":8000"), path
    assert any(h["chain"].startswith("CNI-DN-") for h in path["hops"]), path
    proof = out["proof"]
    assert r.returncode == 0 and proof["answered"] and proof["agrees"], proof
    assert proof["dnat"] == path["dnat"]


def test_a_tampered_rule_is_explained(lab):
    """A hand-made iptables rule drops one endpoint's traffic: in nftables mode too, where
    the kernel runs iptables' FORWARD after kube-proxy's filter-forward."""
    name, mode = lab
    node = f"netlab.{name}.node.node1"
    _, before = trace(name, "pod/client", "svc/web:80")
    victim = before["paths"][0]["dnat"].split(":")[0]
    r = in_ns(node, "iptables", "-I", "FORWARD", "-d", victim, "-j", "DROP")
    assert r.returncode == 0, r.stderr
    try:
        _, after = trace(name, "pod/client", "svc/web:80")
        dropped = [p for p in after["paths"] if p["verdict"] == "drop"]
        assert [p["dnat"].split(":")[0] for p in dropped] == [victim]
        assert (dropped[0]["hops"][-1]["table"], dropped[0]["hops"][-1]["chain"]) == \
            ("filter", "FORWARD")
        assert dropped[0]["hops"][-1]["rule"] == f"-d {victim}/32 -j DROP"
    finally:
        in_ns(node, "iptables", "-D", "FORWARD", "-d", victim, "-j", "DROP")


@pytest.mark.parametrize("args,needle", [
    (("pod/nobody", "svc/web"), "pod/nobody is not in lab"),
    (("pod/client", "svc/web:99"), "svc/web has no TCP port 99"),
    (("pod/client", "svc/web:80", "--udp"), "svc/web has no UDP port 80"),
    (("pod/client", "10.96.0.160"), "say which port"),
    (("svc/web", "svc/web"), "a trace starts at pod/, deploy/, node/ or client/"),
])
def test_bad_references_are_refused_in_one_line(lab, args, needle):
    name, _ = lab
    r = netlab("trace", "--lab", name, *args)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
        r.stderr


def test_graph_of_the_running_lab_lights_the_traced_path(lab):
    name, mode = lab
    r = netlab("graph", name, "--trace", "pod/client", "svc/web:80", "-o", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    webs = {b["id"] for b in out["boxes"] if b["id"].startswith("pod/default/web-")}
    assert len(webs) == 2
    assert set(out["highlight"]) == {"pod/default/client", "node/node1", "node/node2",
                                     "svc/default/web", "lan", *webs}
    assert f"kube-proxy: {mode}" in next(b for b in out["boxes"]
                                          if b["id"] == "node/node1")["label"]
    svg = netlab("graph", name, "-o", "svg").stdout
    assert svg.lstrip().startswith("<?xml") and "svc default/web" in svg

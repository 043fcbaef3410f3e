"""netlab graph's model and drawing (no root): boxes and arrows from a lab's plan, the DOT
text, and one SVG drawn by Graphviz checked for its boxes and arrows.

Address plan: two nodes on 172.18.0.0/24 (node1 .2 with pods 10.244.0.0/24, node2 .3 with
10.244.1.0/24), client laptop .254; web pods on both nodes behind svc web-svc-cip
(10.96.0.100:80 -> 8000) and a LoadBalancer web-lb at 192.0.2.10 announced by node2.
"""

from __future__ import annotations

import pathlib
import shutil
import xml.etree.ElementTree as ET

import pytest

from netlab.graph import dot, model
from netlab.plan.build import plan_lab
from tests.helpers import deployment, lab_doc, scenario, service

LESSONS = pathlib.Path(__file__).parent.parent / "scenarios"

LB = """
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  loadBalancerIP: 192.0.2.10
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000, nodePort: 30100}]
"""


def lab_graph(**kw):
    plan, _ = plan_lab(scenario(lab_doc("g", nodes=("node1", "node2"), clients=("laptop",),
                                        routing=kw.get("routing", "host-gw")),
                                deployment(replicas=2), service(cluster_ip="10.96.0.100"), LB))
    return plan, model.build(plan, {"192.0.2.10": "node2"})


def test_boxes_and_arrows_of_a_two_node_lab():
    plan, g = lab_graph()
    kinds = {b.id: b.kind for b in g.boxes}
    assert kinds["lan"] == "lan" and kinds["node/node1"] == "node"
    assert kinds["client/laptop"] == "client" and kinds["svc/default/web-svc-cip"] == "service"
    pods = [b for b in g.boxes if b.kind == "pod"]
    assert sorted(b.within for b in pods) == ["node/node1", "node/node2"]
    assert all(b.label[1].startswith("10.244.") for b in pods)
    arrows = {(a.src, a.dst, a.kind) for a in g.arrows}
    assert ("node/node1", "lan", "link") in arrows and ("client/laptop", "lan", "link") in arrows
    routes = [a for a in g.arrows if a.kind == "route"]
    assert {(a.src, a.label) for a in routes} == {("node/node1", "10.244.1.0/24 via 172.18.0.3"),
                                                  ("node/node2", "10.244.0.0/24 via 172.18.0.2")}
    eps = sorted(a.dst for a in g.arrows if a.src == "svc/default/web-svc-cip")
    assert eps == sorted(f"pod/{p.key}" for p in plan.pods)
    svc = next(b for b in g.boxes if b.id == "svc/default/web-lb")
    assert svc.label == ("svc default/web-lb", "LoadBalancer", svc.label[2], "80:30100/TCP",
                         "LB 192.0.2.10")
    assert ("node/node2", "svc/default/web-lb", "announce") in arrows


def test_vxlan_routes_are_named_and_json_agrees_with_the_model():
    _, g = lab_graph(routing="vxlan")
    assert {a.label for a in g.arrows if a.kind == "route"} == {
        "10.244.1.0/24 VXLAN flannel.1", "10.244.0.0/24 VXLAN flannel.1"}
    data = g.to_json()
    assert len(data["boxes"]) == len(g.boxes) and len(data["arrows"]) == len(g.arrows)


def test_dot_text_puts_pods_in_their_node_and_highlights_a_path():
    plan, g = lab_graph()
    first = plan.pods[0]
    g.highlight = {"client/laptop", "node/node2", "svc/default/web-lb", f"pod/{first.key}"}
    text = dot.to_dot(g)
    assert 'subgraph "cluster_node/node1" {' in text
    assert f'"pod/{first.key}" -> "node/{first.node}" [arrowhead=none];' in text
    assert '"node/node2" -> "svc/default/web-lb" [color="#8a6d3b", style=bold, ' \
        'label="ARP 192.0.2.10", color="#d9534f", penwidth=3];' in text
    assert text.count("penwidth=3") >= 4


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is installed by scripts/setup")
def test_graphviz_draws_every_box_and_arrow():
    plan, g = lab_graph()
    svg = ET.fromstring(dot.render(dot.to_dot(g), "svg"))
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {t.text for t in svg.iterfind(".//s:g/s:title", ns)}
    for b in g.boxes:
        assert b.id in titles, b.id
    assert "svc/default/web-svc-cip->pod/" + plan.pods[0].key in titles
    assert "client/laptop->lan" in titles
    texts = " ".join(t.text or "" for t in svg.iterfind(".//s:text", ns))
    assert "ClusterIP 10.96.0.100" in texts and "LB 192.0.2.10" in texts


def test_the_ingress_controller_routes_by_each_ingress():
    from netlab.scenario import load_scenario

    plan, _ = plan_lab(load_scenario([str(LESSONS / "ingress-nginx.yaml")]))
    g = model.build(plan)
    routes = [(a.src, a.dst, a.label) for a in g.arrows if a.kind == "ingress"]
    assert any(src.startswith("pod/ingress-nginx/ingress-nginx-controller-") and
               dst == "ingress/default/web-ingress" for src, dst, _ in routes)
    assert ("ingress/default/web-ingress", "svc/default/web-svc", "*/web") in routes


def test_every_shipped_lesson_has_its_picture_in_the_readme():
    readme = (LESSONS.parent / "README.md").read_text()
    for f in sorted(LESSONS.glob("*.yaml")):
        picture = LESSONS.parent / "docs" / "lessons" / f"{f.stem}.svg"
        assert picture.exists(), f"{picture} missing: run scripts/lesson-pictures"
        assert f"docs/lessons/{f.stem}.svg" in readme, f.stem


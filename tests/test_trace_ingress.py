"""netlab trace past kube-proxy (no root): a path that reaches ingress-nginx's pod goes on
through the location nginx picks for the request's host and path.

Address plan: scenarios/ingress-nginx.yaml (the controller behind 172.17.255.1, web pods on
port 8000 behind the headless default/web-svc, Ingress default/web-ingress for /web).
"""

from __future__ import annotations

import pathlib

from netlab.lifecycle.tracing import Branch, ingress_step
from netlab.plan.build import plan_lab
from netlab.scenario import load_scenario
from netlab.trace.path import Path

LESSONS = pathlib.Path(__file__).parent.parent / "scenarios"


def test_trace_follows_a_path_into_ingress_nginx():
    plan, _ = plan_lab(load_scenario([str(LESSONS / "ingress-nginx.yaml")]))
    ctrl = next(p for p in plan.pods if p.namespace == "ingress-nginx")
    into = Branch(Path(1.0, (), "accept", f"{ctrl.ip}:80"), ctrl.key, ctrl.node)
    step = ingress_step(plan, [into], "172.17.255.1", "/web/index.html")
    assert (step.controller, step.server, step.ingress) == (ctrl.key, "_",
                                                            "default/web-ingress")
    assert step.location.startswith("/web") and step.upstream == "default-web-svc-80"
    web = sorted(f"{p.ip}:8000" for p in plan.pods if p.name.startswith("web-"))
    assert sorted(step.servers) == web
    elsewhere = ingress_step(plan, [into], "172.17.255.1", "/nothing")
    assert elsewhere.upstream == "" and elsewhere.location == "/"
    assert ingress_step(plan, [Branch(Path(1.0, (), "accept", "10.244.0.2:8000"), "", "")],
                    "x", "/") is None

"""The live lab: probes decide endpoints, containers restart, flushed rules come back.

Address plan: see conftest; one node pair per test lab; pods placed round robin.
Waiting is done by polling the thing (state, rules, answers) with a deadline, never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from netlab.checks.runner import run_check
from netlab.lifecycle.query import wait_probed
from netlab.model import CheckSpec, Expect
from tests.helpers import lab_doc, pod, service
from tests.integration.conftest import in_ns, netlab, wait_for

pytestmark = pytest.mark.root

PROBED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 8000}]
        readinessProbe: {httpGet: {port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: good, labels: {app: web}}
spec:
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 8000}]
    readinessProbe: {httpGet: {port: 8000}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: doomed}
spec:
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 8000}]  # the app listens here, the probe knocks on 9999
    livenessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1, failureThreshold: 1}
"""


def state_of(plan) -> dict:
    with open(f"/run/netlab/{plan.spec.name}/state.json") as f:
        return json.load(f)


def pods_table(plan) -> dict[str, list[str]]:
    out = netlab("get", "pods", "--lab", plan.spec.name).stdout.splitlines()[1:]
    return {line.split()[0]: line.split() for line in out}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_unready_pods_get_no_traffic(make_lab, mode):
    plan = make_lab(lab_doc(nodes=("node1", "node2"), mode=mode), PROBED,
                    pod("client", command="[sleep, infinity]"),
                    service(name="web", cluster_ip="10.96.0.120"))
    wait_for("good to be ready", lambda: pods_table(plan)["good"][1] == "1/1")
    table = pods_table(plan)
    web = [row for name, row in table.items() if name.startswith("web-")]
    assert len(web) == 2 and all(row[1:3] == ["0/1", "Running"] for row in web)
    ep = json.loads(netlab("get", "ep", "web", "--lab", plan.spec.name, "-o", "json").stdout)
    good = next(p for p in plan.pods if p.name == "good")
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == [good.ip]
    r = run_check(plan, CheckSpec(name="t", source="pod/client", protocol="http",
                                  target="svc/web", attempts=10))
    assert r.passed and "1 backend(s): good" in r.summary, r.summary
    # the Deployment reports its unready pods, and describe says why
    deploy = netlab("get", "deploy", "--lab", plan.spec.name).stdout.splitlines()
    assert deploy[1].split()[:4] == ["web", "0/2", "2", "0"]
    name = next(n for n in table if n.startswith("web-"))
    wait_for("a probe event", lambda: "Readiness probe failed" in netlab(
        "describe", f"pod/{name}", "--lab", plan.spec.name).stdout)
    text = netlab("describe", f"pod/{name}", "--lab", plan.spec.name).stdout
    assert "Ready:          False" in text and "Ready             False" in text
    assert "Readiness:      http-get http://:80/ delay=0s timeout=1s period=1s" in text
    assert "connect: connection refused" in text and "Warning   Unhealthy" in text


def test_crashed_and_unhealthy_containers_restart(make_lab):
    plan = make_lab(lab_doc(), PROBED)
    # liveness probe on a closed port: restarted over and over
    wait_for("doomed to restart", lambda: int(pods_table(plan)["doomed"][3]) >= 1)
    # a killed container comes back, counted
    pid = state_of(plan)["processes"]["default/good"]["web"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for("good to restart", lambda: pods_table(plan)["good"][3] == "1")
    new = state_of(plan)["processes"]["default/good"]["web"]
    assert new["pid"] != pid and new["state"] == "running"


def test_flushed_tables_come_back(make_lab):
    plan = make_lab(lab_doc(), pod("client", command="[sleep, infinity]"), PROBED,
                    service(name="web", cluster_ip="10.96.0.121"))
    assert wait_probed(plan.spec.name)  # good is ready: the rules to restore send it traffic
    node = plan.nodes[0].netns
    for table in ("nat", "filter", "mangle"):
        in_ns(node, "iptables", "-t", table, "-F")
        in_ns(node, "iptables", "-t", table, "-X")
    assert "KUBE-SERVICES" not in in_ns(node, "iptables-save").stdout
    wait_for("the rules to come back",
             lambda: "-j KUBE-SERVICES" in in_ns(node, "iptables-save", "-t", "nat").stdout)
    r = run_check(plan, CheckSpec(name="t", source="pod/client", protocol="http",
                                  target="svc/web", attempts=3, expect=Expect(status=200)))
    assert r.passed, r.summary

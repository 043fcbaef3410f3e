"""Workloads as a cluster runs them (issue 11): a rolling update that drops no request, with
the Deployment controller's events, rollout status/history/undo; a DaemonSet on every node
with hostNetwork (the Traefik pattern) and one with a hostPort (the CNI portmap plugin's
CNI-HOSTPORT-DNAT rules in the node).

Address plan: lab network 172.18.0.0/24 (node1 .2, node2 .3); pods 10.244.0.0/16; the web
Service's ClusterIP from 10.96.0.0/12; hostNetwork agent on port 8080 of each node; hostPort
9090 of each node forwarded to the relay pod's 8000.
"""

from __future__ import annotations

import pathlib
import subprocess
import textwrap
import time

import pytest

from netlab.plan import naming
from tests.helpers import lab_doc
from tests.integration.conftest import in_ns, netlab, unique_name, wait_for

pytestmark = pytest.mark.root


def web(version: str) -> str:
    return textwrap.dedent(f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          replicas: 3
          strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              containers:
                - name: web
                  image: python:3-slim
                  env: [{{name: VERSION, value: "{version}"}}]
                  ports: [{{containerPort: 8000}}]
                  readinessProbe: {{httpGet: {{path: /, port: 8000}}, periodSeconds: 1}}
        """)


DAEMONS = textwrap.dedent("""
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8000}]
    ---
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec:
          hostNetwork: true
          containers: [{name: agent, image: python:3-slim, ports: [{containerPort: 8080}]}]
    ---
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: relay}
    spec:
      selector: {matchLabels: {app: relay}}
      template:
        metadata: {labels: {app: relay}}
        spec:
          containers:
            - name: relay
              image: python:3-slim
              ports: [{containerPort: 8000, hostPort: 9090}]
    """)

NODES = {"node1": "172.18.0.2", "node2": "172.18.0.3"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_name("wl")
    path = tmp_path_factory.mktemp("wl") / "lab.yaml"
    path.write_text(lab_doc(name=name, nodes=("node1", "node2")) + "---\n" + web("1") +
                    "---\n" + DAEMONS)
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        yield name, path.parent
    finally:
        netlab("down", name)


def rows(lab: str, *args: str) -> list[list[str]]:
    r = netlab("get", *args, "--lab", lab)
    assert r.returncode == 0, r.stderr
    return [line.split() for line in r.stdout.splitlines()[1:]]


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_a_host_network_daemonset_answers_on_every_node(lab, node):
    name, _ = lab
    assert [r[:4] for r in rows(name, "ds")] == [["agent", "2", "2", "2"],
                                                 ["relay", "2", "2", "2"]]
    other = "node2" if node == "node1" else "node1"
    r = in_ns(naming.node_netns(name, other), "curl", "-s", "-m", "3",
              f"http://{NODES[node]}:8080/")
    assert f"Hostname: {node}" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_a_host_port_forwards_the_node_port_to_its_pod(lab, node):
    name, _ = lab
    relay = {r[6]: r[0] for r in rows(name, "pods", "-o", "wide") if r[0].startswith("relay-")}
    other = "node2" if node == "node1" else "node1"
    r = in_ns(naming.node_netns(name, other), "curl", "-s", "-m", "3",
              f"http://{NODES[node]}:9090/")
    assert f"Hostname: {relay[node]}" in r.stdout, r.stdout + r.stderr
    saved = in_ns(naming.node_netns(name, node), "iptables-save", "-t", "nat").stdout
    assert "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT" in saved
    assert "--dport 9090 -j DNAT --to-destination" in saved, saved


def _stream(name: str, url: str, seconds: int) -> subprocess.Popen:
    """Requests one after the other from node1 for SECONDS; prints 'ok=N bad=M'."""
    loop = (f'ok=0; bad=0; end=$(($(date +%s)+{seconds})); '
            f'while [ "$(date +%s)" -lt "$end" ]; do '
            f'if curl -sf -m 1 -o /dev/null {url}; then ok=$((ok+1)); else bad=$((bad+1)); fi; '
            'done; echo "ok=$ok bad=$bad"')
    return subprocess.Popen(["nsenter", f"--net=/run/netns/{naming.node_netns(name, 'node1')}",
                             "--", "sh", "-c", loop], stdout=subprocess.PIPE, text=True)


def test_a_rolling_update_drops_no_request_and_can_be_undone(lab):
    name, folder = lab
    (svc,) = [r for r in rows(name, "svc") if r[0] == "web"]
    (old_rs,) = [r[0] for r in rows(name, "rs")]
    stream = _stream(name, f"http://{svc[2]}/", 12)
    try:
        time.sleep(1)
        (folder / "v2.yaml").write_text(web("2"))
        r = netlab("apply", "-f", str(folder / "v2.yaml"), "--lab", name)
        assert r.returncode == 0, r.stderr
        r = netlab("rollout", "status", "deploy/web", "--lab", name, "--timeout", "60")
        assert r.returncode == 0 and r.stdout.splitlines()[-1] == \
            'deployment "web" successfully rolled out', r.stdout + r.stderr
        out, _ = stream.communicate(timeout=30)
    finally:
        stream.kill()
    ok, bad = (int(x.split("=")[1]) for x in out.split())
    assert bad == 0 and ok > 20, out  # maxUnavailable 0 and a readiness probe: no failure
    sets = {r[0]: r[1:4] for r in rows(name, "rs")}
    (new_rs,) = set(sets) - {old_rs}
    assert sets == {old_rs: ["0", "0", "0"], new_rs: ["3", "3", "3"]}
    events = netlab("get", "events", "--lab", name).stdout
    scaling = [line.split("ScalingReplicaSet", 1)[1].split(None, 1)[1].strip()
               for line in events.splitlines() if "ScalingReplicaSet" in line]
    assert scaling[:3] == [f"Scaled up replica set {old_rs} from 0 to 3",
                           f"Scaled up replica set {new_rs} from 0 to 1",
                           f"Scaled down replica set {old_rs} from 3 to 2"], events
    assert f"replicaset/{new_rs}" in events and "Killing" in events
    # undo: the first template again, under its own ReplicaSet as revision 3
    r = netlab("rollout", "undo", "deploy/web", "--lab", name)
    assert r.returncode == 0 and "rolled back" in r.stdout, r.stdout + r.stderr
    r = netlab("rollout", "status", "deploy/web", "--lab", name, "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for("the old ReplicaSet back at 3 and the new one at 0",
             lambda: {r[0]: r[1] for r in rows(name, "rs")} == {old_rs: "3", new_rs: "0"})
    history = netlab("rollout", "history", "deploy/web", "--lab", name).stdout
    assert [line.split()[0] for line in history.splitlines()[2:]] == ["2", "3"], history
    r = in_ns(naming.node_netns(name, "node1"), "curl", "-s", "-m", "3", f"http://{svc[2]}/")
    assert "Hostname: " + old_rs in r.stdout, r.stdout


def test_the_readiness_lesson_is_fixed_by_apply(tmp_path):
    """scenarios/readiness-probe.yaml: 0/2 ready and Available False, until the fixed
    Deployment is applied; then a rollout makes it 2/2."""
    root = pathlib.Path(__file__).parents[2] / "scenarios"
    name = unique_name("rd")
    text = (root / "readiness-probe.yaml").read_text().replace("name: readiness",
                                                                 f"name: {name}", 1)
    (tmp_path / "lab.yaml").write_text(text)
    r = netlab("up", str(tmp_path / "lab.yaml"), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        wait_for("the probe failing", lambda: "Readiness probe failed" in netlab(
            "get", "events", "--lab", name).stdout)
        assert rows(name, "deploy")[0][:2] == ["web", "0/2"]
        text = netlab("describe", "deploy/web", "--lab", name).stdout
        assert "  Available      False   MinimumReplicasUnavailable" in text, text
        r = netlab("apply", "-f", str(root / "fixes" / "readiness-probe-fixed.yaml"),
                   "--lab", name)
        assert r.returncode == 0, r.stderr
        r = netlab("rollout", "status", "deploy/web", "--lab", name, "--timeout", "60")
        assert r.returncode == 0, r.stdout + r.stderr
        assert rows(name, "deploy")[0][:4] == ["web", "2/2", "2", "2"]
        text = netlab("describe", "deploy/web", "--lab", name).stdout
        assert "  Available      True    MinimumReplicasAvailable" in text, text
    finally:
        netlab("down", name)


MIXED = {
    "app/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                       "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n"
                       "  template:\n    metadata: {labels: {app: web}}\n    spec:\n"
                       "      containers: [{name: web, image: python:3-slim, "
                       "ports: [{containerPort: 8000}]}]\n",
    "app/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                    "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8000}]}\n",
    "rbac/account.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: traefik}\n"
                         "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
                         "metadata: {name: traefik}\nrules: []\n",
    "config/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
                      "data: {a: b}\n",
    "ingress.yaml": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\n"
                    "spec:\n  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: "
                    "{service: {name: web, port: {number: 80}}}}]}}]\n",
    "job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\n"
                "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
                "      containers: [{name: w, image: busybox, command: [sh, -c, 'echo done']}]\n",
}


def test_up_takes_a_folder_that_mixes_every_kind(tmp_path):
    for rel, body in MIXED.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    name = unique_name("mix")
    r = netlab("up", "--name", name, "-f", str(tmp_path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        lines = r.stderr.splitlines()
        assert lines[0] == "netlab: accepted, no effect on the lab: ConfigMap/default/settings, " \
                           "ServiceAccount/default/traefik, ClusterRole/traefik", r.stderr
        assert not any("not acted on" in line for line in lines), r.stderr
        assert [row[:2] for row in rows(name, "deploy")] == [["web", "2/2"]]
        # the Ingress brings ingress-nginx's controller, which serves it
        assert [row[:3] for row in rows(name, "ingress")] == [["web", "nginx", "*"]]
        assert rows(name, "deploy", "-n", "ingress-nginx")[0][0] == "ingress-nginx-controller"
        wait_for("the Job complete", lambda: rows(name, "jobs")[0][1:3] == ["Complete", "1/1"])
        pod = next(row[0] for row in rows(name, "pods") if row[0].startswith("once-"))
        assert netlab("logs", f"pod/{pod}", "--lab", name).stdout == "done\n"
    finally:
        netlab("down", name)


def test_traefiks_daemonset_as_the_notes_paste_it(tmp_path):
    """tests/manifests/traefik: hostNetwork pods on every node answer on the node's port 80
    (Traefik's 404: no Ingress yet) and 8080 (its dashboard); its Service reaches them; the
    RBAC objects are accepted."""
    folder = pathlib.Path(__file__).parents[1] / "manifests" / "traefik"
    name = unique_name("tfk")
    r = netlab("up", "--name", name, "-f", str(folder), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        assert "ServiceAccount/kube-system/traefik-ingress-controller" in r.stderr
        ds = rows(name, "ds", "-n", "kube-system")
        assert ds[0][:4] == ["traefik-ingress-controller", "1", "1", "1"], ds
        r = in_ns(naming.node_netns(name, "node1"), "curl", "-s", "-m", "3",
                  "http://172.18.0.2:80/")
        assert r.stdout == "404 page not found\n", r.stdout + r.stderr
        r = in_ns(naming.node_netns(name, "node1"), "curl", "-sL", "-m", "3",
                  "http://172.18.0.2:8080/")
        assert "Traefik dashboard" in r.stdout, r.stdout + r.stderr
        (svc,) = [row for row in rows(name, "svc", "-n", "kube-system")
                  if row[0] == "traefik-ingress-service"]
        r = in_ns(naming.node_netns(name, "node1"), "curl", "-sL", "-m", "3",
                  f"http://{svc[2]}:8080/")
        assert "Traefik dashboard" in r.stdout, r.stdout + r.stderr
    finally:
        netlab("down", name)

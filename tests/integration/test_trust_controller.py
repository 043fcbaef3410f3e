"""The controller is supervised and acts as a kubelet would (issue 10): a crashing container
backs off (CrashLoopBackOff, out of Endpoints), init containers show their progress and their
failures, one slow probe stalls nothing, a dead controller is reported and restarted, and
drift (flushed rules, a deleted cni0, a pod's namespace or veth deleted by hand) is repaired.

Address plan: one node (pods 10.244.0.0/24, gateway 10.244.0.1), services in 10.96.0.0/12
(crash-svc 10.96.0.150, web-svc-cip 10.96.0.151); see conftest. Each test polls what a user
would look at (get pods, describe, iptables-save, curl) with a deadline; none sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from netlab.kernel.process import start_time
from netlab.state import LabDir
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import in_ns, netlab, unique_name, wait_for

pytestmark = pytest.mark.root


def up(tmp_path, *docs: str, sync_period: str = "") -> str:
    name = unique_name("ctl")
    lab = lab_doc(name=name)
    if sync_period:
        lab = lab.rstrip("\n") + f"\n  syncPeriod: {sync_period}\n"
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n---\n".join([lab, *docs]))
    r = netlab("up", str(path), "--no-checks")
    assert r.returncode == 0, r.stderr
    return name


def pods(lab: str) -> dict[str, dict]:
    r = netlab("get", "pods", "--lab", lab, "-o", "json")
    assert r.returncode == 0, r.stderr
    return {p["metadata"]["name"]: p for p in json.loads(r.stdout)["items"]}


def status_column(lab: str) -> dict[str, list[str]]:
    """get pods as a user reads it: NAME -> [READY, STATUS, RESTARTS...]."""
    lines = netlab("get", "pods", "--lab", lab).stdout.splitlines()[1:]
    return {line.split()[0]: line.split()[1:] for line in lines}


CRASH = """\
apiVersion: v1
kind: Pod
metadata: {name: crash, labels: {app: crash}}
spec:
  containers: [{name: c, image: busybox, command: [sh, -c, 'echo started; exit 3']}]
"""


def test_a_crashing_container_backs_off_and_leaves_endpoints(tmp_path):
    lab = up(tmp_path, CRASH, service(name="crash-svc", app="crash", cluster_ip="10.96.0.150"))
    try:
        seen = set()

        def restarts(n: int):
            seen.add(status_column(lab)["crash"][1])
            # one read of the saved state: while it backs off it is out of Endpoints
            with open(LabDir(lab).state_path) as f:
                state = json.load(f)
            c = state["processes"]["default/crash"]["c"]
            eps = next(e for e in state["plan"]["endpoints"] if e["name"] == "crash-svc")
            ready = [e for e in eps["entries"] if e[2]["ready"]]
            if c["state"] == "waiting":
                assert c["reason"] == "CrashLoopBackOff" and not ready, (c, eps)
            return c["restarts"] >= n

        wait_for("the first restart", lambda: restarts(1), 20)
        first = time.monotonic()
        wait_for("CrashLoopBackOff", lambda: restarts(1) and "CrashLoopBackOff" in seen, 20)
        wait_for("the second restart", lambda: restarts(2), 40)
        assert time.monotonic() - first >= 8, "the second restart came before its 10 s back-off"
        c = pods(lab)["crash"]["status"]["containerStatuses"][0]
        assert c["restartCount"] == 2 and c["lastState"]["terminated"]["exitCode"] == 3
        text = netlab("describe", "pod/crash", "--lab", lab).stdout
        assert "Back-off restarting failed container c in pod crash_default" in text
        assert netlab("logs", "pod/crash", "--lab", lab).stdout.count("started") >= 3
    finally:
        netlab("down", lab)


INITS = """\
apiVersion: v1
kind: Pod
metadata: {name: egress}
spec:
  initContainers:
    - {name: fetch, image: busybox, command: [wget, -T, "2", -O-, "http://example.com/"]}
  containers: [{name: c, image: busybox, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: slowinit}
spec:
  initContainers:
    - {name: wait, image: busybox, command: [sleep, "4"]}
    - {name: migrate, image: example.com/migrate:1.0}
  containers: [{name: c, image: busybox, command: [sleep, infinity]}]
"""


def test_init_containers_show_progress_and_failures(tmp_path):
    lab = up(tmp_path, INITS)
    try:
        assert status_column(lab)["slowinit"][:2] == ["0/1", "Init:0/2"]
        wait_for("slowinit to run", lambda: status_column(lab)["slowinit"][:2] ==
                 ["1/1", "Running"], 20)
        text = netlab("describe", "pod/slowinit", "--lab", lab).stdout
        assert "Init container migrate has no command and its image " \
               "example.com/migrate:1.0 runs no built-in app" in text
        # no egress: the fetch fails, visibly, and is retried with back-off
        wait_for("Init:Error", lambda: status_column(lab)["egress"][1] in
                 ("Init:Error", "Init:CrashLoopBackOff"), 30)
        wait_for("Init:CrashLoopBackOff",
                 lambda: status_column(lab)["egress"][1] == "Init:CrashLoopBackOff", 30)
        assert status_column(lab)["egress"][0] == "0/1"
        init = pods(lab)["egress"]["status"]["initContainerStatuses"][0]
        assert init["lastState"]["terminated"]["exitCode"] != 0, init
        out = netlab("logs", "pod/egress", "-c", "fetch", "--lab", lab).stdout
        assert "unable to resolve host address 'example.com'" in out, out
    finally:
        netlab("down", lab)


PROBES = """\
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  containers:
    - name: c
      image: busybox
      command: [sleep, infinity]
      readinessProbe: {exec: {command: [sleep, "3600"]}, timeoutSeconds: 3600, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: flip}
spec:
  containers:
    - name: c
      image: busybox
      command: [sh, -c, 'sleep 2; touch /tmp/ready; exec sleep infinity']
      readinessProbe: {exec: {command: [test, -f, /tmp/ready]}, periodSeconds: 1}
"""


def test_one_slow_probe_stalls_nothing(tmp_path):
    lab = up(tmp_path, PROBES)
    try:
        wait_for("flip to become ready", lambda: status_column(lab)["flip"][0] == "1/1", 20)
        assert status_column(lab)["slow"][:2] == ["0/1", "Running"]
    finally:
        netlab("down", lab)


def controller_pid(lab: str) -> int:
    return [e for e in LabDir(lab).entries() if e.get("system") == "controller"][-1]["pid"]


def test_a_dead_controller_is_reported_and_restarted(tmp_path):
    lab = up(tmp_path, pod("p", command="[sleep, infinity]"))
    try:
        os.kill(controller_pid(lab), signal.SIGKILL)
        wait_for("the controller to die", lambda: start_time(controller_pid(lab)) == 0, 10)
        r = netlab("status")
        row = next(line for line in r.stdout.splitlines() if line.startswith(lab))
        assert row.split()[1] == "Degraded", r.stdout
        assert f"lab {lab}: its controller is not running" in r.stderr
        # with no controller, a container that dies is shown ended...
        pid = pods_state(lab)["default/p"]["c"]["pid"]
        os.kill(pid, signal.SIGKILL)
        r = netlab("get", "pods", "--lab", lab)
        # ...and the next command restarts the controller, which restarts the container
        assert "its controller had stopped: started it again" in r.stderr
        wait_for("the container to restart", lambda: status_column(lab)["p"][:3] ==
                 ["1/1", "Running", "1"], 20)
        row = next(line for line in netlab("status").stdout.splitlines()
                   if line.startswith(lab))
        assert row.split()[1] == "Up"
    finally:
        netlab("down", lab)


def pods_state(lab: str) -> dict:
    with open(LabDir(lab).state_path) as f:
        return json.load(f)["processes"]


def test_drift_is_repaired(tmp_path):
    lab = up(tmp_path, deployment(replicas=2), pod("client", command="[sleep, infinity]"),
             service(cluster_ip="10.96.0.151"), sync_period="2s")
    node = f"netlab.{lab}.node.node1"
    try:
        def answers() -> bool:
            # 12 attempts: with 6, both backends are missed 1 time in 32 (random DNAT)
            r = netlab("check", "--lab", lab, "pod/client", "http", "svc/web-svc-cip",
                       "--attempts", "12", "--backends", "2", "--timeout", "1")
            return r.returncode == 0

        assert answers()
        # rules flushed, chains (the canaries among them) kept
        in_ns(node, "iptables", "-t", "nat", "-F")
        assert "-j KUBE-SERVICES" not in in_ns(node, "iptables-save", "-t", "nat").stdout
        wait_for("the rules to come back", lambda: "-j KUBE-SERVICES" in in_ns(
            node, "iptables-save", "-t", "nat").stdout, 15)
        assert answers()
        # the node's bridge deleted
        in_ns(node, "ip", "link", "del", "cni0")
        wait_for("cni0 to come back", lambda: in_ns(node, "ip", "link", "show", "cni0")
                 .returncode == 0, 15)
        wait_for("traffic through the new cni0", answers, 15)
        events = netlab("get", "events", "--lab", lab).stdout
        assert "BridgeMissing" in events and "node/node1" in events
        # a pod's namespace deleted by hand: shown failed, then re-created as the kubelet does
        web = sorted(n for n in pods(lab) if n.startswith("web-"))
        subprocess.run(["ip", "netns", "delete", f"netlab.{lab}.pod.default.{web[0]}"],
                       check=True)
        # shown failed until the controller's next resync (every 2 s) re-creates it, which
        # may already have happened
        shown = status_column(lab)[web[0]]
        assert shown[1] != "Running" or shown[2] == "1", shown
        wait_for("the pod to be re-created", lambda: status_column(lab)[web[0]][:3] ==
                 ["1/1", "Running", "1"], 20)
        # a pod's veth deleted by hand
        veth = pods_state_veth(lab, web[1])
        in_ns(node, "ip", "link", "del", veth)
        wait_for("the second pod to be re-created", lambda: status_column(lab)[web[1]][:3] ==
                 ["1/1", "Running", "1"], 20)
        # each failing poll takes up to 12 s (12 attempts, 1 s timeout): room for a few
        wait_for("both backends to answer again", answers, 60)
        text = netlab("describe", f"pod/{web[0]}", "--lab", lab).stdout
        assert "SandboxChanged" in text and "it will be killed and re-created" in text
    finally:
        netlab("down", lab)


def pods_state_veth(lab: str, name: str) -> str:
    with open(LabDir(lab).state_path) as f:
        plan = json.load(f)["plan"]
    return next(p["host_veth"] for p in plan["pods"] if p["name"] == name)

"""Containers run as Kubernetes runs them, and every process is owned (issue 10).

Each finding of the issue is a test here: a container used to see and write the host's files,
hold every capability, share the host's PID namespace, enter a node and ignore runAsUser; exec
probes ran the same way; `down` left behind what a container forked or unshared.

Address plan: one node (pods 10.244.0.0/24, gateway 10.244.0.1); see conftest. The processes
a test must see killed carry a marker in their argv: `sleep 9<run id><n>`.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from netlab.kernel import cgroups
from netlab.kernel.ns import NETNS_RUN_DIR
from netlab.plan.naming import lab_netns_prefix
from tests.helpers import lab_doc
from tests.integration.conftest import RUN_ID, netlab, unique_name, wait_for
from tests.integration.test_safety import lab_traces

pytestmark = pytest.mark.root

DEFAULT_CAPS = "00000000a80425fb"  # containerd's default set, what a Kubernetes pod gets

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: c, image: busybox, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000]}
  containers:
    - name: c
      image: busybox
      command: [sleep, infinity]
      securityContext: {allowPrivilegeEscalation: false}
      readinessProbe:
        exec: {command: [sh, -c, 'test "$(id -u)" = 1000 && test ! -e /run/netns']}
        periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  containers:
    - {name: c, image: busybox, command: [sleep, infinity], securityContext: {privileged: true}}
---
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  shareProcessNamespace: true
  volumes: [{name: data, emptyDir: {}}]
  containers:
    - name: writer
      image: busybox
      command: [sh, -c, 'echo from-writer > /data/note; exec sleep infinity']
      volumeMounts: [{name: data, mountPath: /data}]
    - name: reader
      image: busybox
      command: [sleep, infinity]
      volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
    - {name: first, image: busybox, command: [sh, -c, 'echo first >> /work/order'],
       volumeMounts: [{name: work, mountPath: /work}]}
    - {name: second, image: busybox, command: [sh, -c, 'echo second >> /work/order'],
       volumeMounts: [{name: work, mountPath: /work}]}
  containers:
    - {name: main, image: busybox, command: [sleep, infinity],
       volumeMounts: [{name: work, mountPath: /work}]}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = unique_name("box")
    path = tmp_path_factory.mktemp("box") / "lab.yaml"
    path.write_text(lab_doc(name=name) + "---\n" + PODS)
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        assert wait_ready(name, {"plain", "user", "priv", "shared", "init"})
        yield name
    finally:
        netlab("down", name)


def wait_ready(name: str, pods: set[str], timeout_s: float = 60) -> bool:
    """Until every pod of PODS shows all its containers ready (get pods, as a user would)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = netlab("get", "pods", "--lab", name, "-o", "json")
        items = {p["metadata"]["name"]: p for p in json.loads(r.stdout)["items"]}
        if all(p in items and all(s["ready"] for s in items[p]["status"]["containerStatuses"])
               for p in pods):
            return True
        time.sleep(0.2)
    return False


def in_pod(lab: str, pod: str, script: str, container: str = "") -> subprocess.CompletedProcess:
    args = ["exec", "--lab", lab, *(["-c", container] if container else []), f"pod/{pod}",
            "--", "sh", "-c", script]
    return netlab(*args)


def status_field(r: subprocess.CompletedProcess, field: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in r.stdout.splitlines()
                if line.startswith(field + ":"))


def test_a_container_writes_its_own_root_never_the_hosts(lab):
    marker = f"/etc/netlab-escape-{lab}"
    r = in_pod(lab, "plain", f"echo inside > {marker} && cat {marker} && touch /tmp/t "
                             f"&& echo tmp-ok")
    assert r.returncode == 0 and r.stdout.split() == ["inside", "tmp-ok"], r.stderr
    assert not os.path.exists(marker)  # the host's /etc is untouched
    with open(f"/tmp/netlab-host-{lab}", "w") as f:
        f.write("host")
    try:  # the container's /tmp is its own
        r = in_pod(lab, "plain", f"test ! -e /tmp/netlab-host-{lab} && echo own-tmp")
        assert r.stdout.strip() == "own-tmp", r.stdout + r.stderr
    finally:
        os.remove(f"/tmp/netlab-host-{lab}")


def test_a_container_has_kubernetes_default_capabilities(lab):
    r = in_pod(lab, "plain", "grep -E '^Cap(Eff|Bnd)' /proc/self/status")
    assert status_field(r, "CapEff") == DEFAULT_CAPS and status_field(r, "CapBnd") == \
        DEFAULT_CAPS, r.stdout
    with open("/proc/self/status") as f:  # privileged: every capability netlab has
        every = next(line.split()[1] for line in f if line.startswith("CapPrm:"))
    r = in_pod(lab, "priv", "grep -E '^CapEff' /proc/self/status")
    assert status_field(r, "CapEff") == every, r.stdout


def test_a_container_cannot_touch_the_nodes_network(lab):
    r = in_pod(lab, "plain", "iptables -t nat -S")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stdout + r.stderr
    r = in_pod(lab, "plain", "ip link set lo mtu 1400")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    r = in_pod(lab, "plain", "ls /run/netns; nsenter --net=/proc/1/ns/net true")
    assert r.returncode != 0 and "No such file" in r.stderr and \
        "Operation not permitted" in r.stderr, r.stderr
    # the node's namespace: no file of it, no process of it in sight
    node = f"{NETNS_RUN_DIR}/{lab_netns_prefix(lab)}node.node1"
    r = in_pod(lab, "priv", f"nsenter --net={node} true")
    assert r.returncode != 0 and "No such file" in r.stderr, r.stderr


def test_a_pod_sees_only_its_own_processes(lab):
    r = in_pod(lab, "plain", "for p in /proc/[0-9]*; do cat $p/comm; done")
    assert sorted(r.stdout.split()) == ["sh", "sleep"], r.stdout  # sleep is PID 1
    r = in_pod(lab, "plain", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.stdout.strip() == "sleep infinity"
    # shareProcessNamespace: the pod's containers see each other, under the pause process
    r = in_pod(lab, "shared", "for p in /proc/[0-9]*; do cat $p/comm; done", "reader")
    assert sorted(r.stdout.split()) == ["pause", "sh", "sleep", "sleep"], r.stdout
    r = in_pod(lab, "shared", "cat /proc/1/comm", "reader")
    assert r.stdout.strip() == "pause"


def test_run_as_user_is_honoured_by_the_container_exec_and_its_probe(lab):
    r = in_pod(lab, "user", "id -u; id -g; id -G; grep -E '^(CapEff|NoNewPrivs)' "
                            "/proc/self/status")
    assert r.stdout.split("\n")[:3] == ["1000", "3000", "3000 4000"], r.stdout
    assert status_field(r, "CapEff") == "0000000000000000"
    assert status_field(r, "NoNewPrivs") == "1"
    # its readiness probe (id -u is 1000, no /run/netns) passed: the probe runs in the sandbox
    shown = netlab("get", "pods", "--lab", lab, "user")
    assert shown.stdout.split("\n")[1].split()[1:3] == ["1/1", "Running"], shown.stdout


def test_empty_dir_is_shared_by_a_pods_containers(lab):
    r = in_pod(lab, "shared", "cat /data/note; touch /data/x", "reader")
    assert r.stdout.strip() == "from-writer"
    assert "Read-only file system" in r.stderr  # mounted readOnly in this container


def test_init_containers_run_first_in_order(lab):
    r = in_pod(lab, "init", "cat /work/order")
    assert r.stdout.split() == ["first", "second"], r.stdout + r.stderr


# -- every process is owned -----------------------------------------------------------------


def marker() -> str:
    return f"9{RUN_ID.removeprefix('it')}{next(_markers)}"


_markers = iter(range(10, 10000))


def running_with(arg: str) -> list[int]:
    """Host pids of processes whose argv holds ARG."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if arg.encode() in f.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            continue
    return out


ESCAPES = """\
apiVersion: v1
kind: Pod
metadata: {{name: forks-on-term}}
spec:
  containers:
    - name: c
      image: busybox
      command: [sh, -c, 'trap "sleep {a} & sleep {a}" TERM; while true; do sleep 0.1; done']
---
apiVersion: v1
kind: Pod
metadata: {{name: unshares}}
spec:
  containers:
    - name: c
      image: busybox
      command: [sh, -c, 'unshare --net --fork setsid sleep {b} & exec sleep infinity']
      securityContext: {{privileged: true}}
---
apiVersion: v1
kind: Pod
metadata: {{name: orphaned}}
spec:
  containers:
    - {{name: c, image: busybox, command: [sh, -c, 'setsid sleep {c} & exec sleep infinity']}}
"""


def test_down_kills_whatever_a_container_forked_or_unshared(tmp_path):
    name = unique_name("own")
    a, b, c = marker(), marker(), marker()
    path = tmp_path / "lab.yaml"
    path.write_text(lab_doc(name=name) + "---\n" + ESCAPES.format(a=a, b=b, c=c))
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        wait_for("the escapes to start", lambda: running_with(b) and running_with(c))
        # the unshared child lives in a network namespace of its own
        pod_net = os.stat(f"{NETNS_RUN_DIR}/{lab_netns_prefix(name)}pod.default.unshares")
        for pid in running_with(b):
            assert os.stat(f"/proc/{pid}/ns/net").st_ino != pod_net.st_ino
        # the orphaned child's pod namespace is deleted by hand
        pod_ns = f"{lab_netns_prefix(name)}pod.default.orphaned"
        subprocess.run(["ip", "netns", "delete", pod_ns], check=True)
    finally:
        down = netlab("down", name)
    assert down.returncode == 0, down.stderr
    left = {m: running_with(m) for m in (a, b, c)}
    assert not any(left.values()), f"still running after down: {left}"
    assert lab_traces(name) == []
    assert not os.path.exists(cgroups.lab_path(name))


def test_deleting_a_pod_kills_what_it_forked(tmp_path):
    name = unique_name("delpod")
    c = marker()
    path = tmp_path / "lab.yaml"
    path.write_text(lab_doc(name=name) + "---\n" + ESCAPES.format(a=marker(), b=marker(), c=c))
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        wait_for("the orphan to start", lambda: running_with(c))
        r = netlab("delete", "--lab", name, "pod/orphaned", "--now")
        assert r.returncode == 0, r.stderr
        assert running_with(c) == []
    finally:
        netlab("down", name)


def test_a_container_restart_kills_what_its_last_run_left(tmp_path):
    name = unique_name("restart")
    d = marker()
    path = tmp_path / "lab.yaml"
    path.write_text(lab_doc(name=name) + "---\n" + f"""\
apiVersion: v1
kind: Pod
metadata: {{name: leaver}}
spec:
  containers:
    - {{name: c, image: busybox, command: [sh, -c, 'setsid sleep {d} & sleep 1; exit 1']}}
""")
    r = netlab("up", str(path), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        wait_for("the daemon to start", lambda: running_with(d))
        first = running_with(d)

        def restarted() -> bool:
            r = netlab("get", "pods", "--lab", name, "-o", "json")
            return json.loads(r.stdout)["items"][0]["status"]["containerStatuses"][0][
                "restartCount"] >= 1

        wait_for("a restart", restarted)
        # the first run's daemon died with the restart; only the new run's one is left
        wait_for("the old daemon to die", lambda: running_with(d) and
                 not set(first) & set(running_with(d)))
        assert len(running_with(d)) == 1
    finally:
        netlab("down", name)

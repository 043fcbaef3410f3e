"""Changes are serialised and crash-safe (issue 10): a change killed at any point is undone
by the next command, `get pods` always matches the kernel, concurrent changes wait for each
other, and a change touches only what it changes.

Address plan: one node (pods 10.244.0.0/24), Deployment web (2 replicas) behind
web-svc-cip 10.96.0.140, pod keep (untouched by every change); see conftest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from netlab.kernel.ns import NETNS_RUN_DIR
from netlab.plan.naming import lab_netns_prefix
from netlab.state import LabDir
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import netlab, unique_name
from tests.integration.test_safety import lab_traces

pytestmark = pytest.mark.root


def up_lab(tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n---\n".join([lab_doc(name=name), deployment(replicas=2),
                                      pod("keep", command="[sleep, infinity]"),
                                      service(cluster_ip="10.96.0.140")]))
    r = netlab("up", str(path), "--no-checks")
    assert r.returncode == 0, r.stderr


def pods_shown(name: str) -> dict[str, dict]:
    r = netlab("get", "pods", "--lab", name, "-o", "json")
    assert r.returncode == 0, r.stderr
    return {p["metadata"]["name"]: p for p in json.loads(r.stdout)["items"]}


def pods_in_kernel(name: str) -> set[str]:
    prefix = lab_netns_prefix(name) + "pod.default."
    return {n.removeprefix(prefix) for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix)}


@pytest.mark.parametrize("kill_after", [4, 25, 60])
def test_a_killed_scale_is_undone_and_get_pods_matches_the_kernel(tmp_path, kill_after):
    name = unique_name("kscale")
    up_lab(tmp_path, name)
    try:
        keep_before = pods_shown(name)["keep"]
        ld = LabDir(name)
        start = len(ld.entries())
        proc = subprocess.Popen([sys.executable, "-m", "netlab.cli", "scale", "--lab", name,
                                 "deploy/web", "--replicas=30"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and \
                len(ld.entries()) - start < kill_after:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        shown = pods_shown(name)  # the next command finishes off the killed change
        assert set(shown) == pods_in_kernel(name), "get pods does not match the kernel"
        assert not ld.change_pending()
        assert shown["keep"]["status"]["podIP"] == keep_before["status"]["podIP"]
        r = netlab("scale", "--lab", name, "deploy/web", "--replicas=5")
        assert r.returncode == 0, r.stderr
        shown = pods_shown(name)
        assert len([p for p in shown if p.startswith("web-")]) == 5
        assert set(shown) == pods_in_kernel(name)
        extra = tmp_path / "extra.yaml"
        extra.write_text(pod("extra", command="[sleep, infinity]"))
        r = netlab("apply", "--lab", name, "-f", str(extra))
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        ips = [p["status"]["podIP"] for p in pods_shown(name).values()]
        assert len(ips) == len(set(ips)), "two pods share an address"
    finally:
        netlab("down", name)
    assert lab_traces(name) == []


def test_concurrent_changes_wait_for_each_other(tmp_path):
    name = unique_name("conc")
    up_lab(tmp_path, name)
    try:
        extra = tmp_path / "extra.yaml"
        extra.write_text(pod("extra", command="[sleep, infinity]"))
        cmds = [[sys.executable, "-m", "netlab.cli", "scale", "--lab", name, "deploy/web",
                 "--replicas=6"],
                [sys.executable, "-m", "netlab.cli", "apply", "--lab", name, "-f", str(extra)]]
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in cmds]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and "Traceback" not in err, err
        shown = pods_shown(name)
        assert "extra" in shown and len([p for p in shown if p.startswith("web-")]) == 6
        assert set(shown) == pods_in_kernel(name)
    finally:
        netlab("down", name)

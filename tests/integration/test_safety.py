"""Trust: the host is untouched, down removes everything, even after a killed up; bad input is
rejected with exit 2 before anything is created.

Address plan: see conftest. The host snapshot covers the root namespace's links, addresses,
routes (all tables), rules, net sysctls, hostname, listening sockets and netfilter rules.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from netlab import cli
from netlab.kernel import cgroups
from netlab.kernel.ns import NETNS_RUN_DIR
from netlab.kernel.process import start_time
from netlab.plan.naming import lab_dir, lab_netns_prefix
from netlab.state import LabDir
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import netlab, unique_name

pytestmark = pytest.mark.root


def host_snapshot() -> dict[str, str]:
    def run(*argv: str) -> str:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        return re.sub(r"\[\d+:\d+\]", "", "\n".join(
            line for line in out.splitlines() if not line.startswith("#")))

    snap = {
        "links": run("ip", "-d", "link", "show"),
        "addresses": run("ip", "addr", "show"),
        "routes": run("ip", "route", "show", "table", "all"),
        "routes6": run("ip", "-6", "route", "show", "table", "all"),
        "rules": run("ip", "rule", "show"),
        "listening": run("ss", "-lntuwH"),
        "iptables": run("iptables-save"),
        "nft": run("nft", "list", "ruleset"),
        "hostname": open("/proc/sys/kernel/hostname").read(),
    }
    for root, _dirs, files in os.walk("/proc/sys/net"):
        for f in files:
            path = os.path.join(root, f)
            try:
                with open(path) as fh:
                    snap[path] = fh.read()
            except OSError:
                continue
    return snap


def lab_traces(name: str) -> list[str]:
    prefix = lab_netns_prefix(name)
    left = [n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix)] \
        if os.path.isdir(NETNS_RUN_DIR) else []
    if os.path.exists(lab_dir(name)):
        left.append(lab_dir(name))
    if os.path.exists(cgroups.lab_path(name)):
        left.append(cgroups.lab_path(name))
    return left


def write_lab(tmp_path, name: str, *docs: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n---\n".join([lab_doc(name=name, nodes=("node1", "node2"), dns=True),
                                      *docs]))
    return str(path)


def test_host_is_untouched_by_up_and_down(tmp_path):
    name = unique_name("host")
    path = write_lab(tmp_path, name, deployment(replicas=3), pod("client"), service())
    before = host_snapshot()
    r = netlab("up", path, "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        during = host_snapshot()
    finally:
        down = netlab("down", name)
    after = host_snapshot()
    assert down.returncode == 0, down.stderr
    for key in before:
        assert during.get(key) == before[key], f"up changed the host: {key}"
        assert after.get(key) == before[key], f"down left a change on the host: {key}"
    assert lab_traces(name) == []


def test_down_removes_everything_and_is_idempotent(tmp_path):
    name = unique_name("down")
    path = write_lab(tmp_path, name, deployment(replicas=4), pod("client"), service())
    assert netlab("up", path, "--no-checks").returncode == 0
    try:
        state = LabDir(name).load_state()
        pids = [c.pid for pod_ in state.processes.values() for c in pod_.values()]
        # 4 web pods, the client and kube-dns's pod
        assert len(pids) == 6 and all(start_time(p) for p in pids)
        assert len(lab_traces(name)) == 1 + 2 + 6 + 1 + 1  # lan, nodes, pods, lab dir, cgroup
    finally:
        r = netlab("down", name)
    assert r.returncode == 0 and "removed" in r.stderr
    assert lab_traces(name) == []
    assert not any(start_time(p) for p in pids), "container processes survived down"
    again = netlab("down", name)
    assert again.returncode == 0 and "not up" in again.stderr


@pytest.mark.parametrize("kill_after_lines", [3, 40, 160])
def test_down_after_up_was_killed(tmp_path, kill_after_lines):
    """kill -9 the up command at different points; down still removes everything."""
    name = unique_name("kill")
    path = write_lab(tmp_path, name, deployment(replicas=60), service())
    proc = subprocess.Popen([sys.executable, "-m", "netlab.cli", "up", path, "--no-checks"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = LabDir(name).journal_path
    deadline = time.monotonic() + 60
    lines = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with open(journal) as f:
                    lines = sum(1 for _ in f)
            except FileNotFoundError:
                lines = 0
            if lines >= kill_after_lines:
                break
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lines >= kill_after_lines, "up finished or stalled before the kill point"
    entries = LabDir(name).entries()
    pids = [e["pid"] for e in entries if e.get("kind") == "proc"]
    os.remove(path)  # down needs only the journal, not the scenario
    r = netlab("down", name)
    assert r.returncode == 0, r.stderr
    assert lab_traces(name) == []
    assert not any(start_time(p) for p in pids)


def test_bad_scenario_exit_2_and_nothing_created(tmp_path):
    name = unique_name("bad")
    path = tmp_path / "bad.yaml"
    path.write_text(lab_doc(name=name) + "\n---\n" + pod("web_1"))
    r = netlab("up", str(path))
    assert r.returncode == 2
    assert "bad.yaml" in r.stderr and "document 2" in r.stderr and "metadata.name" in r.stderr
    assert lab_traces(name) == []
    r = netlab("up", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_not_root_is_refused_before_any_change(tmp_path, monkeypatch):
    name = unique_name("user")
    path = write_lab(tmp_path, name, pod("a"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for args in (["up", path], ["down", name], ["test", path], ["exec", "pod/a", "--", "true"]):
        result = CliRunner().invoke(cli.main, args)
        assert result.exit_code == 2, args
        assert "must run as root: run it as root, or with sudo" in result.output
    assert lab_traces(name) == []


def test_lab_already_up_is_refused(tmp_path):
    name = unique_name("twice")
    path = write_lab(tmp_path, name, pod("a"))
    assert netlab("up", path, "--no-checks").returncode == 0
    try:
        r = netlab("up", path, "--no-checks")
        assert r.returncode == 2 and "already up" in r.stderr
    finally:
        netlab("down", name)


CHECK_OK = """apiVersion: netlab/v1
kind: Check
metadata: {name: spreads}
spec: {from: pod/client, http: svc/web-svc-cip, attempts: 20, expect: {distinctBackends: 2}}
"""
CHECK_BAD = """apiVersion: netlab/v1
kind: Check
metadata: {name: wrong-port}
spec: {from: pod/client, http: svc/web-svc-cip, port: 81, timeoutSeconds: 1}
"""


def test_test_command_exit_codes_and_junit(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(deployment(replicas=2) + "---\n" + service())
    good = write_lab(tmp_path, unique_name("good"), pod("client"), CHECK_OK)
    junit = tmp_path / "out.xml"
    r = netlab("test", good, "-f", str(manifests), "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed, 0 failed" in r.stdout and "PASS" in r.stdout and "ran: curl" in r.stdout
    xml = junit.read_text()
    assert 'tests="1" failures="0"' in xml and 'name="spreads"' in xml
    bad_name = unique_name("fail")
    bad = write_lab(tmp_path, bad_name, deployment(replicas=2), pod("client"), service(),
                    CHECK_OK, CHECK_BAD)
    r = netlab("test", bad, "--junit", str(junit), "-o", "json")
    assert r.returncode == 1
    results = {x["name"]: x for x in json.loads(r.stdout)}
    assert results["spreads"]["passed"] and not results["wrong-port"]["passed"]
    assert "failures=\"1\"" in junit.read_text()
    assert lab_traces(bad_name) == []  # test tears its lab down even when checks fail


def test_proxy_mode_the_kernel_cannot_run_is_refused_before_any_change(tmp_path):
    from netlab.kernel import features

    name = unique_name("ipvs")
    path = tmp_path / "ipvs.yaml"
    path.write_text(lab_doc(name=name, mode="ipvs"))
    if features.loaded(["ip_vs", "dummy"]):
        pytest.skip("this kernel can run IPVS mode (tests/vm covers it)")
    r = netlab("up", str(path))
    assert r.returncode == 2
    assert "needed for proxyMode ipvs" in r.stderr and "scripts/vm-test" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert lab_traces(name) == []


def test_several_files_end_with_one_grand_total(tmp_path):
    first = write_lab(tmp_path, unique_name("tot"), pod("client"), deployment(replicas=2),
                      service(), CHECK_OK)
    second = write_lab(tmp_path, unique_name("tot"), pod("client"), deployment(replicas=2),
                       service(), CHECK_OK, CHECK_BAD)
    r = netlab("test", first, second, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "total of 2 labs: 2 passed, 1 failed, 0 errors", lines[-1]
    assert "1 passed, 0 failed, 0 errors" in r.stdout and "1 passed, 1 failed, 0 errors" in \
        r.stdout
    r = netlab("test", first, second, "-o", "json", timeout=300)
    results = json.loads(r.stdout)  # one document for all labs
    assert [x["result"] for x in results] == ["pass", "pass", "fail"]
    assert len({x["lab"] for x in results}) == 2

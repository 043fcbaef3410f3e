"""Every failure a user can meet ends as one clear line and an exit status, never a traceback
(issue 8): 2 for bad input or a missing prerequisite (nothing created), 1 for a failure while
running. The traceback of an unexpected failure goes to /run/netlab/netlab.log and to -v.

Address plan: one lab with one node (pods 10.244.0.0/24), pods a and b, a Check; see conftest.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from netlab import cli
from netlab.cli import labs as cli_labs
from netlab.state import LabDir
from netlab.state import store as state_store
from tests.helpers import lab_doc, pod
from tests.integration.conftest import netlab, unique_name

pytestmark = pytest.mark.root

CHECK = """apiVersion: netlab/v1
kind: Check
metadata: {name: a-answers}
spec: {from: pod/a, ping: pod/a}
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    name = unique_name("cli")
    path = tmp_path_factory.mktemp("cli") / "lab.yaml"
    path.write_text(lab_doc(name=name) + "---\n" + pod("a") + "---\n" + pod("b") + "---\n"
                    + CHECK)
    r = netlab("up", str(path), "--no-checks")
    assert r.returncode == 0, r.stderr
    try:
        yield name
    finally:
        netlab("down", name)


def one_line_error(r, code: int, *needles: str) -> None:
    text = r.stdout + r.stderr
    assert r.returncode == code, text
    assert "Traceback" not in text, text
    errors = [line for line in r.stderr.splitlines() if line.startswith("netlab: error:")]
    assert len(errors) == 1, r.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_bad_input_and_missing_things_exit_2(tmp_path, running):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: Lab\n  : [\n")
    nochecks = tmp_path / "nochecks.yaml"
    nochecks.write_text(lab_doc(name=unique_name("nc")))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n")
    cases = [
        (["up", str(bad_yaml)], "YAML error"),
        (["up", str(tmp_path / "missing.yaml")], "no such file"),
        (["get", "pods", "--lab", "nosuchlab"], "lab 'nosuchlab' is not up"),
        (["get", "widgets", "--lab", running], "unknown resource type 'widgets'"),
        (["exec", "--lab", running, "pod/nosuch", "--", "true"], "pod/nosuch is not in lab"),
        (["test", str(nochecks)], "has no Check documents"),
        (["apply", "--lab", running, "-f", str(manifest)], "Bad_Name"),
        (["scale", "--lab", running, "svc/x", "--replicas=1"], "only deployments scale"),
        (["check", "--lab", running, "pod/a", "tcp", "10.0.0.1"], "a tcp check needs --port"),
        (["describe", "foo/x", "--lab", running], "describe takes TYPE/NAME"),
        (["describe", "svc/x", "--lab", running], 'services "x" not found in namespace default'),
        (["rollout", "status", "deploy/nope", "--lab", running],
         'deployments.apps "nope" not found'),
        (["describe", "pod/x", "--lab", running], 'pods "x" not found'),
        (["scale", "--lab", running, "deploy/x", "--replicas=1"], 'deployment "x" not found'),
        (["delete", "--lab", running, "svc/x"], 'service "x" not found'),
    ]
    for args, needle in cases:
        one_line_error(netlab(*args), 2, needle)


def test_a_busy_lab_waits_then_says_so(running):
    ld = LabDir(running)
    ld.lock()
    try:
        r = netlab("delete", "--lab", running, "pod/b", timeout=60)
    finally:
        ld.close()
    one_line_error(r, 2, "is busy")


def test_a_failed_check_exits_1_with_its_table(running):
    r = netlab("check", "--lab", running, "pod/a", "ping", "pod/a", "--expect-fail")
    assert r.returncode == 1 and "FAIL" in r.stdout and "Traceback" not in r.stdout + r.stderr


def test_an_unexpected_failure_is_one_line_and_its_traceback_is_logged(monkeypatch, tmp_path):
    log = tmp_path / "netlab.log"
    monkeypatch.setattr(state_store, "RUN_DIR", str(tmp_path))
    monkeypatch.setattr(state_store, "ERROR_LOG", str(log))

    def boom():
        raise RuntimeError("the state file is garbled")

    monkeypatch.setattr(cli_labs, "list_labs", boom)
    r = CliRunner().invoke(cli.main, ["status"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip() == ("netlab: error: RuntimeError: the state file is garbled (an "
                                f"unexpected failure; the traceback is in {log}; -v prints it)")
    logged = log.read_text()
    assert "netlab" in logged and "Traceback" in logged and "RuntimeError" in logged
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"
    verbose = CliRunner().invoke(cli.main, ["-v", "status"])
    assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.output

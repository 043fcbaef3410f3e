"""Checks tell how traffic failed, and never pass when their probe could not run (issue 8).

Address plan: one node (pods 10.244.0.0/24, gateway 10.244.0.1), client host laptop
172.18.0.254; pod web (port 8000) behind web-svc-cip 10.96.0.100:80; cluster DNS 10.96.0.10;
10.96.0.250 is a service address no Service holds (routed out of the node and dropped);
10.244.0.250 is a free pod address (its ARP goes unanswered: no route to host).
"""

from __future__ import annotations

import subprocess

import pytest

from netlab.checks import probes, runner
from netlab.kernel.ns import netns_path, remove_nsfile
from netlab.model import CheckSpec, Expect
from tests.helpers import deployment, lab_doc, pod, service
from tests.integration.conftest import netlab

pytestmark = pytest.mark.root


def check(plan, source, protocol, target, **kw):
    expect = Expect(**kw.pop("expect", {}))
    return runner.run_check(plan, CheckSpec(name="t", source=source, protocol=protocol,
                                            target=target, expect=expect, **kw))


@pytest.fixture(scope="module")
def lab():
    from netlab.lifecycle.down import teardown
    from netlab.lifecycle.up import up
    from tests.helpers import scenario
    from tests.integration.conftest import unique_name

    name = unique_name("outcome")
    sc = scenario(lab_doc(name=name, clients=("laptop",), dns=True), deployment(replicas=1),
                  pod("client", command="[sleep, infinity]"), service(cluster_ip="10.96.0.100"))
    try:
        yield up(sc)
    finally:
        teardown(name)


def fails(plan, protocol, target, **kw):
    r = check(plan, "pod/client", protocol, target, expect={"success": False}, **kw)
    assert r.result == "PASS", (r.summary, r.reason)  # the probe ran and the traffic failed
    return r.summary


def test_refused_timed_out_and_no_route_are_told_apart(lab):
    web = next(p for p in lab.pods if p.owner)
    assert fails(lab, "http", web.ip, port=81) == "0/1 answered; connection refused"
    assert fails(lab, "http", "10.96.0.250", port=80, timeout_s=1) == \
        "0/1 answered; timed out after 1.0s"
    assert fails(lab, "tcp", "10.96.0.250", port=80, timeout_s=1) == \
        "0/1 connected; timed out after 1.0s"
    assert fails(lab, "tcp", web.ip, port=81) == "0/1 connected; connection refused"
    assert fails(lab, "http", "10.244.0.250", port=80, timeout_s=8) == \
        "0/1 answered; no route to host"
    assert fails(lab, "ping", "10.96.0.250", attempts=2, timeout_s=1) == "0/2 replies; no reply"


def test_nxdomain_versus_no_answer(lab):
    assert fails(lab, "dns", "nosuch.default.svc.cluster.local") == "NXDOMAIN"
    assert fails(lab, "dns", "web-svc-cip", server="client/laptop", timeout_s=1) == \
        "no answer (refused)"
    assert fails(lab, "dns", "web-svc-cip", server="10.96.0.250", timeout_s=1) == \
        "no answer (timed out after 1.0s)"
    ok = check(lab, "pod/client", "dns", "web-svc-cip", expect={"answers": ("10.96.0.100",)})
    assert ok.passed and ok.summary == "NOERROR: 10.96.0.100", ok.summary


def test_a_missing_tool_is_an_error_not_a_pass(lab, monkeypatch):
    monkeypatch.setattr(probes, "curl_argv",
                        lambda url, t, headers=(): ["netlab-no-such-curl", url])
    for expect in ({"success": False}, {}):
        r = check(lab, "pod/client", "http", "svc/web-svc-cip", attempts=2, expect=expect)
        assert r.result == "ERROR" and not r.passed
        assert "could not run the probe (2 of 2): cannot run netlab-no-such-curl" in r.reason


def test_attempts_share_one_entry_into_the_namespace(lab, monkeypatch):
    calls = []
    real = subprocess.run

    def counting(argv, *a, **kw):
        calls.append(argv)
        return real(argv, *a, **kw)

    monkeypatch.setattr(runner.subprocess, "run", counting)
    r = check(lab, "pod/client", "http", "svc/web-svc-cip", attempts=20)
    assert r.passed and r.summary.startswith("20/20 answered"), r.summary
    assert len(calls) == 1 and calls[0][-1] == "netlab.checks.agent"


def test_a_pod_without_a_running_container_is_an_error(lab):
    """Checks from a pod run in its container, as kubectl exec: none running, nothing ran."""
    import copy

    from netlab.state import LabDir

    state = LabDir(lab.spec.name).load_state()
    dead = copy.deepcopy(state)
    dead.processes["default/client"]["c"].state = "failed"
    r = runner.run_check(lab, CheckSpec(name="t", source="pod/client", protocol="ping",
                                        target="10.96.0.250", expect=Expect(success=False)),
                         dead)
    assert r.result == "ERROR", (r.summary, r.reason)
    assert "pod client has no running container c: it is failed" in r.reason


def test_a_namespace_that_cannot_be_entered_is_an_error(lab, tmp_path):
    """Last: it removes the client host's namespace file (its process keeps the namespace)."""
    laptop = next(c for c in lab.clients if c.name == "laptop")
    assert remove_nsfile(netns_path(laptop.netns))
    for protocol, target in (("ping", "10.96.0.250"), ("http", "svc/web-svc-cip"),
                             ("tcp", "10.96.0.250"), ("dns", "nosuch")):
        r = check(lab, "client/laptop", protocol, target, port=80, timeout_s=1,
                  expect={"success": False})
        assert r.result == "ERROR", (protocol, r.summary, r.reason)
        assert f"cannot enter {netns_path(laptop.netns)}" in r.reason
    r = netlab("check", "--lab", lab.spec.name, "client/laptop", "ping", "10.96.0.250",
               "--expect-fail", "--timeout", "1")
    assert r.returncode == 1 and "ERROR" in r.stdout and "0 passed, 0 failed, 1 error" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr

"""The lifecycle and the live controller against the in-memory fake kernel (no root).

Address plan: two nodes (pods 10.244.0.0/24 on node1, 10.244.1.0/24 on node2, lab network
172.18.0.0/24); Deployment web (3 replicas, port 8000) behind web-svc-cip 10.96.0.100:80;
Deployment api (2 replicas, port 9000) behind api 10.96.0.101:80; pod client. A service added
by a change gets 10.96.0.102. Lab folders live in pytest's temporary directory.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor, Future

import pytest

from netlab.errors import NetlabError
from netlab.kernel.fake import FakeKernel, FakeKernelError
from netlab.lifecycle import change as change_mod
from netlab.lifecycle.controller import Controller
from netlab.lifecycle.runtime import Runtime
from netlab.lifecycle.up import build
from netlab.plan import kernel as kernel_needs
from netlab.proxy.iptables import svc_chain
from netlab.scenario import edits
from netlab.scenario.loader import parse_documents
from netlab.state import LabDir
from tests.helpers import deployment, lab_doc, pod, scenario, service

_names = itertools.count()
NEW_NETNS = {**kernel_needs.LEAVING_IPVS, "net.ipv4.ip_forward": "0",
             "net.ipv4.conf.all.route_localnet": "0"}
WEB = svc_chain("default/web-svc-cip", "tcp")
API = svc_chain("default/api", "tcp")


def probed(docs: str) -> str:
    """The web Deployment with a readiness probe on its port."""
    return docs.replace("ports: [{containerPort: 8000}]}]",
                        "ports: [{containerPort: 8000}], readinessProbe: "
                        "{tcpSocket: {port: 8000}, periodSeconds: 1, failureThreshold: 1}}]")


def make_lab(tmp_path, mode: str = "iptables", readiness: bool = False):
    name = f"f{next(_names)}"
    lab = lab_doc(name=name, nodes=("node1", "node2"), mode=mode)
    web = deployment(replicas=3)
    sc = scenario(lab, probed(web) if readiness else web,
                  deployment(name="api", replicas=2, port=9000), pod("client"),
                  service(cluster_ip="10.96.0.100"),
                  service(name="api", app="api", target=9000, cluster_ip="10.96.0.101"))
    kernel = FakeKernel(NEW_NETNS)
    ld = LabDir(name, root=str(tmp_path))
    build(sc, kernel, ld, controller=False)
    return kernel, ld


def runtime(kernel, ld) -> Runtime:
    return Runtime(ld.load_state(), ld, kernel)


def restores(kernel, since: int = 0) -> list[tuple[str, str, str]]:
    return [e for e in kernel.log[since:] if e[0].startswith("iptables-restore")]


def nat(kernel, rt: Runtime, node: int = 0) -> dict[str, list[str]]:
    return kernel.world.netns[rt.plan.nodes[node].netns].tables["nat"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Inline(Executor):
    """Probes run at once, in the controller's thread (a test's ticks are then exact)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


def controller(kernel, ld, verdicts: dict[str, bool] | None = None, clock=None) -> Controller:
    """A controller whose readiness probes answer from VERDICTS (pod name -> ok); its clock
    is also the lab's wall clock."""
    verdicts = verdicts if verdicts is not None else {}
    clock = clock or Clock()

    def probe(p, pod, container, node_netns, pid):
        return verdicts.get(pod.name, True), "probe says no"

    rt = runtime(kernel, ld)
    rt.clock = clock
    return Controller(rt, kernel.processes.launcher(()), probe=probe, clock=clock,
                      pool=Inline())


# -- syncs ---------------------------------------------------------------------------------------


def test_a_full_sync_programs_every_node(tmp_path):
    kernel, ld = make_lab(tmp_path)
    rt = runtime(kernel, ld)
    for i in range(2):
        chains = nat(kernel, rt, i)
        assert len([r for r in chains[WEB] if "KUBE-SEP-" in r]) == 3
        assert len([r for r in chains[API] if "KUBE-SEP-" in r]) == 2
        assert any("-d 10.96.0.100 " in r and WEB in r for r in chains["KUBE-SERVICES"])
    full = restores(kernel)
    assert [w for w, *_ in full] == ["iptables-restore", "iptables-restore"]  # one per node
    assert set(rt.state.sync) == {"node1", "node2"}


def test_a_partial_sync_after_one_endpoint_changes_touches_only_that_service(tmp_path):
    kernel, ld = make_lab(tmp_path, readiness=True)
    verdicts: dict[str, bool] = {}
    clock = Clock()
    c = controller(kernel, ld, verdicts, clock)
    assert c.tick()  # the first verdicts: web's pods become ready endpoints
    web_pods = sorted(p.name for p in c.rt.plan.pods if p.owner == "Deployment/web")
    verdicts[web_pods[0]] = False
    clock.now += 1
    mark = len(kernel.log)
    assert c.tick()
    done = restores(kernel, mark)
    assert [w for w, *_ in done] == ["iptables-restore --noflush"] * 2
    for _w, _where, text in done:
        assert WEB in text and API not in text and "KUBE-SERVICES" not in text
    assert len([r for r in nat(kernel, c.rt)[WEB] if "KUBE-SEP-" in r]) == 2
    clock.now += 1
    mark = len(kernel.log)
    c.tick()  # the probe still fails (an event), the endpoints stay as they are
    assert restores(kernel, mark) == []


def test_a_change_that_cancels_out_is_not_synced(tmp_path):
    from netlab.proxy.core import service_ports
    from netlab.proxy.tracker import ChangeTracker

    kernel, ld = make_lab(tmp_path)
    plan = runtime(kernel, ld).plan
    views = service_ports(plan.services, plan.endpoints)
    tracker = ChangeTracker(views)
    web = next(v for v in views if v.service == "default/web-svc-cip")
    fewer = type(web)(**{**web.__dict__, "endpoints": web.endpoints[1:]})
    tracker.update(web.key, web, fewer)
    assert tracker.changed_services() == {"default/web-svc-cip"}
    tracker.update(web.key, fewer, web)  # ready again before the next sync
    assert tracker.changed_services() == set()
    tracker.observe([v for v in views if v is not web])  # web removed: web alone changes
    assert tracker.changed_services() == {"default/web-svc-cip"}


def test_adding_and_removing_a_service_touches_no_other(tmp_path):
    kernel, ld = make_lab(tmp_path)
    extra = parse_documents(service(name="extra", cluster_ip="10.96.0.102"), "extra.yaml")
    mark = len(kernel.log)
    change_mod.change(ld.lab, lambda docs: edits.apply(docs, extra)[0], kernel=kernel, ld=ld,
                      kernel_check=lambda *_: None, controller=False)
    extra_chain = svc_chain("default/extra", "tcp")
    done = restores(kernel, mark)
    assert [w for w, *_ in done] == ["iptables-restore --noflush"] * 2
    for _w, _where, text in done:
        assert extra_chain in text and WEB not in text.split("-A KUBE-SERVICES")[0]
        assert f":{WEB} " not in text and f":{API} " not in text
    rt = runtime(kernel, ld)
    assert any(extra_chain in r for r in nat(kernel, rt)["KUBE-SERVICES"])
    before_web = list(nat(kernel, rt)[WEB])
    mark = len(kernel.log)
    change_mod.change(ld.lab, lambda docs: edits.delete(docs, [("Service", "extra")],
                                                        "default", ld.lab),
                      kernel=kernel, ld=ld, kernel_check=lambda *_: None, controller=False)
    for _w, _where, text in restores(kernel, mark):
        assert f"-X {extra_chain}" in text and f":{WEB} " not in text
    assert extra_chain not in nat(kernel, rt) and nat(kernel, rt)[WEB] == before_web


def test_a_failed_sync_makes_the_next_one_full(tmp_path):
    kernel, ld = make_lab(tmp_path, readiness=True)
    verdicts: dict[str, bool] = {}
    clock = Clock()
    c = controller(kernel, ld, verdicts, clock)
    kernel.fail_when(lambda what, where, detail: what.startswith("iptables-restore"))
    c.tick()
    assert c.need_full and "node1" not in c.rt.state.sync  # its last state is unknown now
    clock.now += 1
    mark = len(kernel.log)
    c.tick()
    assert [w for w, *_ in restores(kernel, mark)] == ["iptables-restore"] * 2  # full
    assert not c.need_full and set(c.rt.state.sync) == {"node1", "node2"}


@pytest.mark.parametrize("mode", ["iptables", "ipvs"])
def test_a_restarted_controller_continues_with_partial_syncs(tmp_path, mode):
    kernel, ld = make_lab(tmp_path, mode=mode, readiness=True)
    clock = Clock()
    first = controller(kernel, ld, {}, clock)
    assert first.tick()  # syncs and saves its state
    del first  # killed
    verdicts = {sorted(p.name for p in runtime(kernel, ld).plan.pods
                       if p.owner == "Deployment/web")[0]: False}
    clock.now += 1
    second = controller(kernel, ld, verdicts, clock)  # from the saved state only
    mark = len(kernel.log)
    assert second.tick()
    log = kernel.log[mark:]
    if mode == "iptables":
        assert [w for w, *_ in restores(kernel, mark)] == ["iptables-restore --noflush"] * 2
        assert all(API not in text for *_x, text in restores(kernel, mark))
    else:
        ops = [d for w, _n, d in log if w == "ipvs"]
        assert ops and all("10.96.0.100:80" in d or ":8000" in d for d in ops), ops
        assert not restores(kernel, mark)  # the few iptables rules did not change
        assert all("10.96.0.101" not in d for w, _n, d in log if w == "ipset restore")


# -- changes, all or nothing --------------------------------------------------------------------

EXTRA = pod("extra")


def grow(ld):
    """A change with every kind of step: pods removed (web scaled 3 -> 2), a pod replaced
    (client with new labels), pods added, and a Service added."""
    def edit(docs):
        docs = edits.scale(docs, "default", "web", 2, ld.lab)
        client = pod("client").replace("labels: {app: client}", "labels: {app: client, v: '2'}")
        new = parse_documents(EXTRA + "---\n" + client + "---\n" +
                              service(name="extra", app="extra", cluster_ip="10.96.0.102"),
                              "more.yaml")
        return edits.apply(docs, new)[0]
    return edit


def switch(ld, mode: str):
    def edit(docs):
        lab = lab_doc(name=ld.lab, nodes=("node1", "node2"), mode=mode)
        return edits.apply(docs, parse_documents(lab, "lab.yaml"))[0]
    return edit


def run_change(kernel, ld, edit) -> None:
    change_mod.change(ld.lab, edit, kernel=kernel, ld=ld, kernel_check=lambda *_: None,
                      controller=False)


def comparable(state):
    return (state.plan.pods, state.plan.services, state.plan.endpoints, sorted(state.processes),
            {k: sorted(v) for k, v in state.processes.items()}, state.documents,
            sorted(state.system))


@pytest.mark.parametrize(("mode", "make_edit"), [
    ("iptables", grow), ("ipvs", grow),
    ("iptables", lambda ld: switch(ld, "ipvs")), ("ipvs", lambda ld: switch(ld, "iptables"))],
    ids=["grow-iptables", "grow-ipvs", "to-ipvs", "to-iptables"])
def test_a_change_failing_at_any_step_is_rolled_back(tmp_path, mode, make_edit):
    probe_kernel, probe_ld = make_lab(tmp_path / "count", mode=mode)
    mark = len(probe_kernel.log)
    run_change(probe_kernel, probe_ld, make_edit(probe_ld))
    steps = [(what, where) for what, where, _detail in probe_kernel.log[mark:]
             if what != "term"]  # a signal is logged, but is no step that can fail
    assert len(steps) > 10
    for k, (what, where) in enumerate(steps, start=1):
        kernel, ld = make_lab(tmp_path / str(k), mode=mode)
        before, state_before = kernel.dump(), ld.load_state()
        kernel.fail_at(k)
        if what == "start" and ".pod." in where:
            # a container that cannot start is its pod's status (Error), as in a cluster,
            # not a failed change
            run_change(kernel, ld, make_edit(ld))
            failed = [c for cs in ld.load_state().processes.values() for c in cs.values()
                      if c.reason == "StartError"]
            assert len(failed) == 1 and "injected failure" in failed[0].message
            continue
        with pytest.raises((FakeKernelError, NetlabError), match="injected failure"):
            run_change(kernel, ld, make_edit(ld))  # a lab process that cannot start fails it
        assert kernel.dump() == before, f"not rolled back after a failure at {k}: {what}"
        assert comparable(ld.load_state()) == comparable(state_before), (k, what)
    # and the lab still changes once nothing fails
    run_change(kernel, ld, make_edit(ld))


def test_a_mode_switch_leaves_nothing_of_the_other_mode(tmp_path):
    kernel, ld = make_lab(tmp_path)
    run_change(kernel, ld, switch(ld, "ipvs"))
    rt = runtime(kernel, ld)
    node = kernel.world.netns[rt.plan.nodes[0].netns]
    assert not any(c.startswith("KUBE-SVC-") for c in node.tables["nat"])
    assert node.ipsets["KUBE-CLUSTER-IP"] and ("10.96.0.100", 80, "TCP") in node.ipvs
    assert "kube-ipvs0" in node.links
    run_change(kernel, ld, switch(ld, "iptables"))
    node = kernel.world.netns[rt.plan.nodes[0].netns]
    assert node.ipsets == {} and node.ipvs == {} and "kube-ipvs0" not in node.links
    assert WEB in node.tables["nat"]
    assert not any("match-set" in r for rules in node.tables["nat"].values() for r in rules)


def test_steps_prints_each_nodes_first_sync_as_a_value():
    from click.testing import CliRunner

    from netlab.cli import main

    r = CliRunner().invoke(main, ["steps", "--sync"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("# node node1: full sync\n## iptables-restore\n*mangle\n")
    assert "# node node2: full sync" in r.output and f":{WEB} - [0:0]" in r.output
    r = CliRunner().invoke(main, ["steps", "--sync", "scenarios/ipvs.yaml"])
    assert r.exit_code == 0, r.output
    assert "## ipvs\nadd-service TCP 10.104.146.102:80 rr\n" in r.output
    assert "add-dest TCP 10.104.146.102:80 -> " in r.output


def test_the_launcher_has_its_apps_imported_before_it_forks():
    """A container forked from the launcher must not pay an import: that made a 100-pod
    up four times slower (bench-build 0.8 s -> 3.2 s)."""
    import subprocess
    import sys

    code = ("import sys, netlab.apps.runner; "
            "print('netlab.apps.web' in sys.modules, 'netlab.apps.kubeproxy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True"]


def test_a_change_killed_halfway_is_undone_by_the_next_command(tmp_path):
    """A kill -9 leaves what the change did in the kernel, its mark, and the old saved state;
    the next command on the lab puts the kernel back to that state."""
    from netlab.lifecycle import pods
    from netlab.lifecycle.supervise import attend

    kernel, ld = make_lab(tmp_path)
    before, state_before = kernel.dump(), ld.load_state()
    rt = runtime(kernel, ld)
    ch = change_mod.plan_change(rt.state, grow(ld), lambda *_: None)
    ld.begin_change("netlab apply -f more.yaml")
    # killed after replacing client, removing a web pod and adding the new pod "extra"
    pods.delete(rt, list(ch.removed))
    with kernel.processes.launcher(()) as launcher:
        pods.add(rt, list(ch.added), launcher)
    assert kernel.dump() != before
    notes = attend(ld.lab, kernel, ld)
    assert any("removed pod" in n for n in notes) and any("made again" in n for n in notes)
    after = kernel.dump()
    after["processes"] = [p for p in after["processes"] if not p[1].endswith("controller.log")]
    assert after == before and not ld.change_pending()
    assert comparable(ld.load_state()) == comparable(state_before)
    assert attend(ld.lab, kernel, ld) == []  # nothing left to do

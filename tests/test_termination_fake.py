"""Graceful termination against the fake kernel (issue 11): a deleted pod is Terminating,
its endpoint terminating (traffic goes to the ready ones), its preStop hooks run before
SIGTERM, it keeps its address until it is gone, and whatever ignores SIGTERM is killed at the
end of its grace period.

Address plan: as tests/test_lifecycle_fake.py (two nodes; web x3 behind 10.96.0.100, api x2
behind 10.96.0.101, pod client). Clocks are made up; probes and hooks run inline.
"""

from __future__ import annotations

from netlab.lifecycle import change as change_mod
from netlab.lifecycle.controller import Controller
from netlab.scenario import edits
from netlab.scenario.loader import parse_documents
from tests.helpers import pod
from tests.test_lifecycle_fake import WEB, Clock, Inline, make_lab, nat, runtime


def controller(kernel, ld, clock, hooks: list | None = None) -> Controller:
    rt = runtime(kernel, ld)
    rt.clock = clock

    def hook(h, pod_, c, node_netns, pid, timeout):
        (hooks if hooks is not None else []).append((pod_.name, c.name, h.kind, timeout))
        return ""

    return Controller(rt, kernel.processes.launcher(()), probe=lambda *a: (True, ""),
                      clock=clock, pool=Inline(), hook=hook)


def now_clock() -> Clock:
    """A made-up clock that starts now (changes mark their deadlines on the wall clock)."""
    import time

    clock = Clock()
    clock.now = time.time()
    return clock


def run(kernel, ld, edit, clock, grace=None) -> None:
    change_mod.change(ld.lab, edit, kernel=kernel, ld=ld, kernel_check=lambda *_: None,
                      controller=False, grace=grace)


def test_scaled_down_pods_terminate_and_traffic_goes_to_the_ready_ones(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = now_clock()
    before = {p.key: p for p in ld.load_state().plan.pods if p.owner == "Deployment/web"}
    pids = {k: st["web"].pid for k, st in ld.load_state().processes.items() if k in before}
    for pid in pids.values():
        kernel.processes.ignore_term(pid)
    run(kernel, ld, lambda docs: edits.scale(docs, "default", "web", 1, ld.lab), clock)
    state = ld.load_state()
    staying = [p for p in state.plan.pods if p.owner]
    leaving = sorted((before[k] for k in before if k != staying[0].key), key=lambda p: p.name)
    web = [staying[0], *leaving]
    assert set(state.terminating) == {web[1].key, web[2].key}
    kernel.world.stubborn.discard(pids[web[1].key])  # this one handles SIGTERM after all
    kernel.processes.terminate([(pids[web[1].key], pids[web[1].key] * 7)])
    stubborn = pids[web[2].key]
    # the leaving pods' endpoints are terminating: the rules use the ready one only
    rt = runtime(kernel, ld)
    assert len([r for r in nat(kernel, rt)[WEB] if "KUBE-SEP-" in r]) == 1
    addrs = {e.ip: e for se in state.plan.endpoints if se.name == "web-svc-cip"
             for _n, _p, e, _num in se.entries}
    assert addrs[web[1].ip].terminating and not addrs[web[1].ip].ready
    # the one that exited on SIGTERM goes at the next pass; the stubborn one at its deadline
    c = controller(kernel, ld, clock)
    clock.now += 1
    c.tick()
    assert set(c.rt.state.terminating) == {web[2].key}
    assert web[1].netns not in kernel.world.netns
    clock.now += 30
    c.tick()
    assert c.rt.state.terminating == {} and web[2].netns not in kernel.world.netns
    assert not kernel.processes.alive(stubborn, stubborn * 7)
    held = {ip for node in c.rt.state.ipam.values() for ip in node["allocated"]}
    assert web[1].ip not in held and web[2].ip not in held  # released once gone


def test_pre_stop_hooks_run_before_sigterm(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = now_clock()
    hooked = pod("hooked").replace("image: nginx}", "image: nginx, lifecycle: {preStop: "
                                                     "{exec: {command: [sh, -c, sleep 2]}}}}")
    hooked = hooked.replace("spec:\n", "spec:\n  terminationGracePeriodSeconds: 20\n")
    run(kernel, ld, lambda docs: edits.apply(docs, parse_documents(hooked, "h.yaml"))[0],
        clock)
    pid = ld.load_state().processes["default/hooked"]["c"].pid
    run(kernel, ld, lambda docs: edits.delete(docs, [("Pod", "hooked")], "default", ld.lab),
        clock)
    t = ld.load_state().terminating["default/hooked"]
    assert (t.stage, t.deadline - t.since) == ("prestop", 20)
    assert kernel.processes.alive(pid, pid * 7)  # no SIGTERM before the hook
    hooks: list = []
    c = controller(kernel, ld, clock, hooks)
    c.tick()  # starts the hook
    c.tick()  # the hook is done: SIGTERM, the container exits, the pod goes
    assert [h[:3] for h in hooks] == [("hooked", "c", "exec")] and 19 < hooks[0][3] <= 20.5
    assert not kernel.processes.alive(pid, pid * 7)
    assert "default/hooked" not in c.rt.state.terminating


def test_a_new_pod_of_a_terminating_pods_name_takes_over(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = now_clock()
    old = next(p for p in ld.load_state().plan.pods if p.name == "client")
    kernel.processes.ignore_term(ld.load_state().processes[old.key]["c"].pid)
    run(kernel, ld, lambda docs: edits.delete(docs, [("Pod", "client")], "default", ld.lab),
        clock)
    assert "default/client" in ld.load_state().terminating
    again = pod("client").replace("labels: {app: client}", "labels: {app: client, v: '2'}")
    run(kernel, ld, lambda docs: edits.apply(docs, parse_documents(again, "c.yaml"))[0], clock)
    state = ld.load_state()
    assert "default/client" not in state.terminating  # removed at once for the new one
    new = next(p for p in state.plan.pods if p.name == "client")
    assert new.labels != old.labels and new.netns in kernel.world.netns


def test_a_forced_deletion_goes_at_the_next_pass(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = now_clock()
    run(kernel, ld, lambda docs: edits.delete(docs, [("Pod", "client")], "default", ld.lab),
        clock, grace=0)
    c = controller(kernel, ld, clock)
    c.tick()
    assert c.rt.state.terminating == {}

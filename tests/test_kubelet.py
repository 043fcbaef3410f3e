"""The kubelet's decisions (plan/kubelet.py) and kubectl's pod STATUS (objects.pod_status):
pure, so every case is a table row. Times are seconds on a made-up wall clock."""

from __future__ import annotations

import pytest

from netlab import objects
from netlab.model import Container, PodInfo, PodSpec
from netlab.model.state import ContainerState
from netlab.plan import kubelet


def c(name: str) -> Container:
    return Container(name=name, image="busybox", command=("true",))


def spec(inits=(), containers=("app",), policy="Always") -> PodSpec:
    return PodSpec(tuple(c(n) for n in containers),
                   init_containers=tuple(c(n) for n in inits), restart_policy=policy)


def pod(s: PodSpec) -> PodInfo:
    return PodInfo("p", "default", "node1", "ns", "/uts", "10.244.0.2", "veth", (), s)


def steps(s: PodSpec, states: dict, now: float = 100.0, nothing=()) -> list[tuple[str, str]]:
    return [(x.kind, x.container.name) for x in kubelet.next_steps(
        s, states, now, lambda x: x.name in nothing, lambda x: "")]


RUNNING = ContainerState("running", pid=10, start=1)
DONE = ContainerState("terminated", exit_code=0, reason="Completed")


def failed(at: float = 100.0, **kw) -> ContainerState:
    return ContainerState("terminated", exit_code=1, reason="Error", finished=at, **kw)


def test_init_containers_run_one_at_a_time_in_order_then_the_app_containers():
    s = spec(inits=("a", "b"), containers=("x", "y"))
    assert steps(s, {}) == [("start", "a")]
    assert steps(s, {"a": RUNNING}) == []
    assert steps(s, {"a": DONE}) == [("start", "b")]
    assert steps(s, {"a": DONE, "b": DONE}) == [("start", "x"), ("start", "y")]
    assert steps(s, {}, nothing=("a",)) == [("skip", "a")]


@pytest.mark.parametrize(("policy", "init", "code", "again"), [
    ("Always", False, 0, True), ("Always", False, 1, True),
    ("OnFailure", False, 0, False), ("OnFailure", False, 1, True),
    ("Never", False, 1, False), ("Always", True, 0, False), ("Always", True, 1, True),
    ("Never", True, 1, False),
])
def test_restart_policy(policy, init, code, again):
    assert kubelet.restarts(policy, init, code) is again


def test_back_off_is_none_then_10s_doubling_to_5_minutes_and_forgotten_after_10():
    st, now, delays = None, 0.0, []
    for _ in range(9):
        st = kubelet.running(st, 1, 1, now)
        st = kubelet.ended(st, "exited 1", now + 1)  # each run lasts a second
        now += 1
        wait = 0.0
        while kubelet.in_back_off(st, now + wait):
            wait += 1
        delays.append(wait)
        now += wait
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    # a container that ran for more than 10 minutes since the last step starts afresh
    st = kubelet.ended(kubelet.running(st, 1, 1, now), "exited 1", now + 700)
    assert kubelet.next_back_off(st, now + 700)[0] == kubelet.BACK_OFF_START_S


def test_the_first_restart_is_at_once_the_next_waits_out_its_back_off():
    s = spec()
    first = kubelet.ended(kubelet.running(None, 1, 1, 0.0), "exited 1", 5.0)
    assert steps(s, {"app": first}, now=5.0) == [("start", "app")]
    again = kubelet.ended(kubelet.running(first, 2, 2, 5.0), "exited 1", 6.0)
    assert again.restarts == 1 and again.back_off == 10
    assert steps(s, {"app": again}, now=7.0) == [("back-off", "app")]
    waiting = kubelet.backing_off(again, s.containers[0], "p_default(uid)", 7.0)
    assert (waiting.state, waiting.reason, waiting.restart_at) == ("waiting",
                                                                   "CrashLoopBackOff", 16.0)
    assert waiting.last_exit_code == 1 and "back-off 10s restarting failed container=app" \
        in waiting.message
    assert steps(s, {"app": waiting}, now=15.9) == []
    assert steps(s, {"app": waiting}, now=16.0) == [("start", "app")]


@pytest.mark.parametrize(("text", "code", "signal", "reason"), [
    ("exited 0", 0, 0, "Completed"), ("exited 3", 3, 0, "Error"),
    ("killed 15", 143, 15, "Error"), ("", 137, 9, "Error"),
])
def test_how_a_container_ended(text, code, signal, reason):
    st = kubelet.ended(RUNNING, text, 5.0)
    assert (st.state, st.exit_code, st.signal, st.reason, st.pid) == \
        ("terminated", code, signal, reason, 0)


# -- kubectl's STATUS column ------------------------------------------------------------------


def status(s: PodSpec, states: dict) -> tuple[str, str, str]:
    st = objects.pod_status(pod(s), {"default/p": states})
    return f"{st.ready}/{st.total}", st.reason, st.phase


BACKING_OFF = ContainerState("waiting", reason="CrashLoopBackOff", restarts=3,
                             last_reason="Error", last_exit_code=1, last_finished=90.0)


@pytest.mark.parametrize(("inits", "states", "shown"), [
    (("a", "b"), {}, ("0/1", "Init:0/2", "Pending")),
    (("a", "b"), {"a": RUNNING}, ("0/1", "Init:0/2", "Pending")),
    (("a", "b"), {"a": DONE, "b": RUNNING}, ("0/1", "Init:1/2", "Pending")),
    (("a", "b"), {"a": failed()}, ("0/1", "Init:Error", "Pending")),
    (("a", "b"), {"a": BACKING_OFF}, ("0/1", "Init:CrashLoopBackOff", "Pending")),
    (("a",), {"a": DONE}, ("0/1", "PodInitializing", "Pending")),
    (("a",), {"a": DONE, "app": RUNNING}, ("1/1", "Running", "Running")),
    ((), {"app": BACKING_OFF}, ("0/1", "CrashLoopBackOff", "Running")),
    ((), {"app": failed()}, ("0/1", "Error", "Running")),
    ((), {"app": ContainerState("waiting", reason="CreateContainerConfigError")},
     ("0/1", "CreateContainerConfigError", "Pending")),
    ((), {}, ("0/1", "ContainerCreating", "Pending")),
])
def test_pod_status_as_kubectl_prints_it(inits, states, shown):
    assert status(spec(inits=inits), states) == shown


def test_completed_containers_and_restart_policies():
    both = spec(containers=("a", "b"))  # a completed container is not ready
    assert status(both, {"a": DONE, "b": RUNNING}) == ("1/2", "NotReady", "Running")
    assert status(spec(policy="Never"), {"app": DONE}) == ("0/1", "Completed", "Succeeded")
    assert status(spec(policy="Never"), {"app": failed()}) == ("0/1", "Error", "Failed")
    assert status(spec(policy="OnFailure"), {"app": failed()})[2] == "Running"


def test_restarts_show_when_the_last_one_was():
    st = objects.pod_status(pod(spec()), {"default/p": {"app": ContainerState(
        "running", pid=10, start=1, restarts=4, last_finished=1000.0)}})
    assert st.restarts_text(1042.0) == "4 (42s ago)"
    assert objects.pod_status(pod(spec()), {"default/p": {"app": RUNNING}}
                              ).restarts_text(5.0) == "0"

"""The kubelet's decisions about one pod's containers. Pure: container states in, states and
what to start out.

A pod's init containers run first, one at a time, in order, each to completion; then its app
containers start together. A container that ended is restarted as its pod's restartPolicy says
(init containers: only when they failed, unless the policy is Never), after the kubelet's
CrashLoopBackOff: the first restart at once, then 10 s, doubling up to 5 minutes, forgotten
after 10 minutes without a crash (``flowcontrol.Backoff`` in ``pkg/kubelet``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from netlab.ingress.routes import APP_FLAVOURS
from netlab.model import Container, LabSpec, PodSpec
from netlab.model.state import ContainerState

BACK_OFF_START_S = 10.0
BACK_OFF_MAX_S = 300.0
BACK_OFF_FORGET_S = 2 * BACK_OFF_MAX_S


def ended(st: ContainerState, exit_text: str, now: float) -> ContainerState:
    """ST after its process ended, as the shim reported it ("exited N", "killed S", or ""
    when nothing was reported: the process was killed with its shim)."""
    kind, _, value = exit_text.partition(" ")
    code, signal = (int(value), 0) if kind == "exited" and value.lstrip("-").isdigit() else \
        (128 + int(value), int(value)) if kind == "killed" and value.isdigit() else (137, 9)
    return replace(st, state="terminated", pid=0, start=0, exit_code=code, signal=signal,
                   reason="Completed" if code == 0 else "Error", message="", finished=now,
                   ready=False, restart_at=0.0)


def start_failed(st: ContainerState | None, why: str, now: float) -> ContainerState:
    """The runtime could not start the container (its command is missing, say)."""
    st = st or ContainerState()
    return replace(st, state="terminated", pid=0, start=0, exit_code=128, signal=0,
                   reason="StartError", message=why, started=now, finished=now, ready=False)


def restarts(policy: str, init: bool, exit_code: int | None) -> bool:
    """Does a container that ended with EXIT_CODE run again?"""
    if policy == "Never":
        return False
    if policy == "OnFailure" or init:
        return exit_code != 0
    return True


def in_back_off(st: ContainerState, now: float) -> bool:
    """kubelet's IsInBackOffSince: the container ended less than its back-off ago."""
    if not st.back_off or st.finished - st.back_off_since > BACK_OFF_FORGET_S:
        return False
    return now - st.finished < st.back_off


def backing_off(st: ContainerState, c: Container, pod: str, now: float) -> ContainerState:
    """ST waiting out its back-off (CrashLoopBackOff), its last run kept as its last state."""
    if st.state == "waiting" and st.reason == "CrashLoopBackOff":
        return st
    return replace(_keep_last(st), state="waiting", reason="CrashLoopBackOff",
                   message=f"back-off {int(st.back_off)}s restarting failed "
                           f"container={c.name} pod={pod}",
                   restart_at=st.finished + st.back_off)


def _keep_last(st: ContainerState) -> ContainerState:
    if st.state != "terminated":
        return st
    return replace(st, last_reason=st.reason, last_exit_code=st.exit_code,
                   last_started=st.started, last_finished=st.finished)


def next_back_off(st: ContainerState | None, now: float) -> tuple[float, float]:
    """The back-off after a restart now (kubelet's Backoff.Next): (seconds, since)."""
    if st is None or not st.back_off or st.finished - st.back_off_since > BACK_OFF_FORGET_S:
        return BACK_OFF_START_S, now
    return min(st.back_off * 2, BACK_OFF_MAX_S), now


def running(old: ContainerState | None, pid: int, start: int, now: float) -> ContainerState:
    """A container that started now; a restart counts, and steps its back-off."""
    if old is None:
        return ContainerState("running", pid, start, now)
    back_off, since = next_back_off(old, now)
    last = _keep_last(old)
    return replace(last, state="running", pid=pid, start=start, started=now,
                   restarts=old.restarts + 1, reason="", message="", ready=None,
                   exit_code=None, signal=0, finished=0.0, back_off=back_off,
                   back_off_since=since, restart_at=0.0)


@dataclass(frozen=True)
class Step:
    """What the kubelet does next for one container of a pod."""

    kind: str  # start | skip (an init container that runs nothing) | back-off | refuse
    container: Container
    why: str = ""


def next_steps(spec: PodSpec, states: dict[str, ContainerState], now: float,
               runs_nothing, refused) -> list[Step]:
    """What to do for a pod now. RUNS_NOTHING(c): an init container with nothing to run;
    REFUSED(c): why the kubelet would not create C (runAsNonRoot as root), or ""."""
    for c in spec.init_containers:
        st = states.get(c.name)
        if st is not None and st.completed:
            continue
        if st is None:
            if runs_nothing(c):
                return [Step("skip", c)]  # the caller marks it completed and asks again
            why = refused(c)
            return [Step("refuse", c, why)] if why else [Step("start", c)]
        return _again(spec, c, st, now, init=True)
    steps: list[Step] = []
    for c in spec.containers:
        st = states.get(c.name)
        if st is None:
            why = refused(c)
            steps.append(Step("refuse", c, why) if why else Step("start", c))
        else:
            steps += _again(spec, c, st, now, init=False)
    return steps


def _again(spec: PodSpec, c: Container, st: ContainerState, now: float,
           init: bool) -> list[Step]:
    """A container that started before: running (nothing to do), refused (stays so), or
    ended: restarted now, or after its back-off, or never."""
    if st.running or st.reason == "CreateContainerConfigError":
        return []
    if st.state == "waiting" and st.reason == "CrashLoopBackOff":
        return [Step("start", c)] if now >= st.restart_at else []
    if not restarts(spec.restart_policy, init, st.exit_code):
        return []
    return [Step("back-off", c)] if in_back_off(st, now) else [Step("start", c)]


def initialised(spec: PodSpec, states: dict[str, ContainerState]) -> bool:
    """Every init container completed."""
    return all(c.name in states and states[c.name].completed for c in spec.init_containers)


def pod_phase(spec: PodSpec, states: dict[str, ContainerState]) -> str:
    """The pod's phase, as the kubelet's getPhase decides it: Pending, Running, Succeeded or
    Failed."""
    initialized = all(c.name in states and states[c.name].completed
                      for c in spec.init_containers)
    if not initialized:
        failed = any(st.state == "terminated" and st.exit_code != 0
                     for st in states.values())
        return "Failed" if failed and spec.restart_policy == "Never" else "Pending"
    app = [states.get(c.name) for c in spec.containers]
    if any(st is None or (st.state == "waiting" and st.restarts == 0) for st in app):
        return "Pending"
    if any(st.running for st in app):
        return "Running"
    ended = [st for st in app if st.state == "terminated"]
    if len(ended) < len(app) or spec.restart_policy == "Always":
        return "Running"  # waiting to restart
    if all(st.exit_code == 0 for st in ended):
        return "Succeeded"
    return "Running" if spec.restart_policy == "OnFailure" else "Failed"


def plays_controller(spec: LabSpec, c: Container) -> bool:
    """An ingress controller's or a Gateway's image with no command of its own: netlab's
    controller runs in it (args, as ingress-nginx's manifest passes /nginx-ingress-controller
    and its flags, are that image's entrypoint's)."""
    image = spec.image_app(c.image)
    return not c.command and image is not None and image.app in APP_FLAVOURS


def runs_own_argv(spec: LabSpec, c: Container) -> bool:
    """Does container C run its own argv (its command, or args that name a program) rather
    than a built-in app?"""
    return c.runs_command and not plays_controller(spec, c)

"""Reading a running lab: its saved state, its containers as they are now, readiness."""

from __future__ import annotations

import time

from netlab.errors import NetlabError, UsageError
from netlab.kernel.api import Kernel, real
from netlab.model.state import ContainerState, LabState
from netlab.state import LabDir


def load(lab: str, ld: LabDir | None = None) -> LabState:
    ld = ld or LabDir(lab)
    state = ld.load_state()
    if state is None:
        if ld.exists():
            raise NetlabError(f"lab '{lab}' is not fully up (its build did not finish); "
                              f"run: netlab down {lab}")
        raise UsageError(f"lab '{lab}' is not up")
    return state


def live_processes(state: LabState, kernel: Kernel | None = None
                   ) -> dict[str, dict[str, ContainerState]]:
    """The saved container states, with running containers whose process is gone shown as
    failed (until the controller restarts them, this is how a crash shows)."""
    kernel = kernel or real()
    out: dict[str, dict[str, ContainerState]] = {}
    for key, containers in state.processes.items():
        out[key] = {}
        for name, st in containers.items():
            if st.running and not kernel.processes.alive(st.pid, st.start):
                st = ContainerState("failed", st.pid, st.start, st.started, st.restarts,
                                    "the container process exited", False)
            out[key][name] = st
    return out


WAIT_PROBED_MAX_S = 60.0  # up never waits longer for probes; get pods shows the rest


def wait_probed(lab: str, extra_s: float = 10.0) -> bool:
    """Wait until every container with a readiness probe has had its first verdict from the
    lab's controller (like kubectl rollout status), at most the probes' own initial delay
    and period plus EXTRA_S, and never more than a minute. False if the deadline came first."""
    plan = load(lab).plan
    probed = [(p.key, c.name, c.readiness) for p in plan.pods for c in p.spec.containers
              if c.readiness is not None]
    if not probed:
        return True
    deadline = time.monotonic() + min(WAIT_PROBED_MAX_S, extra_s + max(
        r.initial_delay + r.period * r.success_threshold for _k, _c, r in probed))
    ld = LabDir(lab)
    while time.monotonic() < deadline:
        state = ld.load_state()
        procs = state.processes if state else {}
        if all(procs.get(key, {}).get(name, ContainerState()).ready is not None
               for key, name, _r in probed):
            return True
        time.sleep(0.1)
    return False

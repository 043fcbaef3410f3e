"""Reading a running lab: its saved state, its containers as they are now, readiness."""

from __future__ import annotations

import time
from dataclasses import replace

from netlab.errors import NetlabError, UsageError
from netlab.kernel.api import Kernel, real
from netlab.model.state import ContainerState, LabState
from netlab.objects.common import LabView
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


def view(state: LabState, kernel: Kernel | None = None) -> LabView:
    """The lab as get and describe show it: its pods (terminating ones too), their containers
    as they are now, its events."""
    import platform

    plan = replace(state.plan, pods=tuple(state.all_pods()))
    return LabView(plan, live_processes(state, kernel), state.created,
                   {k: (t.since, t.deadline) for k, t in state.terminating.items()},
                   state.events, platform.release(), dict(state.pod_created),
                   dict(state.ready_since), tuple(state.nodes_down))


def live_processes(state: LabState, kernel: Kernel | None = None
                   ) -> dict[str, dict[str, ContainerState]]:
    """The saved container states, as they are now: a running container whose process is
    gone is shown ended (how, from its shim's report), and the containers of a pod whose
    network namespace vanished as ended with it, until the controller acts."""
    from netlab.kernel.ns import netns_path
    from netlab.lifecycle.runtime import Paths
    from netlab.plan import kubelet

    kernel = kernel or real()
    paths = Paths.of(state.plan.spec.name, kernel)
    now = time.time()
    out: dict[str, dict[str, ContainerState]] = {}
    for pod in state.all_pods():
        containers = state.processes.get(pod.key, {})
        gone = not pod.spec.host_network and not kernel.namespaces.exists(netns_path(pod.netns))
        out[pod.key] = {}
        for name, st in containers.items():
            if st.running and gone:
                st = replace(kubelet.ended(st, "killed 9", now),
                             message=f"the pod's network namespace {pod.netns} is gone")
            elif st.running and not kernel.processes.alive(st.pid, st.start):
                st = kubelet.ended(st, kernel.processes.exit_status(
                    paths.exit_file(pod, name)), now)
            out[pod.key][name] = st
    return out


def log_path(state: LabState, pod_key: str, container: str = "") -> str:
    """Where container CONTAINER (default: the first) of pod POD_KEY writes its output."""
    from netlab.lifecycle.runtime import Paths

    pod = next(p for p in state.all_pods() if p.key == pod_key)
    every = [c.name for c in (*pod.spec.init_containers, *pod.spec.containers)]
    if container and container not in every:
        raise UsageError(f"container {container} is not valid for pod {pod.name}: choose one "
                         f"of: {', '.join(every)}")
    return Paths.of(state.plan.spec.name, real()).log(pod, container or
                                                      pod.spec.containers[0].name)


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


def rollout(lab: str, namespace: str, name: str) -> tuple[str, bool]:
    """kubectl rollout status's line for Deployment NAME of running lab LAB, and whether its
    rollout is done."""
    from netlab import objects

    v = view(load(lab))
    d = next((d for d in v.plan.workloads if d.kind == "Deployment" and d.name == name
              and d.namespace == namespace), None)
    if d is None:
        raise UsageError(f'deployments.apps "{name}" not found in namespace {namespace}')
    return objects.rollout_status(v, d)

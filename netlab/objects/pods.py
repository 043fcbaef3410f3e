"""Pods as kubectl shows them: STATUS as its printPod decides it, the Pod object, the table, and
describe pod. Pure."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from netlab.model import Container, PodInfo
from netlab.model.state import ContainerState
from netlab.objects.common import LabView, Procs, events_block, human_age, none_found, table, ts
from netlab.plan.kubelet import pod_phase


def container_ready(c: Container, st: ContainerState) -> bool:
    """A container with a readiness probe is unready until the controller saw it pass."""
    return st.running and (st.ready if st.ready is not None else c.readiness is None)


@dataclass(frozen=True)
class PodStatus:
    ready: int  # app containers running and ready
    total: int
    reason: str  # kubectl's STATUS column
    restarts: int
    last_restart: float  # wall clock of the last restart's exit (0: none)
    phase: str  # Pending | Running | Succeeded | Failed
    initialized: bool

    def restarts_text(self, now: float) -> str:
        """kubectl's RESTARTS: "3 (42s ago)"."""
        if not self.restarts or not self.last_restart:
            return str(self.restarts)
        return f"{self.restarts} ({human_age(now - self.last_restart)} ago)"


def _ended_reason(st: ContainerState) -> str:
    if st.reason:
        return st.reason
    return f"Signal:{st.signal}" if st.signal else f"ExitCode:{st.exit_code}"


def pod_status(pod: PodInfo, procs: Procs, terminating: bool = False) -> PodStatus:
    """What kubectl shows for a pod (its printPod): Terminating once deleted; else the first
    init container that has not completed decides (Init:N/M, Init:Error,
    Init:CrashLoopBackOff); then the last app container with something to say
    (CrashLoopBackOff, Error, Completed...), else the phase."""
    status = _pod_status(pod, procs)
    if terminating:
        return replace(status, reason="Terminating")
    return status


def _pod_status(pod: PodInfo, procs: Procs) -> PodStatus:
    states = procs.get(pod.key, {})
    inits = pod.spec.init_containers
    initialized = all(c.name in states and states[c.name].completed for c in inits)
    phase = pod_phase(pod.spec, states)
    reason = phase
    last = max((st.last_finished for st in states.values()), default=0.0)
    restarts = 0
    if not initialized:
        for i, c in enumerate(inits):
            st = states.get(c.name)
            restarts += st.restarts if st else 0
            if st is not None and st.completed:
                continue
            if st is not None and st.state == "terminated":
                reason = "Init:" + _ended_reason(st)
            elif st is not None and st.state == "waiting" and st.reason and \
                    st.reason != "PodInitializing":
                reason = "Init:" + st.reason
            else:
                reason = f"Init:{i}/{len(inits)}"
            break
        return PodStatus(0, len(pod.spec.containers), reason, restarts, last, phase, False)
    ready, has_running = 0, False
    for c in reversed(pod.spec.containers):
        st = states.get(c.name)
        if st is None:
            reason = "PodInitializing" if inits else "ContainerCreating"
            continue
        restarts += st.restarts
        if st.state == "waiting" and st.reason:
            reason = st.reason
        elif st.state == "terminated":
            reason = _ended_reason(st)
        elif container_ready(c, st):
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if ready == len(pod.spec.containers) else "NotReady"
    return PodStatus(ready, len(pod.spec.containers), reason, restarts, last, phase, True)


def _state_object(st: ContainerState, created: float) -> dict:
    if st.running:
        return {"running": {"startedAt": ts(st.started or created)}}
    if st.state == "waiting":
        return {"waiting": {"reason": st.reason or "ContainerCreating",
                            **({"message": st.message} if st.message else {})}}
    return {"terminated": {"exitCode": st.exit_code if st.exit_code is not None else 137,
                           **({"signal": st.signal} if st.signal else {}),
                           "reason": st.reason or "Error",
                           **({"message": st.message} if st.message else {}),
                           "startedAt": ts(st.started or created),
                           "finishedAt": ts(st.finished or created)}}


def container_status(c: Container, st: ContainerState | None, created: float) -> dict:
    """A Kubernetes ContainerStatus."""
    st = st or ContainerState("waiting", reason="ContainerCreating")
    out = {"name": c.name, "image": c.image, "ready": container_ready(c, st),
           "started": st.running, "restartCount": st.restarts,
           "state": _state_object(st, created), "lastState": {}}
    if st.last_reason:
        out["lastState"] = {"terminated": {
            "exitCode": st.last_exit_code if st.last_exit_code is not None else 137,
            "reason": st.last_reason, "startedAt": ts(st.last_started or created),
            "finishedAt": ts(st.last_finished or created)}}
    return out


def _container_spec(c: Container) -> dict:
    obj: dict = {"name": c.name, "image": c.image}
    if c.command:
        obj["command"] = list(c.command)
    if c.args:
        obj["args"] = list(c.args)
    if c.ports:
        obj["ports"] = [{"containerPort": p.container_port, "protocol": p.protocol,
                         **({"name": p.name} if p.name else {})} for p in c.ports]
    return obj


def pod_object(view: LabView, pod: PodInfo) -> dict:
    node = view.plan.node(pod.node)
    states = view.procs.get(pod.key, {})
    created = view.created_at(pod.key)
    status = pod_status(pod, view.procs)
    meta: dict = {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid,
                  "labels": dict(pod.labels), "creationTimestamp": ts(created)}
    if pod.key in view.terminating:
        since, deadline = view.terminating[pod.key]
        meta["deletionTimestamp"] = ts(deadline)
        meta["deletionGracePeriodSeconds"] = int(round(deadline - since))
    if pod.owner:
        kind, name = pod.owner.split("/", 1)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": f"{name}-{pod.template_hash}", "controller": True}]
    spec: dict = {"containers": [_container_spec(c) for c in pod.spec.containers],
                  "nodeName": pod.node, "restartPolicy": pod.spec.restart_policy,
                  "terminationGracePeriodSeconds": pod.spec.termination_grace}
    if pod.spec.init_containers:
        spec["initContainers"] = [_container_spec(c) for c in pod.spec.init_containers]
    if pod.spec.host_network:
        spec["hostNetwork"] = True
    ready = status.ready == status.total and status.initialized
    conditions = {"Initialized": status.initialized, "Ready": ready, "ContainersReady": ready,
                  "PodScheduled": True}
    body: dict = {
        "phase": status.phase,
        "hostIP": node.lan_ip, "hostIPs": [{"ip": node.lan_ip}],
        "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
        "conditions": [{"type": t, "status": "True" if v else "False"}
                       for t, v in conditions.items()],
        "containerStatuses": [container_status(c, states.get(c.name), created)
                              for c in pod.spec.containers],
        "startTime": ts(created),
    }
    if pod.spec.init_containers:
        body["initContainerStatuses"] = [container_status(c, states.get(c.name), created)
                                         for c in pod.spec.init_containers]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": body, "_total": status.total}


def pods_table(view: LabView, wide: bool, namespace: str | None,
               now: float | None = None, prefix: str = "") -> str:
    now = now or time.time()
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    rows = []
    for pod in sorted(view.plan.pods, key=lambda p: (p.namespace, p.name)):
        if namespace is not None and pod.namespace != namespace:
            continue
        st = pod_status(pod, view.procs, pod.key in view.terminating)
        row = [prefix + pod.name, f"{st.ready}/{st.total}", st.reason, st.restarts_text(now),
               human_age(now - view.created_at(pod.key))]
        if namespace is None:
            row.insert(0, pod.namespace)
        if wide:
            row += [pod.ip, pod.node, "<none>", "<none>"]
        rows.append(row)
    return table(headers, rows) if rows else none_found(namespace)


def _probe_text(kind: str, probe) -> str:
    """kubectl's one-line probe summary."""
    if probe.kind == "http":
        what = f"http-get http://:{probe.port}{probe.path}"
    elif probe.kind == "tcp":
        what = f"tcp-socket :{probe.port}"
    else:
        what = "exec [" + " ".join(probe.command) + "]"
    return (f"{kind}:{' ' * max(1, 15 - len(kind))}{what} delay={probe.initial_delay:g}s "
            f"timeout={probe.timeout:g}s period={probe.period:g}s "
            f"#success={probe.success_threshold} #failure={probe.failure_threshold}")


def _describe_state(label: str, st: ContainerState, created: float) -> list[str]:
    """kubectl describe's State (or Last State) block."""
    pad = " " * (16 - len(label) - 1)
    if st.running:
        return [f"    {label}:{pad}Running", f"      Started:      {ts(st.started or created)}"]
    if st.state == "waiting":
        out = [f"    {label}:{pad}Waiting",
               f"      Reason:       {st.reason or 'ContainerCreating'}"]
        return out + ([f"      Message:      {st.message}"] if st.message else [])
    out = [f"    {label}:{pad}Terminated", f"      Reason:       {st.reason or 'Error'}"]
    if st.message:
        out.append(f"      Message:      {st.message}")
    out.append(f"      Exit Code:    {st.exit_code if st.exit_code is not None else 137}")
    if st.signal:
        out.append(f"      Signal:       {st.signal}")
    return out + [f"      Started:      {ts(st.started or created)}",
                  f"      Finished:     {ts(st.finished or created)}"]


def _describe_container(c: Container, st: ContainerState | None, created: float) -> list[str]:
    st = st or ContainerState("waiting", reason="ContainerCreating")
    out = [f"  {c.name}:", f"    Image:          {c.image}"]
    for p in c.ports or ():
        out.append(f"    Port:           {p.container_port}/{p.protocol}")
    if c.command:
        out.append("    Command:        " + " ".join(c.command))
    if c.args:
        out.append("    Args:           " + " ".join(c.args))
    out += _describe_state("State", st, created)
    if st.last_reason:
        out += _describe_state("Last State", ContainerState(
            "terminated", reason=st.last_reason, exit_code=st.last_exit_code,
            started=st.last_started, finished=st.last_finished), created)
    out.append(f"    Ready:          {container_ready(c, st) or st.completed}")
    out.append(f"    Restart Count:  {st.restarts}")
    if c.liveness:
        out.append("    " + _probe_text("Liveness", c.liveness))
    if c.readiness:
        out.append("    " + _probe_text("Readiness", c.readiness))
    return out


def _status_line(view: LabView, pod: PodInfo, status: PodStatus, now: float) -> str:
    """kubectl: "Terminating (lasts 25s)" once deleted, with the grace period below it."""
    if pod.key not in view.terminating:
        return f"Status:           {status.phase}"
    since, deadline = view.terminating[pod.key]
    return (f"Status:           Terminating (lasts {human_age(deadline - now)})\n"
            f"Termination Grace Period:  {int(round(deadline - since))}s")


def describe_pod(view: LabView, pod: PodInfo, now: float | None = None) -> str:
    """kubectl describe pod, for the fields netlab has."""
    now = now or time.time()
    node = view.plan.node(pod.node)
    procs, created = view.procs, view.created_at(pod.key)
    events = view.events.get(pod.key, [])
    status = pod_status(pod, procs)
    states = procs.get(pod.key, {})
    labels = [f"{k}={v}" for k, v in pod.labels] or ["<none>"]
    out = [f"Name:             {pod.name}", f"Namespace:        {pod.namespace}",
           f"Node:             {pod.node}/{node.lan_ip}",
           f"Start Time:       {ts(created)}",
           f"Labels:           {labels[0]}", *(f"                  {x}" for x in labels[1:]),
           _status_line(view, pod, status, now), f"IP:               {pod.ip}"]
    if pod.owner:
        out.append(f"Controlled By:    ReplicaSet/{pod.owner.split('/', 1)[1]}-"
                   f"{pod.template_hash}")
    if pod.spec.init_containers:
        out.append("Init Containers:")
        for c in pod.spec.init_containers:
            out += _describe_container(c, states.get(c.name), created)
    out.append("Containers:")
    for c in pod.spec.containers:
        out += _describe_container(c, states.get(c.name), created)
    ready = str(status.initialized and status.ready == status.total)
    out += ["Conditions:", "  Type              Status",
            f"  Initialized       {status.initialized}", f"  Ready             {ready}",
            f"  ContainersReady   {ready}", "  PodScheduled      True"]
    return "\n".join(out + events_block(events, now))

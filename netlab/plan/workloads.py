"""The workload controllers' decisions, pure: the Deployment controller (rolling updates and
Recreate, as ``pkg/controller/deployment`` does them), ReplicaSets on their own, DaemonSets
(a pod per eligible node) and Jobs.

Each call to ``reconcile`` takes one step per Deployment, as one sync of the Deployment
controller does (scale the new ReplicaSet up, or else the old ones down, or else clean up the
history); the lab's controller calls it again every tick, so readiness gates each next step.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

from netlab.model import Deployment, LabSpec, PodInfo, PodSpec, ReplicaSet
from netlab.plan import naming

# (event key, type, reason, message); an event key is "NS/KIND/NAME" (a pod's is "NS/NAME")
EventT = tuple[str, str, str, str]


def template_hash(d: Deployment) -> str:
    """The pod-template-hash of D's template (its annotations count, so that a rollout
    restart's restartedAt makes a new ReplicaSet)."""
    template: dict = {"labels": d.template_labels, "spec": asdict(d.template)}
    if d.template_annotations:
        template["annotations"] = d.template_annotations
    return naming.pod_template_hash(template)


def resolve(value: int | str, total: int, round_up: bool) -> int:
    """An IntOrString of a rolling update against TOTAL replicas: "25%" rounds up for
    maxSurge and down for maxUnavailable (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%"))
    scaled = pct * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def fenceposts(d: Deployment) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both 0 makes maxUnavailable 1, as
    ``ResolveFenceposts`` does (a percentage may round to 0)."""
    surge = resolve(d.max_surge, d.replicas, True)
    unavailable = resolve(d.max_unavailable, d.replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass
class Status:
    """What the controller knows of the lab's pods."""

    ready: dict[str, bool] = field(default_factory=dict)  # pod key -> ready
    ready_since: dict[str, float] = field(default_factory=dict)  # pod key -> wall clock
    terminating: tuple[PodInfo, ...] = ()
    taken: frozenset[str] = frozenset()  # pod keys in use (terminating ones included)
    now: float = 0.0
    phase: dict[str, str] = field(default_factory=dict)  # pod key -> Pending|Running|...

    def available(self, key: str, min_ready: int) -> bool:
        """Ready for at least minReadySeconds (Kubernetes' IsPodAvailable)."""
        if not self.ready.get(key):
            return False
        return min_ready == 0 or self.now - self.ready_since.get(key, self.now) >= min_ready


@dataclass
class Outcome:
    sets: dict[str, ReplicaSet]
    events: list[EventT] = field(default_factory=list)


def pod_name(rs_name: str, suffix: str) -> str:
    """generateName "<replicaset>-": the base truncated so the name fits 63 characters."""
    return f"{rs_name}-"[: 63 - 5] + suffix


class _Scaler:
    """Scales ReplicaSets: new pods get fresh names, the pods that go are chosen as the
    ReplicaSet controller ranks them (not ready first, then the newest)."""

    def __init__(self, lab: str, status: Status, out: Outcome) -> None:
        self.lab, self.status, self.out = lab, status, out
        self.taken = set(status.taken)

    def scale(self, rs: ReplicaSet, n: int, by: str = "") -> ReplicaSet:
        pods = list(rs.pods)
        key = f"{rs.namespace}/{rs.kind.lower()}/{rs.name}"
        if by and n != rs.replicas:
            way = "up" if n > rs.replicas else "down"
            self.out.events.append((by, "Normal", "ScalingReplicaSet",
                                    f"Scaled {way} replica set {rs.name} from {rs.replicas} "
                                    f"to {n}"))
        i = 0
        while len(pods) < n:
            seed = (self.lab, rs.namespace, rs.owner or rs.name, rs.hash, str(i))
            name = pod_name(rs.name, naming.generated_suffix(*seed))
            i += 1
            if f"{rs.namespace}/{name}" in self.taken:
                continue  # a clash draws again, as generateName's retry does
            self.taken.add(f"{rs.namespace}/{name}")
            pods.append(name)
            self.out.events.append((key, "Normal", "SuccessfulCreate", f"Created pod: {name}"))
        if len(pods) > n:
            ranked = sorted(range(len(pods)), key=lambda j: (
                bool(self.status.ready.get(f"{rs.namespace}/{pods[j]}")), -j))
            gone = set(ranked[: len(pods) - n])
            for j in sorted(gone):
                self.out.events.append((key, "Normal", "SuccessfulDelete",
                                        f"Deleted pod: {pods[j]}"))
            pods = [p for j, p in enumerate(pods) if j not in gone]
        rs = replace(rs, replicas=n, pods=tuple(pods))
        self.out.sets[rs.key] = rs
        return rs


def reconcile(lab: str, workloads: tuple[Deployment, ...], sets: dict[str, ReplicaSet],
              status: Status) -> Outcome:
    """One step of every Deployment and ReplicaSet in WORKLOADS: the ReplicaSets after it
    (those of workloads that are gone are dropped, and their pods with them)."""
    out = Outcome({})
    scaler = _Scaler(lab, status, out)
    for d in workloads:
        if d.kind == "Deployment":
            mine = {k: rs for k, rs in sets.items()
                    if rs.namespace == d.namespace and rs.owner == d.name}
            out.sets.update(mine)
            _deployment(d, mine, status, scaler)
        elif d.kind == "Job":
            _job(d, sets, status, scaler)
        elif d.kind == "ReplicaSet":
            rs = sets.get(d.key) or ReplicaSet(
                d.name, d.namespace, "", "", 1, 0, d.template_labels, d.template,
                created=status.now)
            rs = replace(rs, template=d.template, labels=d.template_labels)
            scaler.scale(rs, d.replicas)
    return out


def _job(d: Deployment, sets: dict[str, ReplicaSet], status: Status, scaler: _Scaler) -> None:
    """The Job controller: up to ``parallelism`` pods at a time until ``completions`` have
    succeeded; more than ``backoffLimit`` failed pods fail the Job (its running pods go)."""
    key = f"job:{d.namespace}/{d.name}"
    by = f"{d.namespace}/job/{d.name}"
    labels = tuple(sorted({**dict(d.template_labels), "job-name": d.name,
                           "batch.kubernetes.io/job-name": d.name}.items()))
    job = sets.get(key) or ReplicaSet(d.name, d.namespace, "", "", 1, 0, labels, d.template,
                                      created=status.now, kind="Job")
    scaler.out.sets[key] = job
    if job.done:
        return
    phases = [status.phase.get(f"{d.namespace}/{p}", "Pending") for p in job.pods]
    succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
    active = len(phases) - succeeded - failed
    if succeeded >= d.completions:
        scaler.out.sets[key] = replace(job, done="Complete", finished=status.now)
        scaler.out.events.append((by, "Normal", "Completed", "Job completed"))
        return
    if failed > d.backoff_limit:
        running = [p for p, ph in zip(job.pods, phases, strict=True)
                   if ph not in ("Succeeded", "Failed")]
        for p in running:
            scaler.out.events.append((by, "Normal", "SuccessfulDelete", f"Deleted pod: {p}"))
        scaler.out.sets[key] = replace(job, done="Failed", finished=status.now,
                                       pods=tuple(p for p in job.pods if p not in running))
        scaler.out.events.append((by, "Warning", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit"))
        return
    want = min(d.parallelism, d.completions - succeeded)
    if active < want:
        scaler.scale(job, len(job.pods) + want - active)


def _deployment(d: Deployment, mine: dict[str, ReplicaSet], status: Status,
                scaler: _Scaler) -> None:
    by = f"{d.namespace}/deployment/{d.name}"
    h = template_hash(d)
    new = next((rs for rs in mine.values() if rs.hash == h), None)
    olds = sorted((rs for rs in mine.values() if rs.hash != h),
                  key=lambda rs: (rs.created, rs.revision))
    top = max((rs.revision for rs in mine.values()), default=0)
    labels = tuple(sorted({**dict(d.template_labels), "pod-template-hash": h}.items()))
    if new is None:
        new = ReplicaSet(f"{d.name}-{h}", d.namespace, d.name, h, top + 1, 0, labels,
                         d.template, created=status.now, raw_template=d.raw_template,
                         change_cause=d.change_cause)
    elif new.revision < top:  # the template went back to an old one: it is the newest now
        new = replace(new, revision=top + 1, change_cause=d.change_cause)
    scaler.out.sets[new.key] = new

    def available(rs: ReplicaSet) -> int:
        return sum(status.available(f"{rs.namespace}/{p}", d.min_ready) for p in rs.pods)

    if d.strategy == "Recreate":
        _recreate(d, new, olds, status, scaler, by)
    elif not _scale_new(d, new, mine, scaler, by):
        _scale_old(d, new, olds, available, scaler, by)
    done = new.key in scaler.out.sets and scaler.out.sets[new.key].replicas == d.replicas
    if done and all(scaler.out.sets[rs.key].replicas == 0 for rs in olds):
        _history(d, olds, scaler)


def _scale_new(d: Deployment, new: ReplicaSet, mine: dict[str, ReplicaSet],
               scaler: _Scaler, by: str) -> bool:
    """reconcileNewReplicaSet: scale the new ReplicaSet up as far as maxSurge lets it (or
    down to the Deployment's replicas). True when it scaled."""
    active = [rs for rs in mine.values() if rs.replicas > 0 and rs.key != new.key]
    if new.replicas > d.replicas or not active:  # a scale, not a rollout
        if new.replicas == d.replicas:
            return False
        scaler.scale(new, d.replicas, by)
        return True
    if new.replicas == d.replicas:
        return False
    surge, _ = fenceposts(d)
    current = sum(rs.replicas for rs in mine.values() if rs.key != new.key) + new.replicas
    room = d.replicas + surge - current
    if room <= 0:
        return False
    scaler.scale(new, new.replicas + min(room, d.replicas - new.replicas), by)
    return True


def _scale_old(d: Deployment, new: ReplicaSet, olds: list[ReplicaSet], available,
               scaler: _Scaler, by: str) -> None:
    """reconcileOldReplicaSets: unhealthy old pods go first, then old pods as far as
    maxUnavailable lets availability drop."""
    if not sum(rs.replicas for rs in olds):
        return
    _, unavailable = fenceposts(d)
    min_available = d.replicas - unavailable
    every = [new, *olds]
    all_pods = sum(rs.replicas for rs in every)
    new_unavailable = new.replicas - available(new)
    max_down = all_pods - min_available - new_unavailable
    if max_down <= 0:
        return
    cleaned = 0
    for i, rs in enumerate(olds):
        healthy = available(rs)
        if cleaned >= max_down or rs.replicas == 0 or rs.replicas == healthy:
            continue
        n = min(max_down - cleaned, rs.replicas - healthy)
        olds[i] = scaler.scale(rs, rs.replicas - n, by)
        cleaned += n
    spare = sum(available(rs) for rs in [new, *olds]) - min_available
    for rs in olds:
        if spare <= 0:
            break
        if rs.replicas == 0:
            continue
        n = min(rs.replicas, spare)
        scaler.scale(rs, rs.replicas - n, by)
        spare -= n


def _recreate(d: Deployment, new: ReplicaSet, olds: list[ReplicaSet], status: Status,
              scaler: _Scaler, by: str) -> None:
    """Recreate: every old pod goes, and the new ones come once the old ones have exited."""
    active = [rs for rs in olds if rs.replicas > 0]
    for rs in active:
        scaler.scale(rs, 0, by)
    if active:
        return
    old_hashes = {rs.hash for rs in olds}
    if any(p.owner == f"Deployment/{d.name}" and p.namespace == d.namespace
           and p.template_hash in old_hashes for p in status.terminating):
        return  # old pods still running out their grace period
    if new.replicas != d.replicas:
        scaler.scale(new, d.replicas, by)


def _history(d: Deployment, olds: list[ReplicaSet], scaler: _Scaler) -> None:
    """cleanupDeployment: old ReplicaSets with no pods beyond revisionHistoryLimit go, the
    oldest revisions first."""
    idle = sorted((rs for rs in olds if not scaler.out.sets[rs.key].pods),
                  key=lambda rs: rs.revision)
    for rs in idle[: max(0, len(idle) - d.history)]:
        del scaler.out.sets[rs.key]


def raw(template: dict) -> str:
    return json.dumps(template, sort_keys=True)


CONTROL_PLANE_TAINT = ("node-role.kubernetes.io/control-plane", "", "NoSchedule")


def node_labels(lab: LabSpec, node: str) -> dict[str, str]:
    """The labels a kubelet gives its node (and kubeadm the control-plane node: the first)."""
    out = {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node,
           "kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
           "beta.kubernetes.io/os": "linux"}
    if node == lab.nodes[0]:
        out["node-role.kubernetes.io/control-plane"] = ""
    return out


def node_taints(lab: LabSpec, node: str) -> tuple[tuple[str, str, str], ...]:
    """(key, value, effect): kubeadm's control-plane taint when the Lab asks for it."""
    return (CONTROL_PLANE_TAINT,) if lab.control_plane_taint and node == lab.nodes[0] else ()


def tolerates(spec: PodSpec, taints: tuple[tuple[str, str, str], ...]) -> bool:
    """Does SPEC tolerate every NoSchedule/NoExecute taint (v1 helper ToleratesTaint)?"""
    for key, value, effect in taints:
        if not any((not tk or tk == key) and (op == "Exists" or tv == value)
                   and (not te or te == effect) and (tk or op == "Exists")
                   for tk, op, tv, te in spec.tolerations):
            return False
    return True


def schedulable(lab: LabSpec, spec: PodSpec, node: str) -> bool:
    """Can a pod of SPEC go to NODE: its nodeSelector matches, the node's taints tolerated."""
    labels = node_labels(lab, node)
    return all(labels.get(k) == v for k, v in spec.node_selector) and \
        tolerates(spec, node_taints(lab, node))


def node_ports_taken(spec: PodSpec) -> set[tuple[int, str]]:
    """The node ports a pod takes (the scheduler's NodePorts filter): its hostPorts, and with
    hostNetwork every container port."""
    return {(p.host_port or p.container_port, p.protocol) for c in spec.containers
            for p in c.ports if p.host_port or spec.host_network}


def daemon_pods(lab: LabSpec, d: Deployment, used: set | None = None
                ) -> list[tuple[str, str, tuple, PodSpec, str, str]]:
    """A DaemonSet's pods: one per node it may run on (its host ports free there: USED holds
    (node, port, protocol) taken so far, and gets this DaemonSet's), pinned there (the
    DaemonSet controller sets node affinity; nodeName here), named <daemonset>-<5 chars>."""
    h = template_hash(d)
    labels = tuple(sorted({**dict(d.template_labels), "controller-revision-hash": h,
                           "pod-template-generation": "1"}.items()))
    used = used if used is not None else set()
    wants = node_ports_taken(d.template)
    out = []
    for node in lab.nodes:
        if not schedulable(lab, d.template, node) or \
                any((node, port, proto) in used for port, proto in wants):
            continue
        used |= {(node, port, proto) for port, proto in wants}
        name = pod_name(d.name, naming.generated_suffix(lab.name, d.namespace, d.name, h, node))
        out.append((d.namespace, name, labels, replace(d.template, node_name=node),
                    f"DaemonSet/{d.name}", h))
    return out

"""Deployments, ReplicaSets and DaemonSets as kubectl shows them (get, describe, rollout
status and history). Pure."""

from __future__ import annotations

import time
from dataclasses import dataclass

from netlab.model import Deployment, PodInfo, ReplicaSet
from netlab.objects.common import LabView, events_block, human_age, none_found, table
from netlab.objects.pods import pod_status
from netlab.plan.workloads import template_hash


@dataclass(frozen=True)
class Counts:
    """A workload's status numbers (DeploymentStatus / ReplicaSetStatus / DaemonSetStatus)."""

    desired: int
    current: int  # pods that exist (terminating ones not counted)
    ready: int
    available: int  # ready for minReadySeconds
    updated: int  # pods of the current template


def _ready(view: LabView, pod: PodInfo) -> bool:
    return pod.key not in view.terminating and \
        pod_status(pod, view.procs).ready == len(pod.spec.containers)


def _available(view: LabView, pod: PodInfo, min_ready: int, now: float) -> bool:
    since = view.ready_since.get(pod.key)
    return _ready(view, pod) and (min_ready == 0 or (since is not None
                                                      and now - since >= min_ready))


def pods_of(view: LabView, d: Deployment) -> list[PodInfo]:
    """The pods a workload owns (not the terminating ones)."""
    return [p for p in view.plan.pods if p.namespace == d.namespace
            and p.owner == f"{d.kind}/{d.name}" and p.key not in view.terminating]


def sets_of(view: LabView, d: Deployment) -> list[ReplicaSet]:
    """A Deployment's ReplicaSets, newest revision first."""
    return sorted((rs for rs in view.plan.replicasets
                   if rs.namespace == d.namespace and rs.owner == d.name),
                  key=lambda rs: -rs.revision)


def counts(view: LabView, d: Deployment, now: float) -> Counts:
    pods = pods_of(view, d)
    if d.kind == "DaemonSet":
        desired = len({p.spec.node_name for p in pods}) or len(pods)
        h = template_hash(d)
        updated = sum(p.template_hash == h for p in pods)
    else:
        desired = d.replicas
        h = template_hash(d) if d.kind == "Deployment" else ""
        updated = sum(p.template_hash == h for p in pods) if h else len(pods)
    return Counts(desired, len(pods), sum(_ready(view, p) for p in pods),
                  sum(_available(view, p, d.min_ready, now) for p in pods), updated)


def _workloads(view: LabView, kind: str, namespace: str | None) -> list[Deployment]:
    return sorted((d for d in view.plan.workloads if d.kind == kind
                   and (namespace is None or d.namespace == namespace)),
                  key=lambda d: (d.namespace, d.name))


def _with_namespace(headers: list[str], rows: list[list[str]], namespace: str | None,
                    namespaces: list[str]) -> str:
    if namespace is None:
        headers = ["NAMESPACE", *headers]
        rows = [[ns, *row] for ns, row in zip(namespaces, rows, strict=True)]
    return table(headers, rows) if rows else none_found(namespace)


def _age(view: LabView, now: float) -> str:
    return human_age(now - view.created)


WIDE = ["CONTAINERS", "IMAGES", "SELECTOR"]


def _wide(d: Deployment) -> list[str]:
    return [",".join(c.name for c in d.template.containers),
            ",".join(c.image for c in d.template.containers),
            ",".join(f"{k}={v}" for k, v in d.selector)]


def deployments_table(view: LabView, namespace: str | None, now: float | None = None,
                      prefix: str = "", wide: bool = False) -> str:
    """kubectl get deployments: NAME READY UP-TO-DATE AVAILABLE AGE (-o wide: CONTAINERS
    IMAGES SELECTOR)."""
    now = now or time.time()
    ds = _workloads(view, "Deployment", namespace)
    rows = []
    for d in ds:
        c = counts(view, d, now)
        rows.append([prefix + d.name, f"{c.ready}/{c.desired}", str(c.updated), str(c.available),
                     _age(view, now), *(_wide(d) if wide else [])])
    return _with_namespace(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE",
                            *(WIDE if wide else [])], rows, namespace, [d.namespace for d in ds])


def replicasets_table(view: LabView, namespace: str | None, now: float | None = None,
                      prefix: str = "", wide: bool = False) -> str:
    """kubectl get replicasets: NAME DESIRED CURRENT READY AGE."""
    now = now or time.time()
    sets = sorted((rs for rs in view.plan.replicasets if rs.kind == "ReplicaSet"
                   and (namespace is None or rs.namespace == namespace)),
                  key=lambda rs: (rs.namespace, rs.name))
    rows = []
    for rs in sets:
        pods = [p for p in view.plan.pods if p.namespace == rs.namespace and p.name in rs.pods
                and p.key not in view.terminating]
        ready = sum(_ready(view, p) for p in pods)
        created = rs.created or view.created
        rows.append([prefix + rs.name, str(rs.replicas), str(len(pods)), str(ready),
                     human_age(now - created), *([",".join(c.name for c in rs.template.containers),
                                              ",".join(c.image for c in rs.template.containers),
                                              ",".join(f"{k}={v}" for k, v in rs.labels)]
                                             if wide else [])])
    return _with_namespace(["NAME", "DESIRED", "CURRENT", "READY", "AGE",
                            *(WIDE if wide else [])], rows, namespace,
                           [rs.namespace for rs in sets])


def daemonsets_table(view: LabView, namespace: str | None, now: float | None = None,
                     prefix: str = "", wide: bool = False) -> str:
    """kubectl get daemonsets."""
    now = now or time.time()
    ds = _workloads(view, "DaemonSet", namespace)
    rows = []
    for d in ds:
        c = counts(view, d, now)
        selector = ",".join(f"{k}={v}" for k, v in d.template.node_selector) or "<none>"
        rows.append([prefix + d.name, str(c.desired), str(c.current), str(c.ready), str(c.updated),
                     str(c.available), selector, _age(view, now), *(_wide(d) if wide else [])])
    return _with_namespace(["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                            "NODE SELECTOR", "AGE", *(WIDE if wide else [])], rows, namespace,
                           [d.namespace for d in ds])


def rollout_status(view: LabView, d: Deployment, now: float | None = None
                   ) -> tuple[str, bool]:
    """kubectl rollout status's line for a Deployment, and whether the rollout is done."""
    now = now or time.time()
    c = counts(view, d, now)
    name = d.name
    if c.updated < d.replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {c.updated} out of '
                f"{d.replicas} new replicas have been updated...", False)
    if c.current > c.updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {c.current - c.updated} '
                "old replicas are pending termination...", False)
    if c.available < c.updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {c.available} of '
                f"{c.updated} updated replicas are available...", False)
    return f'deployment "{name}" successfully rolled out', True


def rollout_history(view: LabView, d: Deployment) -> str:
    """kubectl rollout history deployment/NAME."""
    rows = [[str(rs.revision), rs.change_cause or "<none>"]
            for rs in sorted(sets_of(view, d), key=lambda rs: rs.revision)]
    return f"deployment.apps/{d.name}\n" + table(["REVISION", "CHANGE-CAUSE"], rows)


def conditions(view: LabView, d: Deployment, now: float) -> list[tuple[str, str, str]]:
    """The Deployment's Available and Progressing conditions, as its controller sets them
    (deploymentutil.MaxUnavailable: 0 for Recreate)."""
    from netlab.plan.workloads import fenceposts

    c = counts(view, d, now)
    unavailable = fenceposts(d)[1] if d.strategy == "RollingUpdate" and d.replicas else 0
    available = c.available >= d.replicas - unavailable
    _line, done = rollout_status(view, d, now)
    return [("Available", str(available), "MinimumReplicasAvailable" if available
             else "MinimumReplicasUnavailable"),
            ("Progressing", "True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated")]


def describe_deployment(view: LabView, d: Deployment, now: float | None = None) -> str:
    """kubectl describe deployment NAME."""
    now = now or time.time()
    c = counts(view, d, now)
    sets = sets_of(view, d)
    new = next((rs for rs in sets if rs.hash == template_hash(d)), None)
    old = [rs for rs in sets if rs is not new and rs.replicas > 0]
    labels = ",".join(f"{k}={v}" for k, v in d.labels) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in d.selector)
    lines = [f"Name:                   {d.name}", f"Namespace:              {d.namespace}",
             f"Labels:                 {labels}",
             f"Annotations:            deployment.kubernetes.io/revision: "
             f"{new.revision if new else 0}",
             f"Selector:               {selector}",
             f"Replicas:               {d.replicas} desired | {c.updated} updated | "
             f"{c.current} total | {c.available} available | "
             f"{c.current - c.available} unavailable",
             f"StrategyType:           {d.strategy}",
             f"MinReadySeconds:        {d.min_ready}"]
    if d.strategy == "RollingUpdate":
        lines.append(f"RollingUpdateStrategy:  {d.max_unavailable} max unavailable, "
                     f"{d.max_surge} max surge")
    lines.append("Pod Template:")
    lines.append("  Labels:  " + ",".join(f"{k}={v}" for k, v in d.template_labels))
    lines.append("  Containers:")
    for ct in d.template.containers:
        lines.append(f"   {ct.name}:")
        lines.append(f"    Image:      {ct.image}")
        for p in ct.ports:
            lines.append(f"    Port:       {p.container_port}/{p.protocol}")
        if ct.env:
            lines.append("    Environment:")
            lines += [f"      {k}:  {v}" for k, v in ct.env]
    lines += ["Conditions:", "  Type           Status  Reason",
              "  ----           ------  ------", *(
                  f"  {t:<15}{st:<8}{why}" for t, st, why in conditions(view, d, now))]
    lines.append("OldReplicaSets:  " + (", ".join(f"{rs.name} ({rs.replicas}/{rs.replicas} "
                                                  "replicas created)" for rs in old)
                                        or "<none>"))
    lines.append("NewReplicaSet:   " + (f"{new.name} ({new.replicas}/{new.replicas} replicas "
                                        "created)" if new else "<none>"))
    lines += events_block(view.events.get(f"{d.namespace}/deployment/{d.name}", []), now,
                          "deployment-controller")
    return "\n".join(lines)


def describe_daemonset(view: LabView, d: Deployment, now: float | None = None) -> str:
    now = now or time.time()
    c = counts(view, d, now)
    nodes = [n.name for n in view.plan.nodes]
    selector = ",".join(f"{k}={v}" for k, v in d.template.node_selector) or "<none>"
    lines = [f"Name:           {d.name}",
             f"Selector:       {','.join(f'{k}={v}' for k, v in d.selector)}",
             f"Node-Selector:  {selector}",
             f"Desired Number of Nodes Scheduled: {c.desired}",
             f"Current Number of Nodes Scheduled: {c.current}",
             f"Number of Nodes Scheduled with Up-to-date Pods: {c.updated}",
             f"Number of Nodes Scheduled with Available Pods: {c.available}",
             f"Pods Status:  {c.ready} Running / {c.current - c.ready} Waiting / 0 Succeeded "
             "/ 0 Failed",
             f"Nodes:          {', '.join(p.spec.node_name for p in pods_of(view, d))}"
             f" (of {', '.join(nodes)})"]
    lines += events_block(view.events.get(f"{d.namespace}/daemonset/{d.name}", []), now,
                          "daemonset-controller")
    return "\n".join(lines)


def describe_replicaset(view: LabView, rs: ReplicaSet, now: float | None = None) -> str:
    now = now or time.time()
    pods = [p for p in view.plan.pods if p.namespace == rs.namespace and p.name in rs.pods]
    ready = sum(_ready(view, p) for p in pods)
    lines = [f"Name:           {rs.name}", f"Namespace:      {rs.namespace}",
             "Labels:         " + ",".join(f"{k}={v}" for k, v in rs.labels),
             f"Annotations:    deployment.kubernetes.io/revision: {rs.revision}",
             f"Controlled By:  Deployment/{rs.owner}" if rs.owner else "Controlled By:  <none>",
             f"Replicas:       {len(pods)} current / {rs.replicas} desired",
             f"Pods Status:    {ready} Running / {len(pods) - ready} Waiting / 0 Succeeded / "
             "0 Failed"]
    lines += events_block(view.events.get(f"{rs.namespace}/replicaset/{rs.name}", []), now,
                          "replicaset-controller")
    return "\n".join(lines)



@dataclass(frozen=True)
class JobRun:
    """A Job as its controller keeps it, with its pods' phases."""

    job: ReplicaSet | None
    phases: tuple[str, ...]
    started: float
    ready: int = 0

    @property
    def succeeded(self) -> int:
        return self.phases.count("Succeeded")

    @property
    def failed(self) -> int:
        return self.phases.count("Failed")

    @property
    def active(self) -> int:
        return len(self.phases) - self.succeeded - self.failed


def job_run(view: LabView, d: Deployment) -> JobRun:
    job = next((rs for rs in view.plan.replicasets
                if rs.key == f"job:{d.namespace}/{d.name}"), None)
    pods = [p for p in view.plan.pods if job is not None and p.namespace == d.namespace
            and p.name in job.pods]
    return JobRun(job, tuple(pod_status(p, view.procs).phase for p in pods),
                  job.created if job and job.created else view.created,
                  sum(_ready(view, p) for p in pods))


def jobs_table(view: LabView, namespace: str | None, now: float | None = None,
               prefix: str = "") -> str:
    """kubectl get jobs: NAME STATUS COMPLETIONS DURATION AGE."""
    now = now or time.time()
    jobs = _workloads(view, "Job", namespace)
    rows = []
    for d in jobs:
        run = job_run(view, d)
        status = run.job.done if run.job and run.job.done else "Running"
        end = run.job.finished if run.job and run.job.finished else now
        rows.append([prefix + d.name, status, f"{run.succeeded}/{d.completions}",
                     human_age(end - run.started), human_age(now - run.started)])
    return _with_namespace(["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], rows,
                           namespace, [d.namespace for d in jobs])


def describe_job(view: LabView, d: Deployment, now: float | None = None) -> str:
    """kubectl describe job NAME."""
    from netlab.objects.common import ts

    now = now or time.time()
    run = job_run(view, d)
    job, started = run.job, run.started
    lines = [f"Name:             {d.name}", f"Namespace:        {d.namespace}",
             "Selector:         " + ",".join(f"{k}={v}" for k, v in d.selector),
             f"Parallelism:      {d.parallelism}", f"Completions:      {d.completions}",
             "Completion Mode:  NonIndexed", f"Start Time:       {ts(started)}"]
    if job is not None and job.done == "Complete":
        lines += [f"Completed At:     {ts(job.finished)}",
                  f"Duration:         {human_age(job.finished - started)}"]
    lines.append(f"Pods Statuses:    {run.active} Active ({run.ready} Ready) / "
                 f"{run.succeeded} Succeeded / {run.failed} Failed")
    lines += events_block(view.events.get(f"{d.namespace}/job/{d.name}", []), now,
                          "job-controller")
    return "\n".join(lines)


API = {"Deployment": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
       "Job": "batch/v1"}


def _meta(name: str, namespace: str, labels, created: float, **more) -> dict:
    from netlab.objects.common import ts

    return {"name": name, "namespace": namespace, "labels": dict(labels),
            "creationTimestamp": ts(created), **more}


def _template(raw: str, labels) -> dict:
    import json

    return json.loads(raw) if raw else {"metadata": {"labels": dict(labels)}}


def workload_object(view: LabView, d: Deployment, now: float | None = None) -> dict:
    """A Deployment, DaemonSet or Job as the apiserver returns it (spec as written, status
    as its controller keeps it)."""
    now = now or time.time()
    c = counts(view, d, now)
    spec: dict = {"selector": {"matchLabels": dict(d.selector)},
                  "template": _template(d.raw_template, d.template_labels)}
    status: dict
    if d.kind == "Deployment":
        new = next((rs for rs in sets_of(view, d) if rs.hash == template_hash(d)), None)
        spec |= {"replicas": d.replicas, "minReadySeconds": d.min_ready,
                 "revisionHistoryLimit": d.history,
                 "strategy": {"type": d.strategy, **({"rollingUpdate": {
                     "maxSurge": d.max_surge, "maxUnavailable": d.max_unavailable}}
                     if d.strategy == "RollingUpdate" else {})}}
        status = {"replicas": c.current, "updatedReplicas": c.updated,
                  "readyReplicas": c.ready, "availableReplicas": c.available,
                  "unavailableReplicas": max(0, c.current - c.available),
                  "conditions": [{"type": t, "status": s, "reason": why}
                                 for t, s, why in conditions(view, d, now)]}
        more = {"annotations": {"deployment.kubernetes.io/revision": str(new.revision)}} \
            if new else {}
    elif d.kind == "DaemonSet":
        spec["updateStrategy"] = {"type": d.strategy}
        status = {"desiredNumberScheduled": c.desired, "currentNumberScheduled": c.current,
                  "numberReady": c.ready, "updatedNumberScheduled": c.updated,
                  "numberAvailable": c.available, "numberMisscheduled": 0}
        more = {}
    else:
        run = job_run(view, d)
        spec |= {"completions": d.completions, "parallelism": d.parallelism,
                 "backoffLimit": d.backoff_limit}
        status = {"active": run.active, "succeeded": run.succeeded, "failed": run.failed}
        if run.job and run.job.done:
            status["conditions"] = [{"type": run.job.done, "status": "True"}]
        more = {}
    return {"apiVersion": API[d.kind], "kind": d.kind,
            "metadata": _meta(d.name, d.namespace, d.labels, view.created, **more),
            "spec": spec, "status": status}


def replicaset_object(view: LabView, rs: ReplicaSet) -> dict:
    pods = [p for p in view.plan.pods if p.namespace == rs.namespace and p.name in rs.pods
            and p.key not in view.terminating]
    owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": rs.owner,
              "controller": True}] if rs.owner else []
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": _meta(rs.name, rs.namespace, rs.labels, rs.created or view.created,
                              annotations={"deployment.kubernetes.io/revision":
                                           str(rs.revision)}, ownerReferences=owner),
            "spec": {"replicas": rs.replicas, "selector": {"matchLabels": dict(rs.labels)},
                     "template": _template(rs.raw_template, rs.labels)},
            "status": {"replicas": len(pods),
                       "readyReplicas": sum(_ready(view, p) for p in pods),
                       "availableReplicas": sum(_ready(view, p) for p in pods)}}

"""Deployments, ReplicaSets and DaemonSets as kubectl shows them. Pure."""

from __future__ import annotations

import time

from netlab.model import PodInfo
from netlab.objects.common import LabView, human_age, none_found, table
from netlab.objects.pods import pod_status


def deployments_table(view: LabView, namespace: str | None, now: float | None = None) -> str:
    now = now or time.time()
    plan, procs, created = view.plan, view.procs, view.created
    owners: dict[tuple[str, str], list[PodInfo]] = {}
    for pod in plan.pods:
        if pod.owner.startswith("Deployment/"):
            owners.setdefault((pod.namespace, pod.owner.split("/", 1)[1]), []).append(pod)
    headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    rows = []
    for (ns, name), pods in sorted(owners.items()):
        if namespace is not None and ns != namespace:
            continue
        ready = sum(1 for p in pods if pod_status(p, procs).ready == len(p.spec.containers))
        row = [name, f"{ready}/{len(pods)}", str(len(pods)), str(ready),
               human_age(now - created)]
        if namespace is None:
            row.insert(0, ns)
        rows.append(row)
    return table(headers, rows) if rows else none_found(namespace)

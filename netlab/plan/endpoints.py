"""Endpoints of Services: which pods back which service port. Pure.

Like the Kubernetes endpoints controller: a pod backs a service when the selector matches its
labels and it has an IP; a named targetPort resolves against each pod's container ports, so two
pods can serve one service port on different numbers; a pod without the named port is left out
of that port.
"""

from __future__ import annotations

from collections.abc import Iterable

from netlab.model import (
    EndpointAddress,
    PodInfo,
    ServiceEndpoints,
    ServiceInfo,
    ServicePort,
)


def resolve_target_port(port: ServicePort, pod: PodInfo) -> int | None:
    if isinstance(port.target_port, int):
        return port.target_port
    for container in pod.spec.containers:
        for cp in container.ports:
            if cp.name == port.target_port and cp.protocol == port.protocol:
                return cp.container_port
    return None


def selects(selector: Iterable[tuple[str, str]], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector)


def compute_endpoints(services: Iterable[ServiceInfo], pods: Iterable[PodInfo],
                      ready: dict[str, bool] | None = None) -> tuple[ServiceEndpoints, ...]:
    """Endpoints for every service with a selector. READY maps pod keys to readiness
    (default: every running pod is ready)."""
    pods = sorted(pods, key=lambda p: (p.namespace, p.name))
    out = []
    for info in services:
        svc = info.service
        if svc.selector is None:
            continue
        entries = []
        for pod in pods:
            if pod.namespace != svc.namespace or not pod.ip:
                continue
            if not selects(svc.selector, pod.label_map):
                continue
            addr = EndpointAddress(pod.ip, pod.key, pod.node,
                                   ready=True if ready is None else ready.get(pod.key, False))
            for port in svc.ports:
                number = resolve_target_port(port, pod)
                if number is not None:
                    entries.append((port.name, port.protocol, addr, number))
        out.append(ServiceEndpoints(svc.namespace, svc.name, tuple(entries)))
    return tuple(out)

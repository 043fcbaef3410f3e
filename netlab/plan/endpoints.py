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
    EndpointsManifest,
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


def manifest_endpoints(info: ServiceInfo,
                       manifests: Iterable[EndpointsManifest]) -> ServiceEndpoints:
    """A selector-less service's endpoints, from hand-written Endpoints/EndpointSlices: a
    service port takes the addresses of the endpoint port with its name and protocol."""
    svc = info.service
    entries = []
    for m in manifests:
        if m.name != svc.name or m.namespace != svc.namespace:
            continue
        for port in svc.ports:
            for name, proto, number in m.ports:
                if name == port.name and proto == port.protocol:
                    for ip, ready, node in m.addresses:
                        addr = EndpointAddress(ip, "", node, ready or svc.publish_not_ready)
                        entries.append((port.name, port.protocol, addr, number))
    return ServiceEndpoints(svc.namespace, svc.name, tuple(entries))


def compute_endpoints(services: Iterable[ServiceInfo], pods: Iterable[PodInfo],
                      ready: dict[str, bool] | None = None,
                      manifests: Iterable[EndpointsManifest] = ()) -> tuple[ServiceEndpoints, ...]:
    """Endpoints of every service. READY maps pod keys to readiness (default: every pod is
    ready); services without a selector take MANIFESTS (hand-written Endpoints)."""
    pods = sorted(pods, key=lambda p: (p.namespace, p.name))
    manifests = tuple(manifests)
    out = []
    for info in services:
        svc = info.service
        if svc.type == "ExternalName":
            continue
        if svc.selector is None:
            out.append(manifest_endpoints(info, manifests))
            continue
        entries = []
        for pod in pods:
            if pod.namespace != svc.namespace or not pod.ip:
                continue
            if not selects(svc.selector, pod.label_map):
                continue
            is_ready = True if ready is None else ready.get(pod.key, False)
            addr = EndpointAddress(pod.ip, pod.key, pod.node,
                                   ready=is_ready or svc.publish_not_ready)
            for port in svc.ports:
                number = resolve_target_port(port, pod)
                if number is not None:
                    entries.append((port.name, port.protocol, addr, number))
        out.append(ServiceEndpoints(svc.namespace, svc.name, tuple(entries)))
    return tuple(out)

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
                    for ip, ready, node, serving, terminating in m.addresses:
                        publish = svc.publish_not_ready
                        addr = EndpointAddress(ip, "", node, ready or publish,
                                               serving or publish, terminating)
                        entries.append((port.name, port.protocol, addr, number))
    return ServiceEndpoints(svc.namespace, svc.name, tuple(entries))


def compute_endpoints(services: Iterable[ServiceInfo], pods: Iterable[PodInfo],
                      ready: dict[str, bool] | None = None,
                      manifests: Iterable[EndpointsManifest] = (),
                      terminating: Iterable[PodInfo] = ()) -> tuple[ServiceEndpoints, ...]:
    """Endpoints of every service, as the EndpointSlice controller writes them. READY maps
    pod keys to readiness (default: every pod is ready); TERMINATING pods (deleted, still
    running out their grace period) are endpoints with ready false, serving as their
    readiness says, terminating true; services without a selector take MANIFESTS
    (hand-written Endpoints and EndpointSlices)."""
    terminating = list(terminating)
    leaving = {p.key for p in terminating}
    pods = list(pods)
    staying = {p.key for p in pods}
    pods += [p for p in terminating if p.key not in staying]
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
            serving = (True if ready is None else ready.get(pod.key, False)) or \
                svc.publish_not_ready
            gone = pod.key in leaving
            # never ready while terminating, unless publishNotReadyAddresses says so
            addr = EndpointAddress(pod.ip, pod.key, pod.node,
                                   ready=svc.publish_not_ready or (serving and not gone),
                                   serving=serving, terminating=gone)
            for port in svc.ports:
                number = resolve_target_port(port, pod)
                if number is not None:
                    entries.append((port.name, port.protocol, addr, number))
        out.append(ServiceEndpoints(svc.namespace, svc.name, tuple(entries)))
    return tuple(out)

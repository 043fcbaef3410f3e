"""Endpoints (v1) and EndpointSlice (discovery.k8s.io/v1), written by hand for Services
without a selector."""

from __future__ import annotations

from netlab.model import EndpointsManifest, LabSpec
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import ipv4, port_proto
from netlab.scenario.registry import Loaded, Meta, kind


def _ports(r: Report, ports: object, path: Path) -> tuple[tuple[str, str, int], ...]:
    out = []
    for i, p in enumerate(ports or []):
        number_proto = port_proto(r, p, "port", path.index(i))
        if number_proto:
            out.append((p.get("name") or "", number_proto[1], number_proto[0]))
    return tuple(out)


def _node(r: Report, node: object, path: Path, lab: LabSpec) -> str:
    if node and node not in lab.nodes:
        r.add(path, f"node '{node}' is not a node of lab '{lab.name}'")
    return str(node or "")


@kind("Endpoints", ("v1",), schema.KINDS["Endpoints"])
def load_endpoints(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    reason = validate.dns1035_label(meta.name)
    if reason:
        r.add("metadata.name", f"an Endpoints object is named after its Service: {reason}")
    for i, subset in enumerate(body.get("subsets") or []):
        sp = Path("subsets").index(i)
        ports = _ports(r, subset.get("ports"), sp.child("ports"))
        addrs = []
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for j, a in enumerate(subset.get(key) or []):
                ap = sp.child(key).index(j)
                ip = ipv4(r, a.get("ip"), ap.child("ip"))
                node = _node(r, a.get("nodeName"), ap.child("nodeName"), loaded.lab)
                if ip:
                    addrs.append((ip, ready, node, ready, False))
        loaded.endpoints.append(EndpointsManifest(meta.name, meta.namespace, ports,
                                                  tuple(addrs)))


@kind("EndpointSlice", ("discovery.k8s.io/v1",), schema.KINDS["EndpointSlice"])
def load_endpoint_slice(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    service = ((body.get("metadata") or {}).get("labels") or {}).get(
        "kubernetes.io/service-name")
    if not service:
        r.add("metadata.labels", "an EndpointSlice needs the label kubernetes.io/service-name")
    if body.get("addressType", "IPv4") != "IPv4":
        r.add("addressType", "only addressType IPv4 is supported")
    ports = _ports(r, body.get("ports"), Path("ports"))
    addrs = []
    for i, ep in enumerate(body.get("endpoints") or []):
        ep_path = Path("endpoints").index(i)
        conditions = ep.get("conditions") or {}
        # as the API defines them: ready unset means ready; serving unset means as ready
        ready = conditions.get("ready", True) is not False
        serving = conditions.get("serving", ready) is not False
        terminating = conditions.get("terminating", False) is True
        node = _node(r, ep.get("nodeName"), ep_path.child("nodeName"), loaded.lab)
        for j, ip in enumerate(ep.get("addresses") or []):
            checked = ipv4(r, ip, ep_path.child("addresses").index(j))
            if checked:
                addrs.append((checked, ready, node, serving, terminating))
    if service:
        loaded.endpoints.append(EndpointsManifest(service, meta.namespace, ports, tuple(addrs)))

"""Service (v1): ports, type, ClusterIP, external and load balancer addresses, session
affinity, traffic policies, health check node port."""

from __future__ import annotations

import ipaddress

from netlab.model import LabSpec, Service, ServicePort
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, ipv4, labels, port_proto, whole
from netlab.scenario.registry import Loaded, Meta, kind

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
SPEC = Path("spec")


@kind("Service", ("v1",), schema.KINDS["Service"], name_rule=validate.dns1035_label)
def load_service(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        r.add(SPEC, "spec is required")
        return
    before = len(r.errors)
    stype = spec.get("type", "ClusterIP")
    if stype not in SERVICE_TYPES:
        r.add(SPEC.child("type"), f"type must be one of {', '.join(SERVICE_TYPES)}, got "
                                  f"{stype!r}")
    external_name = _external_name(r, spec, stype)
    ports = _ports(r, spec, stype, loaded.lab)
    selector = spec.get("selector")
    r.check(SPEC.child("selector"), validate.labels(selector))
    cip = spec.get("clusterIP", "") or ""
    if stype == "ExternalName":
        cip = ""
    elif cip and cip != "None":
        cip = ipv4(r, cip, SPEC.child("clusterIP")) or ""
    if cip == "None" and stype != "ClusterIP":
        r.add(SPEC.child("clusterIP"), f"a {stype} service cannot be headless (clusterIP: None)")
    checked = [ipv4(r, ip, SPEC.child("externalIPs").index(i))
               for i, ip in enumerate(spec.get("externalIPs") or [])]
    external_ips = tuple(ip for ip in checked if ip)
    lb_ips = _lb_ips(r, body, spec) if stype == "LoadBalancer" else ()
    ranges = []
    for i, cidr in enumerate(spec.get("loadBalancerSourceRanges") or []):
        try:  # kube-proxy trims each entry
            ranges.append(str(ipaddress.IPv4Network(str(cidr).strip(), strict=False)))
        except ValueError:
            r.add(SPEC.child("loadBalancerSourceRanges").index(i),
                  f"{cidr!r} is not an IPv4 CIDR")
    affinity, timeout = _affinity(r, spec)
    etp, itp = _policies(r, spec, stype, external_ips)
    hc = _health_check_port(r, spec, stype, etp, loaded.lab)
    publish = boolean(r, spec.get("publishNotReadyAddresses", False),
                      SPEC.child("publishNotReadyAddresses"), False)
    allocate = boolean(r, spec.get("allocateLoadBalancerNodePorts", True),
                       SPEC.child("allocateLoadBalancerNodePorts"), True)
    if "allocateLoadBalancerNodePorts" in spec and stype != "LoadBalancer":
        r.add(SPEC.child("allocateLoadBalancerNodePorts"), "may only be set on LoadBalancer "
                                                           "services")
    _ip_families(r, spec)
    own = labels(r, Path("metadata", "labels"), (body.get("metadata") or {}).get("labels"))
    notes = (body.get("metadata") or {}).get("annotations") or {}
    notes = tuple(sorted((str(k), str(v)) for k, v in notes.items())) \
        if isinstance(notes, dict) else ()
    lb_class = spec.get("loadBalancerClass") or ""
    if lb_class and stype != "LoadBalancer":
        r.add(SPEC.child("loadBalancerClass"), "may only be used when `type` is "
                                               "'LoadBalancer'")
    if len(r.errors) > before:
        return
    loaded.services.append(Service(
        meta.name, meta.namespace, tuple(ports),
        tuple(sorted(selector.items())) if selector else None, stype, cip, own,
        external_ips=external_ips, load_balancer_ips=lb_ips,
        load_balancer_source_ranges=tuple(ranges), session_affinity=affinity,
        affinity_timeout=timeout, external_traffic_policy=etp, internal_traffic_policy=itp,
        health_check_node_port=hc, external_name=str(external_name).rstrip("."),
        publish_not_ready=publish, allocate_lb_node_ports=allocate, annotations=notes,
        lb_class=str(lb_class), lb_ip=str(spec.get("loadBalancerIP") or "")
        if stype == "LoadBalancer" else ""))


FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")


def _ip_families(r: Report, spec: dict) -> None:
    """Labs are single-stack IPv4: IPv4 (or a preference for dual stack) is accepted, IPv6
    refused until netlab supports it."""
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in FAMILY_POLICIES:
        r.add(SPEC.child("ipFamilyPolicy"), f"ipFamilyPolicy must be one of "
                                            f"{', '.join(FAMILY_POLICIES)}, got {policy!r}")
    elif policy == "RequireDualStack":
        r.add(SPEC.child("ipFamilyPolicy"), "RequireDualStack needs IPv6, which netlab labs do "
                                            "not have yet (they are single-stack IPv4)")
    families = spec.get("ipFamilies")
    if families is None:
        return
    if not isinstance(families, list) or not families or \
            any(f not in ("IPv4", "IPv6") for f in families) or len(set(families)) != \
            len(families):
        r.add(SPEC.child("ipFamilies"), f"ipFamilies must list IPv4 and/or IPv6 once each, got "
                                        f"{families!r}")
    elif families[0] == "IPv6" or (len(families) > 1 and policy in (None, "SingleStack")):
        r.add(SPEC.child("ipFamilies"), "IPv6 is not supported yet: netlab labs are "
                                        "single-stack IPv4 (use ipFamilies: [IPv4])")


def _external_name(r: Report, spec: dict, stype: str) -> str:
    if stype != "ExternalName":
        return ""
    external_name = spec.get("externalName") or ""
    reason = validate.dns_subdomain(str(external_name).rstrip("."))
    if reason:
        r.add(SPEC.child("externalName"), f"externalName {reason}")
    if spec.get("clusterIP") not in (None, "", "None"):
        r.add(SPEC.child("clusterIP"), "an ExternalName service has no clusterIP")
    return external_name


def _ports(r: Report, spec: dict, stype: str, lab: LabSpec) -> list[ServicePort]:
    raw = spec.get("ports") or []
    if not isinstance(raw, list) or (not raw and stype != "ExternalName"):
        r.add(SPEC.child("ports"), "at least one port is required")
        return []
    low, high = lab.node_port_range
    ports: list[ServicePort] = []
    for i, p in enumerate(raw):
        path = SPEC.child("ports").index(i)
        number_proto = port_proto(r, p, "port", path)
        if number_proto is None:
            continue
        pname = p.get("name", "")
        if len(raw) > 1 and not pname:
            r.add(path.child("name"), "ports must be named when a service has more than one")
        if pname:  # a DNS label (63 characters); only container port names stop at 15
            r.check(path.child("name"), validate.dns_label(pname))
        target = p.get("targetPort", p["port"])
        r.check(path.child("targetPort"), validate.port_name(target) if isinstance(target, str)
                else validate.port_number(target))
        node_port = p.get("nodePort", 0) or 0
        if node_port:
            if stype not in ("NodePort", "LoadBalancer"):
                r.add(path.child("nodePort"), "nodePort may only be set on NodePort and "
                                              f"LoadBalancer services, not {stype}")
            elif isinstance(node_port, bool) or not isinstance(node_port, int) or \
                    not low <= node_port <= high:
                r.add(path.child("nodePort"), f"nodePort {node_port} is outside the node port "
                                              f"range {low}-{high}")
        ports.append(ServicePort(number_proto[0], target, number_proto[1], pname, node_port))
    keys = [(p.port, p.protocol) for p in ports]
    if len(set(keys)) != len(keys):
        r.add(SPEC.child("ports"), "duplicate port and protocol")
    if len({p.name for p in ports}) != len(ports):
        r.add(SPEC.child("ports"), "duplicate port name")
    return ports


def _lb_ips(r: Report, body: dict, spec: dict) -> tuple[str, ...]:
    """spec.loadBalancerIP and the addresses status.loadBalancer.ingress announces."""
    out: list[str] = []
    if spec.get("loadBalancerIP"):
        ip = ipv4(r, spec["loadBalancerIP"], SPEC.child("loadBalancerIP"))
        if ip:
            out.append(ip)
    status = body.get("status") or {}
    ingress = ((status.get("loadBalancer") or {}).get("ingress") or []) \
        if isinstance(status, dict) else []
    for i, ing in enumerate(ingress):
        if isinstance(ing, dict) and ing.get("ip"):
            ip = ipv4(r, ing["ip"], Path("status", "loadBalancer", "ingress").index(i)
                      .child("ip"))
            if ip and ip not in out:
                out.append(ip)
    return tuple(out)


def _affinity(r: Report, spec: dict) -> tuple[str, int]:
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("None", "ClientIP"):
        r.add(SPEC.child("sessionAffinity"), "sessionAffinity must be None or ClientIP, got "
                                             f"{affinity!r}")
    conf = spec.get("sessionAffinityConfig") or {}
    if isinstance(conf, dict) and isinstance(conf.get("clientIP"), dict):
        return affinity, whole(r, conf["clientIP"].get("timeoutSeconds", 10800),
                               SPEC.child("sessionAffinityConfig", "clientIP",
                                          "timeoutSeconds"), 1, 86400,
                               "timeoutSeconds must be from 1 to 86400", 10800)
    return affinity, 10800


def _policies(r: Report, spec: dict, stype: str,
              external_ips: tuple[str, ...]) -> tuple[str, str]:
    etp = spec.get("externalTrafficPolicy") or "Cluster"
    itp = spec.get("internalTrafficPolicy") or "Cluster"
    for name, value in (("externalTrafficPolicy", etp), ("internalTrafficPolicy", itp)):
        if value not in ("Cluster", "Local"):
            r.add(SPEC.child(name), f"{name} must be Cluster or Local, got {value!r}")
    if spec.get("externalTrafficPolicy") and stype not in ("NodePort", "LoadBalancer") \
            and not external_ips:
        r.add(SPEC.child("externalTrafficPolicy"), "externalTrafficPolicy may only be set on "
                                                   "externally reachable services (NodePort, "
                                                   "LoadBalancer, externalIPs)")
    return etp, itp


def _health_check_port(r: Report, spec: dict, stype: str, etp: str, lab: LabSpec) -> int:
    hc = spec.get("healthCheckNodePort", 0) or 0
    if not hc:
        return 0
    low, high = lab.node_port_range
    path = SPEC.child("healthCheckNodePort")
    if stype != "LoadBalancer":
        r.add(path, "healthCheckNodePort needs type LoadBalancer with externalTrafficPolicy "
                    "Local")
    elif etp != "Local":  # kube-proxy serves health checks for Local services only
        return 0
    elif isinstance(hc, bool) or not isinstance(hc, int) or not low <= hc <= high:
        r.add(path, f"healthCheckNodePort {hc} is outside the node port range {low}-{high}")
    return hc

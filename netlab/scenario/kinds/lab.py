"""The Lab document (apiVersion netlab/v1): nodes, clients, proxy mode, routing, CIDRs, DNS,
images, IPVS settings. Loaded before every other document, which are checked against it."""

from __future__ import annotations

import ipaddress

from netlab.errors import ScenarioError, ScenarioErrors
from netlab.model import (
    BUILTIN_APPS,
    IPVS_SCHEDULERS,
    PROXY_MODES,
    ROUTING_MODES,
    ClientSpec,
    ImageApp,
    LabSpec,
)
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, whole

SPEC = Path("spec")
MAX_NAME = 40  # the lab name is part of every namespace name
# Ranges that cannot carry a lab's traffic: a lab CIDR must not touch them.
UNUSABLE = ((ipaddress.ip_network("0.0.0.0/8"), "'this network'"),
            (ipaddress.ip_network("127.0.0.0/8"), "loopback"),
            (ipaddress.ip_network("169.254.0.0/16"), "link-local"),
            (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
            (ipaddress.ip_network("240.0.0.0/4"), "reserved, and broadcast"))


def default_lab(name: str, first_file: str) -> LabSpec:
    """The Lab of manifests that bring none (``--name``)."""
    if not name:
        raise ScenarioError("no Lab document (apiVersion: netlab/v1, kind: Lab) and no --name",
                            file=first_file)
    reason = validate.dns_label(name)
    if reason:
        raise ScenarioError(f"lab name {reason}", field="--name")
    return LabSpec(name=name)


def load_lab(body: dict, file: str, index: int) -> LabSpec:
    """The Lab document as a LabSpec; every error it has at once (ScenarioErrors)."""
    meta = body.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    r = Report(file, index, f"Lab/{name}" if isinstance(name, str) and name else "Lab")
    if body.get("apiVersion") != "netlab/v1":
        r.add("apiVersion", f"apiVersion must be netlab/v1, got {body.get('apiVersion')!r}")
    for bad in schema.unknown_fields({k: v for k, v in body.items()
                                      if k not in ("apiVersion", "kind")}, schema.LAB):
        r.add(bad, f"unknown field {bad!r}")
    lab = None
    if r.check("metadata.name", _name_reason(name)):
        spec = body.get("spec") or {}
        if isinstance(spec, dict):
            lab = _spec(r, name, spec)
        else:
            r.add(SPEC, "must be a mapping")
    if r.errors or lab is None:
        raise ScenarioErrors(r.errors)
    return lab


def _name_reason(name: object) -> str | None:
    reason = validate.dns_label(name)
    if reason:
        return f"lab name {reason}"
    if len(str(name)) > MAX_NAME:
        return f"lab name '{name}' is {len(name)} characters, the limit is {MAX_NAME}"
    return None


def _spec(r: Report, name: str, spec: dict) -> LabSpec:
    d = LabSpec(name=name)
    nodes = _names(r, spec.get("nodes", list(d.nodes)), SPEC.child("nodes"), allow_empty=False) \
        or d.nodes
    clients, client_apps = _clients(r, spec.get("clients", []))
    for c in clients:
        if c in nodes:
            r.add(SPEC.child("clients"), f"'{c}' is both a node and a client")
    proxy = r.value(SPEC.child("proxyMode"), spec.get("proxyMode", d.proxy_mode),
                    lambda v: v in PROXY_MODES, f"proxyMode must be one of "
                    f"{', '.join(PROXY_MODES)}, got {spec.get('proxyMode')!r}", d.proxy_mode)
    routing = r.value(SPEC.child("routing"), spec.get("routing", d.routing),
                      lambda v: v in ROUTING_MODES, f"routing must be one of "
                      f"{', '.join(ROUTING_MODES)}, got {spec.get('routing')!r}", d.routing)
    cidrs = {key: _cidr(r, spec.get(key, default), SPEC.child(key)) for key, default in
             (("podCIDR", d.pod_cidr), ("serviceCIDR", d.service_cidr),
              ("nodeCIDR", d.node_cidr))}
    keys = list(cidrs)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if cidrs[a] and cidrs[b] and cidrs[a].overlaps(cidrs[b]):
                r.add(SPEC.child(b), f"{a} {cidrs[a]} overlaps {b} {cidrs[b]}")
    mask = whole(r, spec.get("nodeCIDRMaskSize", d.node_mask), SPEC.child("nodeCIDRMaskSize"),
                 16, 28, "nodeCIDRMaskSize must be a whole number from 16 to 28, got "
                 f"{spec.get('nodeCIDRMaskSize')!r}", d.node_mask)
    pod, svc, lan = cidrs["podCIDR"], cidrs["serviceCIDR"], cidrs["nodeCIDR"]
    if pod and (pod.prefixlen > mask or 2 ** (mask - pod.prefixlen) < len(nodes)):
        r.add(SPEC.child("podCIDR"), f"podCIDR {pod} is too small: each of the {len(nodes)} "
                                     f"nodes needs a /{mask}")
    if svc and svc.prefixlen > 28:
        r.add(SPEC.child("serviceCIDR"), f"serviceCIDR {svc} is too small (at most /28)")
    if lan and lan.num_addresses - 3 < len(nodes) + len(clients):
        r.add(SPEC.child("nodeCIDR"), f"nodeCIDR {lan} has no room for "
                                      f"{len(nodes) + len(clients)} hosts")
    domain = spec.get("clusterDomain", d.cluster_domain)
    r.check(SPEC.child("clusterDomain"), validate.dns_subdomain(domain))
    max_pods = whole(r, spec.get("maxPods", d.max_pods), SPEC.child("maxPods"), 1, 60000,
                     f"maxPods must be a whole number from 1 to 60000, got "
                     f"{spec.get('maxPods')!r}", d.max_pods)
    scheduler, strict_arp, vip_filter = _ipvs(r, spec.get("ipvs") or {}, d)
    outside = _outside_names(r, spec.get("outsideNames") or {}, clients)
    return LabSpec(
        name=name, nodes=nodes, clients=clients, proxy_mode=proxy, routing=routing,
        pod_cidr=str(pod or d.pod_cidr), node_mask=mask, service_cidr=str(svc or d.service_cidr),
        node_cidr=str(lan or d.node_cidr), cluster_domain=domain, max_pods=max_pods,
        images=_images(r, spec.get("images") or {}),
        node_port_range=_port_range(r, spec.get("nodePortRange", "30000-32767")),
        client_apps=client_apps,
        cluster_dns=boolean(r, spec.get("clusterDNS", True), SPEC.child("clusterDNS"), True),
        ipvs_scheduler=scheduler, strict_arp=strict_arp, ipvs_vip_filter=vip_filter,
        outside_names=outside, sync_period=_duration(r, spec.get("syncPeriod", "5s"),
                                                    SPEC.child("syncPeriod"), 1, 3600),
        control_plane_taint=boolean(r, spec.get("controlPlaneTaint", False),
                                    SPEC.child("controlPlaneTaint"), False),
        **_load_balancer(r, spec.get("loadBalancer") or {}),
        **_ingress(r, spec.get("ingress") or {}))


def _duration(r: Report, value: object, path: Path, lowest: int, highest: int) -> float:
    """A duration as kube-proxy's configuration writes it ("5s", "1m", "1m30s"), in
    seconds, from LOWEST to HIGHEST."""
    import re

    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value) \
        if isinstance(value, str) and value else None
    seconds = int(m[1] or 0) * 3600 + int(m[2] or 0) * 60 + int(m[3] or 0) if m else -1
    if not lowest <= seconds <= highest:
        r.add(path, f"must be a duration from {lowest}s to {highest // 60}m (such as 5s or "
                    f"1m), got {value!r}")
        return 5.0
    return float(seconds)


def _names(r: Report, value: object, path: Path, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        r.add(path, "must be a list of names" + ("" if allow_empty else " (at least one)"))
        return ()
    good = [item for i, item in enumerate(value) if r.check(path.index(i),
                                                              validate.dns_label(item))]
    dups = sorted({v for v in good if good.count(v) > 1})
    if dups:
        r.add(path, f"duplicate name '{dups[0]}'")
    return tuple(dict.fromkeys(good))


def _clients(r: Report, value: object) -> tuple[tuple[str, ...], tuple[ClientSpec, ...]]:
    """clients: [laptop, {name: origin, app: web, ports: [80]}]"""
    path = SPEC.child("clients")
    if not isinstance(value, list):
        r.add(path, "must be a list of names or {name, app, ports}")
        return (), ()
    names, apps = [], []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            if set(item) - {"name", "app", "ports"}:
                r.add(path.index(i), "a client is a name or {name, app: web, ports: [..]}")
                continue
            app = item.get("app", "web")
            if app != "web":
                r.add(path.index(i), f"a client can run the web app only, got {app!r}")
            ports = item.get("ports") or [80]
            for p in ports:
                r.check(path.index(i).child("ports"), validate.port_number(p))
            names.append(item.get("name"))
            apps.append(ClientSpec(str(item.get("name")), app, tuple(ports)))
        else:
            names.append(item)
    return _names(r, names, path, allow_empty=True), tuple(apps)


def _port_range(r: Report, value: object) -> tuple[int, int]:
    """kube-apiserver's --service-node-port-range syntax: "30000-32767"."""
    path = SPEC.child("nodePortRange")
    try:
        low, high = (int(x) for x in str(value).split("-", 1))
    except ValueError:
        r.add(path, f"must look like 30000-32767, got {value!r}")
        return 30000, 32767
    if not 1 <= low <= high <= 65535 or high - low < 1:
        r.add(path, f"{value!r} is not a port range")
        return 30000, 32767
    return low, high


def _cidr(r: Report, value: object, path: Path) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        r.add(path, f"not a valid IPv4 CIDR: {exc}")
        return None
    if not isinstance(net, ipaddress.IPv4Network):
        r.add(path, "only IPv4 is supported")
        return None
    for bad, what in UNUSABLE:
        if net.overlaps(bad):
            r.add(path, f"{net} overlaps {bad} ({what}), which cannot carry a lab's traffic; "
                        "choose a private range such as 10.0.0.0/8 or 172.16.0.0/12")
            return None
    return net


def _images(r: Report, value: object) -> tuple[tuple[str, ImageApp], ...]:
    if not isinstance(value, dict):
        r.add(SPEC.child("images"), "must map image names to {app, ports}")
        return ()
    out = []
    for image, conf in value.items():
        path = SPEC.child("images").key(image)
        if isinstance(conf, str):
            conf = {"app": conf}
        if not isinstance(conf, dict) or set(conf) - {"app", "ports"}:
            r.add(path, "must be {app: web|idle, ports: [..]}")
            continue
        app = conf.get("app", "web")
        if app not in BUILTIN_APPS:
            r.add(path, f"app must be one of {', '.join(BUILTIN_APPS)}, got {app!r}")
            continue
        ports = conf.get("ports") or []
        if all(r.check(path.child("ports"), validate.port_number(p)) for p in ports):
            out.append((str(image), ImageApp(app, tuple(ports))))
    return tuple(out)


def _ipvs(r: Report, ipvs: object, d: LabSpec) -> tuple[str, bool, bool]:
    path = SPEC.child("ipvs")
    if not isinstance(ipvs, dict):
        r.add(path, "must be a mapping")
        return d.ipvs_scheduler, False, False
    scheduler = r.value(path.child("scheduler"), ipvs.get("scheduler", "rr"),
                        lambda v: v in IPVS_SCHEDULERS, "ipvs.scheduler must be one of "
                        f"{', '.join(IPVS_SCHEDULERS)}, got {ipvs.get('scheduler')!r}", "rr")
    strict = boolean(r, ipvs.get("strictARP", False), path.child("strictARP"), False)
    vip = boolean(r, ipvs.get("vipFilter", False), path.child("vipFilter"), False)
    return scheduler, strict, vip


def _outside_names(r: Report, outside: object,
                   clients: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    path = SPEC.child("outsideNames")
    if not isinstance(outside, dict):
        r.add(path, "must map DNS names to client hosts")
        return ()
    out = []
    for dns_name, client in outside.items():
        p = path.key(dns_name)
        ok = r.check(p, validate.dns_subdomain(str(dns_name).rstrip(".")))
        if client not in clients:
            r.add(p, f"'{client}' is not a client host of the lab")
        elif ok:
            out.append((str(dns_name).rstrip("."), client))
    return tuple(sorted(out))


LB_PROVIDERS = ("auto", "metallb", "servicelb", "none")


def _load_balancer(r: Report, lb: object) -> dict:
    """loadBalancer: {provider, clientRoutes}."""
    path = SPEC.child("loadBalancer")
    if not isinstance(lb, dict):
        r.add(path, "must be a mapping")
        return {}
    provider = lb.get("provider", "auto")
    if provider not in LB_PROVIDERS:
        r.add(path.child("provider"), f"provider must be one of {', '.join(LB_PROVIDERS)}, "
                                      f"got {provider!r}")
        provider = "auto"
    routes = []
    for i, cidr in enumerate(lb.get("clientRoutes") or []):
        try:
            routes.append(str(ipaddress.IPv4Network(str(cidr), strict=False)))
        except ValueError:
            r.add(path.child("clientRoutes").index(i), f"{cidr!r} is not an IPv4 CIDR")
    return {"lb_provider": provider, "lb_routes": tuple(routes)}


INGRESS_CONTROLLERS = ("auto", "nginx", "none")
INGRESS_SERVICES = ("LoadBalancer", "NodePort", "hostNetwork")


def _ingress(r: Report, ing: object) -> dict:
    """ingress: {controller, service}."""
    path = SPEC.child("ingress")
    if not isinstance(ing, dict):
        r.add(path, "must be a mapping")
        return {}
    controller = r.value(path.child("controller"), ing.get("controller", "auto"),
                         lambda v: v in INGRESS_CONTROLLERS, "controller must be one of "
                         f"{', '.join(INGRESS_CONTROLLERS)}, got {ing.get('controller')!r}",
                         "auto")
    service = r.value(path.child("service"), ing.get("service", "LoadBalancer"),
                      lambda v: v in INGRESS_SERVICES, "service must be one of "
                      f"{', '.join(INGRESS_SERVICES)}, got {ing.get('service')!r}",
                      "LoadBalancer")
    return {"ingress_controller": controller, "ingress_service": service}

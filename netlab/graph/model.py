"""The lab as a picture's model: boxes and arrows decided purely from the lab's plan, so the
drawing (DOT, then Graphviz) and ``netlab graph -o json`` say the same thing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from netlab.ingress.routes import controller_pods
from netlab.model import LabPlan


@dataclass(frozen=True)
class Box:
    id: str
    kind: str  # lan, node, pod, client, service, ingress
    label: tuple[str, ...]  # lines
    within: str = ""  # the box it is drawn inside (a pod inside its node)


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    kind: str  # link, route, endpoint, announce, ingress
    label: str = ""
    dashed: bool = False  # an endpoint that is not ready


@dataclass
class Graph:
    lab: str
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    highlight: set[str] = field(default_factory=set)  # box ids on a traced path

    def to_json(self) -> dict:
        return {"lab": self.lab, "boxes": [dataclasses.asdict(b) for b in self.boxes],
                "arrows": [dataclasses.asdict(a) for a in self.arrows],
                "highlight": sorted(self.highlight)}


def build(plan: LabPlan, announcers: dict[str, str] | None = None) -> Graph:
    """The lab network, nodes with their bridge and pods, clients, the routes between nodes,
    Services with their addresses and arrows to their endpoints, who announces each
    LoadBalancer address (ANNOUNCERS: address -> node), Ingresses and their backends."""
    g = Graph(plan.spec.name)
    spec = plan.spec
    g.boxes.append(Box("lan", "lan", (f"lab network {plan.lan_bridge}", spec.node_cidr,
                                      f"gateway {plan.lan_gateway}")))
    for n in plan.nodes:
        g.boxes.append(Box(f"node/{n.name}", "node", (
            n.name, f"{n.lan_ip} (eth0)", f"cni0 {n.gateway}", f"pods {n.pod_cidr}",
            f"kube-proxy: {spec.proxy_mode}")))
        g.arrows.append(Arrow(f"node/{n.name}", "lan", "link", n.lan_veth))
    for c in plan.clients:
        g.boxes.append(Box(f"client/{c.name}", "client", (f"client {c.name}", c.lan_ip)))
        g.arrows.append(Arrow(f"client/{c.name}", "lan", "link", c.lan_veth))
    for p in plan.pods:
        host = p.spec.host_network
        g.boxes.append(Box(f"pod/{p.key}", "pod", (
            p.name if p.namespace == "default" else p.key,
            f"{p.ip}" + (" (hostNetwork)" if host else ""),
            *([f"veth {p.host_veth}"] if p.host_veth else [])), within=f"node/{p.node}"))
    for a in plan.nodes:
        for b in plan.nodes:
            if a.name != b.name:
                via = "VXLAN flannel.1" if spec.routing == "vxlan" else f"via {b.lan_ip}"
                g.arrows.append(Arrow(f"node/{a.name}", f"node/{b.name}", "route",
                                      f"{b.pod_cidr} {via}"))
    pod_by_ip = {p.ip: p for p in plan.pods}
    eps = {(e.namespace, e.name): e for e in plan.endpoints}
    for s in plan.services:
        svc = s.service
        lines = [f"svc {s.key}"]
        if svc.type != "ClusterIP":
            lines.append(svc.type)
        if s.cluster_ip and s.cluster_ip != "None":
            lines.append(f"ClusterIP {s.cluster_ip}")
        elif s.cluster_ip == "None":
            lines.append("headless")
        ports = ", ".join(f"{p.port}" + (f":{p.node_port}" if p.node_port else "") +
                          f"/{p.protocol}" for p in svc.ports)
        if ports:
            lines.append(ports)
        lines += [f"LB {ip}" for ip in svc.load_balancer_ips]
        lines += [f"external {ip}" for ip in svc.external_ips]
        if svc.external_name:
            lines.append(f"-> {svc.external_name}")
        g.boxes.append(Box(f"svc/{s.key}", "service", tuple(lines)))
        seen = set()
        for _name, _proto, addr, port in (eps[(svc.namespace, svc.name)].entries
                                          if (svc.namespace, svc.name) in eps else ()):
            pod = pod_by_ip.get(addr.ip)
            target = f"pod/{pod.key}" if pod else f"addr/{addr.ip}"
            if (target, port) in seen:
                continue
            seen.add((target, port))
            if not pod and not any(b.id == target for b in g.boxes):
                g.boxes.append(Box(target, "address", (addr.ip,)))
            g.arrows.append(Arrow(f"svc/{s.key}", target, "endpoint", f":{port}",
                                  dashed=not addr.is_serving))
        for ip in svc.load_balancer_ips:
            node = (announcers or {}).get(ip)
            if node:
                g.arrows.append(Arrow(f"node/{node}", f"svc/{s.key}", "announce",
                                      f"ARP {ip}"))
    controllers = controller_pods(plan, "nginx")
    for ing in plan.ingresses:
        iid = f"ingress/{ing.namespace}/{ing.name}"
        g.boxes.append(Box(iid, "ingress", (f"ingress {ing.namespace}/{ing.name}",
                                            *(r.host or "*" for r in ing.rules))))
        for c in controllers:  # nginx in the controller's pod routes by the Ingress
            g.arrows.append(Arrow(f"pod/{c.key}", iid, "ingress", "nginx routes by"))
        for rule in ing.rules:
            for path in rule.paths:
                g.arrows.append(Arrow(iid, f"svc/{ing.namespace}/{path.backend.service}",
                                      "ingress", f"{rule.host or '*'}{path.path}"))
    return g

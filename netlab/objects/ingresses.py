"""Ingresses and IngressClasses as kubectl shows them: get ingress (CLASS, HOSTS, ADDRESS,
PORTS), describe ingress (rules with their backends and endpoint addresses, Address from the
controller's Service), the objects for -o json|yaml. Pure."""

from __future__ import annotations

from netlab.ingress import routes as ingress_routes
from netlab.ingress.status import ingress_key
from netlab.model import Ingress, IngressBackend, LabPlan
from netlab.objects.common import LabView, events_block, lab_age, none_found, table, ts


def serving(plan: LabPlan, ing: Ingress) -> list[str]:
    """The flavours of the ingress controllers running in the lab that serve ING."""
    return [f for f in sorted(ingress_routes.running(plan.spec, plan.workloads) - {"gateway"})
            if ingress_routes.claims(plan, ing, f)]


def address(plan: LabPlan, ing: Ingress) -> list[str]:
    """What ingress-nginx writes into the Ingress's status: its Service's load balancer
    addresses (--publish-service), else the addresses of the nodes its pods run on.
    Traefik 1.7 writes none."""
    if "nginx" not in serving(plan, ing):
        return []
    ns, name = ingress_routes.NGINX_NAMESPACE, ingress_routes.NGINX_NAME
    svc = next((i.service for i in plan.services if i.service.namespace == ns
                and i.service.name == name), None)
    if svc is not None and svc.type == "LoadBalancer":
        return list(svc.load_balancer_ips)
    nodes = {p.node for p in plan.pods if p.namespace == ns and p.name.startswith(name)}
    return [n.lan_ip for n in plan.nodes if n.name in nodes]


def _hosts(ing: Ingress) -> str:
    hosts = [r.host for r in ing.rules if r.host]
    return ",".join(hosts) if hosts else "*"


def _class(ing: Ingress, plan: LabPlan) -> str:
    return ingress_routes.class_of(plan.ingress_classes, ing) or "<none>"


def ingresses_table(view: LabView, namespace: str | None) -> str:
    plan = view.plan
    items = [i for i in plan.ingresses if namespace is None or i.namespace == namespace]
    if not items:
        return none_found(namespace)
    head = (["NAMESPACE"] if namespace is None else []) + \
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    rows = [([i.namespace] if namespace is None else []) +
            [i.name, _class(i, plan), _hosts(i), ",".join(address(plan, i)),
             "80, 443" if i.tls else "80", lab_age(view)]
            for i in items]
    return table(head, rows)


def _backend(plan: LabPlan, namespace: str, b: IngressBackend) -> str:
    up = ingress_routes.upstream(plan, namespace, b)
    if up.missing:
        return f"{b.service}:{b.port} (<error: {up.missing}>)"
    return f"{b.service}:{b.port} ({','.join(f'{ip}:{p}' for ip, p in up.servers)})"


def describe_ingress(view: LabView, ing: Ingress, now: float) -> str:
    plan = view.plan
    who = serving(plan, ing)
    cls = _class(ing, plan)
    if not who:
        cls += " (no ingress controller in this lab serves it)"
    default = _backend(plan, ing.namespace, ing.default_backend) if ing.default_backend \
        else "<default>"
    lines = [f"Name:             {ing.name}", "Labels:           <none>",
             f"Namespace:        {ing.namespace}",
             f"Address:          {','.join(address(plan, ing))}",
             f"Ingress Class:    {cls}", f"Default backend:  {default}"]
    if ing.tls:
        lines.append("TLS:")
        lines += [f"  {secret or '<default>'} terminates {','.join(hosts)}"
                  for hosts, secret in ing.tls]
    rows = []
    for rule in ing.rules:
        rows.append([rule.host or "*", "", ""])
        rows += [["", p.path or "/", _backend(plan, ing.namespace, p.backend)]
                 for p in rule.paths]
    lines.append("Rules:")
    lines += ["  " + line for line in table(["Host", "Path", "Backends"],
                                            [["----", "----", "--------"], *rows]).splitlines()]
    notes = [f"{k}: {v}" for k, v in ing.annotations]
    lines.append("Annotations:      " + ("\n                  ".join(notes) or "<none>"))
    lines += events_block(view.events.get(ingress_key(ing.key), []), now,
                          "nginx-ingress-controller")
    return "\n".join(lines)


def ingress_object(view: LabView, ing: Ingress) -> dict:
    def backend(b: IngressBackend) -> dict:
        port = {"number": b.port} if isinstance(b.port, int) else {"name": b.port}
        return {"service": {"name": b.service, "port": port}}

    spec: dict = {}
    if ing.class_name:
        spec["ingressClassName"] = ing.class_name
    if ing.default_backend:
        spec["defaultBackend"] = backend(ing.default_backend)
    if ing.rules:
        spec["rules"] = [{**({"host": r.host} if r.host else {}), "http": {"paths": [
            {"path": p.path or "/", "pathType": p.path_type, "backend": backend(p.backend)}
            for p in r.paths]}} for r in ing.rules]
    if ing.tls:
        spec["tls"] = [{"hosts": list(h), **({"secretName": s} if s else {})}
                       for h, s in ing.tls]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": ing.name, "namespace": ing.namespace,
                         "creationTimestamp": ts(view.created),
                         **({"annotations": dict(ing.annotations)} if ing.annotations else {})},
            "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": ip}
                                                    for ip in address(view.plan, ing)]}}}


def ingressclasses_table(view: LabView) -> str:
    classes = view.plan.ingress_classes
    if not classes:
        return none_found(None)
    return table(["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
                 [[c.name, c.controller, "<none>", lab_age(view)]
                  for c in classes])

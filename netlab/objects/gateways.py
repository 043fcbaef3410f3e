"""The Gateway API's objects as kubectl shows them: get gatewayclass|gateway|httproute, and
describe gateway|httproute with the statuses the controller writes (Accepted, Programmed,
ResolvedRefs, attached routes per listener). Pure."""

from __future__ import annotations

from netlab.ingress.gateway import CONTROLLER, gateway_plan, resource_name, served
from netlab.model import Gateway, HTTPRoute, LabPlan
from netlab.objects.common import LabView, lab_age, none_found, table


def gateway_address(plan: LabPlan, gw: Gateway) -> list[str]:
    """The load balancer addresses of the Service that serves GW."""
    svc = next((i.service for i in plan.services if i.service.namespace == gw.namespace
                and i.service.name == resource_name(gw)), None)
    return list(svc.load_balancer_ips) if svc is not None and served(plan, gw) else []


def gatewayclasses_table(view: LabView) -> str:
    classes = view.plan.gateway_classes
    if not classes:
        return none_found(None)
    return table(["NAME", "CONTROLLER", "ACCEPTED", "AGE"],
                 [[c.name, c.controller, str(c.controller == CONTROLLER), lab_age(view)]
                  for c in classes])


def gateways_table(view: LabView, namespace: str | None) -> str:
    plan = view.plan
    items = [g for g in plan.gateways if namespace is None or g.namespace == namespace]
    if not items:
        return none_found(namespace)
    head = (["NAMESPACE"] if namespace is None else []) + \
        ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    rows = []
    for g in items:
        addr = gateway_address(plan, g)
        rows.append(([g.namespace] if namespace is None else []) +
                    [g.name, g.class_name, ",".join(addr), str(bool(addr)), lab_age(view)])
    return table(head, rows)


def httproutes_table(view: LabView, namespace: str | None) -> str:
    items = [r for r in view.plan.http_routes if namespace is None or r.namespace == namespace]
    if not items:
        return none_found(namespace)
    head = (["NAMESPACE"] if namespace is None else []) + ["NAME", "HOSTNAMES", "AGE"]
    return table(head, [([r.namespace] if namespace is None else []) +
                        [r.name, str(list(r.hostnames)), lab_age(view)] for r in items])


def _conditions(conds: list[tuple[str, str, str, str]], indent: str) -> list[str]:
    out = [f"{indent}Conditions:"]
    for type_, status, reason, message in conds:
        out += [f"{indent}  Message:  {message}", f"{indent}  Reason:   {reason}",
                f"{indent}  Status:   {status}", f"{indent}  Type:     {type_}"]
    return out


def describe_gateway(view: LabView, gw: Gateway) -> str:
    plan = view.plan
    gp = gateway_plan(plan, gw)
    addr = gateway_address(plan, gw)
    conds = list(gp.gateway_status)
    if served(plan, gw):
        conds.append(("Programmed", str(bool(addr)), "Programmed" if addr else "AddressNotAssigned",
                      f"served by Deployment and Service {resource_name(gw)}" if addr else
                      f"Service {resource_name(gw)} has no load balancer address yet"))
    lines = [f"Name:         {gw.name}", f"Namespace:    {gw.namespace}",
             "API Version:  gateway.networking.k8s.io/v1", "Kind:         Gateway", "Spec:",
             f"  Gateway Class Name:  {gw.class_name}", "  Listeners:"]
    for lst in gw.listeners:
        lines += [f"    Name:      {lst.name}", f"    Port:      {lst.port}",
                  f"    Protocol:  {lst.protocol}",
                  f"    Hostname:  {lst.hostname or '<any>'}",
                  f"    Allowed Routes:  namespaces from {lst.from_namespaces}"]
    lines += ["Status:", "  Addresses:"] + [f"    Type:   IPAddress\n    Value:  {a}"
                                             for a in addr]
    lines += _conditions(conds, "  ")
    lines.append("  Listeners:")
    for name, (attached, lconds) in gp.listener_status.items():
        lines += [f"    Attached Routes:  {attached}", f"    Name:             {name}"]
        lines += _conditions(lconds, "    ")
    lines.append("Events:       <none>")
    return "\n".join(lines)


def describe_httproute(view: LabView, route: HTTPRoute) -> str:
    plan = view.plan
    lines = [f"Name:         {route.name}", f"Namespace:    {route.namespace}",
             "API Version:  gateway.networking.k8s.io/v1", "Kind:         HTTPRoute", "Spec:",
             "  Hostnames:  " + (", ".join(route.hostnames) or "<any>"), "  Parent Refs:"]
    lines += [f"    Name:          {name}\n    Namespace:     {ns}" +
              (f"\n    Section Name:  {sec}" if sec else "") for ns, name, sec in route.parents]
    lines.append("  Rules:")
    for rule in route.rules:
        for m in rule.matches:
            extra = "".join(f" {k.lower()}-header {n}={v}" for k, n, v in m.headers)
            extra += "".join(f" query {n}={v}" for _k, n, v in m.queries)
            lines.append(f"    Match:     {m.path_type} {m.path}"
                         f"{' ' + m.method if m.method else ''}{extra}")
        lines += [f"    Filter:    {f.kind}" for f in rule.filters]
        lines += [f"    Backend:   {b.namespace}/{b.name}:{b.port} weight {b.weight}"
                  for b in rule.backends]
    lines += ["Status:", "  Parents:"]
    for ns, name, _sec in route.parents:
        gw = next((g for g in plan.gateways if g.namespace == ns and g.name == name), None)
        lines += [f"    Controller Name:  {CONTROLLER}",
                  f"    Parent Ref:       {ns}/{name}"]
        if gw is None:
            lines += _conditions([("Accepted", "False", "NoMatchingParent",
                                   f"Gateway {ns}/{name} not found")], "    ")
            continue
        conds = gateway_plan(plan, gw).route_status.get(route.key) or [
            ("Accepted", "False", "NoMatchingParent", f"Gateway {ns}/{name} is not served")]
        lines += _conditions(conds, "    ")
    lines.append("Events:       <none>")
    return "\n".join(lines)

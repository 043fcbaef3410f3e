"""What a Gateway serves, decided from the lab's Gateway API objects (pure): which HTTPRoutes
attach to which of its listeners (parentRefs, sectionName, allowedRoutes, hostnames), the
servers (port and host) with their matches in the API's precedence, each match's filters and
weighted backends (ready endpoints; a cross-namespace Service only with a ReferenceGrant), and
the statuses ``describe`` shows (Accepted, Programmed, ResolvedRefs, attachedRoutes).

netlab serves GatewayClasses whose controllerName is NGINX Gateway Fabric's, with nginx (as
that project does): a Deployment and a LoadBalancer Service named ``<gateway>-<class>`` in the
Gateway's namespace, as NGINX Gateway Fabric 2 provisions them."""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab.ingress.routes import Upstream, upstream
from netlab.model import (
    BackendRef,
    Gateway,
    HTTPRoute,
    IngressBackend,
    LabPlan,
    Listener,
    RouteFilter,
    RouteMatch,
    TlsSecret,
)

CONTROLLER = "gateway.nginx.org/nginx-gateway-controller"
GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name"


@dataclass(frozen=True)
class Target:
    """One match of a rule, with what the rule does."""

    route: str  # namespace/name
    match: RouteMatch
    filters: tuple[RouteFilter, ...]
    backends: tuple[tuple[Upstream | None, int], ...]  # (upstream, weight); None: refused ref


@dataclass
class GwServer:
    port: int
    host: str  # "_" : any
    https: bool = False
    certs: tuple[str, ...] = ()
    targets: list[Target] = field(default_factory=list)


@dataclass
class GatewayPlan:
    gateway: str
    servers: list[GwServer] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    # statuses: (type, status, reason, message)
    gateway_status: list[tuple[str, str, str, str]] = field(default_factory=list)
    listener_status: dict[str, tuple[int, list[tuple[str, str, str, str]]]] = \
        field(default_factory=dict)  # name -> (attached routes, conditions)
    route_status: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)
    certs: dict[str, TlsSecret] = field(default_factory=dict)  # the Secrets listeners use


def served(plan: LabPlan, gw: Gateway) -> bool:
    return any(c.name == gw.class_name and c.controller == CONTROLLER
               for c in plan.gateway_classes)


def resource_name(gw: Gateway) -> str:
    """The Deployment and Service that serve GW (NGINX Gateway Fabric's naming)."""
    return f"{gw.name}-{gw.class_name}"


def _host_match(listener: str, host: str) -> str | None:
    """The hostname a route host and a listener hostname both allow ("" : any), or None."""
    if not listener:
        return host
    if not host:
        return listener
    if host == listener:
        return host
    for wild, plain in ((listener, host), (host, listener)):
        if wild.startswith("*.") and plain.endswith(wild[1:]) and not plain.startswith("*."):
            return plain
    return None


def granted(plan: LabPlan, route: HTTPRoute, ref: BackendRef) -> bool:
    """A backend in another namespace needs a ReferenceGrant there."""
    if ref.namespace == route.namespace:
        return True
    return any(g.namespace == ref.namespace and ("HTTPRoute", route.namespace) in g.sources
               and any(k == "Service" and name in ("", ref.name) for k, name in g.targets)
               for g in plan.reference_grants)


def precedence(t: Target, order: int) -> tuple:
    """The Gateway API's order among matches: Exact path, longest prefix, method, most
    headers, most query parameters, then the route's order."""
    m = t.match
    return (m.path_type != "Exact", -len(m.path), not m.method, -len(m.headers),
            -len(m.queries), order)


def gateway_plan(plan: LabPlan, gw: Gateway) -> GatewayPlan:
    out = GatewayPlan(gw.key)
    tls = {s.key_name: s for s in plan.tls_secrets}
    if not served(plan, gw):
        out.gateway_status.append(("Accepted", "False", "NoController",
                                   f"no controller of this lab serves GatewayClass "
                                   f"{gw.class_name}"))
        return out
    out.gateway_status.append(("Accepted", "True", "Accepted", "Gateway is Accepted"))
    servers: dict[tuple[int, str], GwServer] = {}
    counts = {x.name: 0 for x in gw.listeners}
    ordered: list[tuple[GwServer, Target, int]] = []
    for order, route in enumerate(plan.http_routes):
        mine = [p for p in route.parents if p[:2] == (gw.namespace, gw.name)]
        if not mine:
            continue
        attached, why = False, "NoMatchingParent"
        for _ns, _name, section in mine:
            for lst in gw.listeners:
                if section and section != lst.name:
                    continue
                if lst.from_namespaces == "Same" and route.namespace != gw.namespace:
                    why = "NotAllowedByListeners"
                    continue
                hosts = [h for h in (_host_match(lst.hostname, x) for x in
                                     (route.hostnames or ("",))) if h is not None]
                if not hosts:
                    why = "NoMatchingListenerHostname"
                    continue
                attached = True
                counts[lst.name] += 1
                for h in hosts:
                    _attach(plan, route, lst, h or "_", servers, ordered, order)
        refs = [(ref, granted(plan, route, ref)) for rule in route.rules
                for ref in rule.backends]
        conds = [("Accepted", "True", "Accepted", "Route is accepted") if attached else
                 ("Accepted", "False", why, "no listener of the Gateway accepts the route")]
        missing = [r for r, ok in refs if ok and upstream(
            plan, r.namespace, IngressBackend(r.name, r.port)).missing]
        if any(not ok for _r, ok in refs):
            bad = next(r for r, ok in refs if not ok)
            conds.append(("ResolvedRefs", "False", "RefNotPermitted",
                          f"backendRef {bad.namespace}/{bad.name} in another namespace needs "
                          "a ReferenceGrant there"))
        elif missing:
            conds.append(("ResolvedRefs", "False", "BackendNotFound",
                          f"Service {missing[0].namespace}/{missing[0].name} not found"))
        else:
            conds.append(("ResolvedRefs", "True", "ResolvedRefs", "All references are "
                                                                  "resolved"))
        out.route_status[route.key] = conds
    for lst in gw.listeners:
        bad = [c for c in lst.certs if c not in tls]
        conds = [("Accepted", "True", "Accepted", "Listener is accepted"),
                 ("ResolvedRefs", "False", "InvalidCertificateRef",
                  f"Secret {bad[0]} not found") if bad else
                 ("ResolvedRefs", "True", "ResolvedRefs", "All references are resolved")]
        out.listener_status[lst.name] = (counts[lst.name], conds)
    for server, target, _order in sorted(ordered, key=lambda x: precedence(x[1], x[2])):
        server.targets.append(target)
    out.servers = sorted(servers.values(), key=lambda s: (s.port, s.host != "_", s.host))
    for s in out.servers:
        for t in s.targets:
            for up, _w in t.backends:
                if up is not None:
                    out.upstreams.setdefault(up.name, up)
    out.upstreams = dict(sorted(out.upstreams.items()))
    out.certs = {c: tls[c] for s in out.servers for c in s.certs if c in tls}
    return out


def _attach(plan: LabPlan, route: HTTPRoute, lst: Listener, host: str,
            servers: dict[tuple[int, str], GwServer], ordered: list, order: int) -> None:
    server = servers.setdefault((lst.port, host), GwServer(
        lst.port, host, lst.protocol == "HTTPS", lst.certs))
    for rule in route.rules:
        backends = tuple(
            (upstream(plan, ref.namespace, IngressBackend(ref.name, ref.port))
             if granted(plan, route, ref) else None, ref.weight) for ref in rule.backends)
        for m in rule.matches or (RouteMatch(),):
            ordered.append((server, Target(route.key, m, rule.filters, backends), order))

"""What an ingress controller serves, decided from the lab's objects (pure): which Ingresses
it claims (IngressClass, the class annotation, the default class), its servers (one per host,
sorted by name) and their locations (ingress-nginx's order: path descending, then longest
first), each with its upstream (the Service's ready endpoints, not its ClusterIP) and, for
ingress-nginx, the canary Ingresses merged in as alternative backends.

Two flavours share it: ``nginx`` (ingress-nginx's semantics and annotations) and ``traefik``
(Traefik 1.7's: host and path prefix rules, ``nginx.ingress.kubernetes.io/*`` ignored)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from netlab.model import (
    Deployment,
    Ingress,
    IngressBackend,
    IngressClass,
    LabPlan,
    LabSpec,
    PodInfo,
    TlsSecret,
)

NGINX_CONTROLLER = "k8s.io/ingress-nginx"
TRAEFIK_CONTROLLER = "traefik.io/ingress-controller"
CONTROLLERS = {"nginx": NGINX_CONTROLLER, "traefik": TRAEFIK_CONTROLLER}
# the built-in apps that are ingress controllers or Gateways, and the flavour each serves
APP_FLAVOURS = {"ingress-nginx": "nginx", "traefik": "traefik", "gateway": "gateway"}
NGINX_NAMESPACE = "ingress-nginx"  # where ingress-nginx's manifests put its controller
NGINX_NAME = "ingress-nginx-controller"  # its Deployment (or DaemonSet) and Service
ANN = "nginx.ingress.kubernetes.io/"
DEFAULT_UPSTREAM = "upstream-default-backend"
CATCH_ALL = "_"


@dataclass(frozen=True)
class Upstream:
    name: str  # ingress-nginx's: <namespace>-<service>-<port>
    service: str  # namespace/name
    port: int | str
    servers: tuple[tuple[str, int], ...]  # the ready endpoints (ip, port)
    missing: str = ""  # why there is no such Service or port ("" when there is)


@dataclass(frozen=True)
class Canary:
    """A canary Ingress merged into a location (ingress-nginx's alternative backend)."""

    ingress: str  # namespace/name
    upstream: Upstream
    header: str = ""
    header_value: str = ""
    header_pattern: str = ""
    cookie: str = ""
    weight: int = 0
    weight_total: int = 100


@dataclass(frozen=True)
class Location:
    path: str
    path_type: str  # Exact | Prefix | ImplementationSpecific
    ingress: str  # namespace/name ("" for the default backend)
    upstream: Upstream | None  # None: the default backend (404)
    regex: bool = False  # rendered as ~* "^path" (the server enforces regex)
    rewrite: str = ""  # rewrite-target
    app_root: str = ""
    https_backend: bool = False
    affinity_cookie: str = ""  # the session cookie's name, "" without affinity
    timeouts: tuple[tuple[str, str], ...] = ()  # (nginx directive, value)
    body_size: str = ""
    canaries: tuple[Canary, ...] = ()
    ssl_redirect: bool = False  # http answers 308 to https


@dataclass(frozen=True)
class Server:
    host: str  # "_" for the catch-all server
    locations: tuple[Location, ...]
    tls: str = ""  # the Secret (namespace/name) whose certificate it serves; "": the default


@dataclass
class Routes:
    flavour: str
    servers: list[Server] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    claimed: list[str] = field(default_factory=list)  # namespace/name of the Ingresses served
    notes: list[tuple[str, str]] = field(default_factory=list)  # (ingress, why partly ignored)
    certs: dict[str, TlsSecret] = field(default_factory=dict)  # the Secrets servers use


def running(spec: LabSpec, workloads: Iterable[Deployment]) -> set[str]:
    """The flavours of the controllers the workloads run (by their images' built-in apps)."""
    return {APP_FLAVOURS[a.app] for d in workloads for c in d.template.containers
            if (a := spec.image_app(c.image)) is not None and a.app in APP_FLAVOURS}


def controller_pods(plan: LabPlan, flavour: str = "nginx") -> list[PodInfo]:
    """The pods running a controller of FLAVOUR (by their images' built-in apps)."""
    return [p for p in plan.pods if any(
        (a := plan.spec.image_app(c.image)) is not None and APP_FLAVOURS.get(a.app) == flavour
        for c in p.spec.containers)]


def class_of(classes: Iterable[IngressClass], ing: Ingress) -> str:
    """The Ingress's class: its own, else the default IngressClass's, else ""."""
    if ing.class_name:
        return ing.class_name
    return next((c.name for c in classes if c.default), "")


def controller_of(classes: Iterable[IngressClass], name: str) -> str:
    """The controller of class NAME: its IngressClass's, or for a legacy annotation with no
    IngressClass object, the controller that class name stands for."""
    cls = next((c for c in classes if c.name == name), None)
    return cls.controller if cls is not None else CONTROLLERS.get(name, "")


def claims(plan: LabPlan, ing: Ingress, flavour: str) -> bool:
    """Whether a controller of FLAVOUR serves ING (as its --ingress-class and the IngressClass
    objects decide). An Ingress without any class goes to ingress-nginx when the lab runs it
    (its IngressClass is the default one, as minikube's addon marks it), else to Traefik 1.7,
    which serves every Ingress without a class annotation."""
    name = class_of(plan.ingress_classes, ing)
    if not name:
        return flavour == "nginx" or "nginx" not in running(plan.spec, plan.workloads)
    return controller_of(plan.ingress_classes, name) == CONTROLLERS[flavour]


def upstream(plan: LabPlan, namespace: str, backend: IngressBackend) -> Upstream:
    """The Service port's ready endpoints, by port number or name."""
    name = f"{namespace}-{backend.service}-{backend.port}"
    info = next((i for i in plan.services if i.service.namespace == namespace
                 and i.service.name == backend.service), None)
    if info is None:
        return Upstream(name, f"{namespace}/{backend.service}", backend.port, (),
                        f'service "{backend.service}" not found')
    port = next((p for p in info.service.ports if
                 (p.port == backend.port if isinstance(backend.port, int)
                  else p.name == backend.port)), None)
    if port is None:
        return Upstream(name, info.key, backend.port, (),
                        f"service {backend.service} has no port {backend.port}")
    eps = next((e for e in plan.endpoints if e.namespace == namespace
                and e.name == backend.service), None)
    servers = sorted({(addr.ip, p) for pname, proto, addr, p in (eps.entries if eps else ())
                      if pname == port.name and proto == "TCP" and addr.ready})
    return Upstream(name, info.key, backend.port, tuple(servers))


def _flag(ing: Ingress, name: str) -> bool:
    return ing.annotation(ANN + name) == "true"


def _nginx_annotations(ing: Ingress) -> dict[str, str]:
    """ING's nginx.ingress.kubernetes.io annotations, by their short names."""
    return {k[len(ANN):]: v for k, v in ing.annotations if k.startswith(ANN)}


def _canary(plan: LabPlan, ing: Ingress, backend: IngressBackend) -> Canary:
    a = _nginx_annotations(ing)
    return Canary(ing.key, upstream(plan, ing.namespace, backend),
                  header=a.get("canary-by-header", ""),
                  header_value=a.get("canary-by-header-value", ""),
                  header_pattern=a.get("canary-by-header-pattern", ""),
                  cookie=a.get("canary-by-cookie", ""),
                  weight=int(a.get("canary-weight", "0") or 0),
                  weight_total=max(100, int(a.get("canary-weight-total", "100") or 100)))


def _location(plan: LabPlan, ing: Ingress, path: str, path_type: str,
              backend: IngressBackend, flavour: str, tls: bool = False) -> Location:
    """TLS: the location's host serves a certificate of an Ingress (ssl-redirect's default)."""
    up = upstream(plan, ing.namespace, backend)
    if flavour != "nginx":
        return Location(path, path_type, ing.key, up)
    a = _nginx_annotations(ing)
    redirect = (tls and a.get("ssl-redirect", "true") == "true") or \
        a.get("force-ssl-redirect") == "true"
    rewrite = a.get("rewrite-target", "")
    timeouts = tuple((f"proxy_{k}_timeout", f"{a['proxy-' + k + '-timeout']}s")
                     for k in ("connect", "send", "read") if f"proxy-{k}-timeout" in a)
    cookie = a.get("session-cookie-name", "INGRESSCOOKIE") if a.get("affinity") == "cookie" \
        else ""
    return Location(path, path_type, ing.key, up,
                    rewrite=rewrite if rewrite and rewrite != path else "",
                    app_root=a.get("app-root", ""),
                    https_backend=a.get("backend-protocol", "").upper() == "HTTPS",
                    affinity_cookie=cookie, timeouts=timeouts,
                    body_size=a.get("proxy-body-size", ""), ssl_redirect=redirect)


def _normalise(locs: list[Location], regex: bool) -> list[Location]:
    """ingress-nginx's updateServerLocations: a Prefix path /foo becomes the prefix location
    /foo/ plus the exact location /foo (unless an Exact /foo exists), so /foobar does not
    match; not with regex locations. (Traefik 1.7's PathPrefix is a plain string prefix.)"""
    if regex:
        return locs
    exact = {loc.path for loc in locs if loc.path_type == "Exact"}
    out = []
    for loc in locs:
        if loc.path in ("/", "") or loc.path_type != "Prefix":
            out.append(loc)
            continue
        prefix = loc.path if loc.path.endswith("/") else loc.path + "/"
        out.append(Location(**{**loc.__dict__, "path": prefix}))
        if loc.path not in exact and prefix != loc.path:
            out.append(Location(**{**loc.__dict__, "path": loc.path, "path_type": "Exact"}))
    return out


def _ordered(locs: list[Location]) -> tuple[Location, ...]:
    """Path descending, then (stable) longest first, as ingress-nginx sorts them."""
    locs = sorted(locs, key=lambda x: x.path, reverse=True)
    return tuple(sorted(locs, key=lambda x: -len(x.path)))


def routes(plan: LabPlan, flavour: str = "nginx") -> Routes:
    """Everything a controller of FLAVOUR serves in PLAN."""
    out = Routes(flavour)
    mine = [i for i in plan.ingresses if claims(plan, i, flavour)]
    out.claimed = [i.key for i in mine]
    canaries = [i for i in mine if flavour == "nginx" and _flag(i, "canary")]
    main = [i for i in mine if i not in canaries]
    by_host: dict[str, dict[tuple[str, str], Location]] = {}
    regex_hosts: set[str] = set()
    secrets = {s.key_name: s for s in plan.tls_secrets}
    tls: dict[str, str] = {}  # host -> the Secret it serves ("" : the default certificate)
    for ing in main if flavour == "nginx" else ():
        for hosts, secret in ing.tls:
            for h in hosts:
                key = f"{ing.namespace}/{secret}"
                tls.setdefault(h, key if key in secrets else "")
                if secret and key not in secrets:
                    out.notes.append((ing.key, f"TLS Secret {key} not found: {h} gets the "
                                               "default certificate"))
    default: Location | None = None  # the catch-all server's
    host_default: dict[str, Location] = {}  # a host's: its Ingress's spec.defaultBackend
    for ing in main:
        own = _location(plan, ing, "/", "Prefix", ing.default_backend, flavour) \
            if ing.default_backend is not None else None
        default = default or own
        for rule in ing.rules:
            host = rule.host or CATCH_ALL
            if own is not None:
                host_default.setdefault(host, own)
            locs = by_host.setdefault(host, {})
            if flavour == "nginx" and (_flag(ing, "use-regex") or
                                       ing.annotation(ANN + "rewrite-target")):
                regex_hosts.add(host)
            for p in rule.paths:
                path = p.path or "/"
                key = (path, p.path_type)
                if key in locs:
                    out.notes.append((ing.key, f"path {path} of host {host} is already served "
                                               f"by {locs[key].ingress}"))
                    continue
                locs[key] = _location(plan, ing, path, p.path_type, p.backend, flavour,
                                      host in tls)
    for ing in canaries:
        for rule in ing.rules:
            host = rule.host or CATCH_ALL
            for p in rule.paths:
                key = (p.path or "/", p.path_type)
                loc = by_host.get(host, {}).get(key)
                if loc is None:
                    out.notes.append((ing.key, f"canary for {host}{p.path or '/'} has no main "
                                               "Ingress with that host and path: ignored"))
                    continue
                by_host[host][key] = Location(**{**loc.__dict__, "canaries": (
                    *loc.canaries, _canary(plan, ing, p.backend))})
    nothing = Location("/", "Prefix", "", None)  # the controller's default backend: 404
    fallback = default or nothing
    for host in sorted(by_host):
        regex = host in regex_hosts
        locs = list(by_host[host].values())
        if flavour == "nginx":
            locs = _normalise(locs, regex)
        if not any(loc.path == "/" for loc in locs):
            last = fallback if host == CATCH_ALL else host_default.get(host, nothing)
            locs.append(Location(**{**last.__dict__, "path_type": "Prefix"}))
        locs = [Location(**{**loc.__dict__, "regex": regex}) for loc in locs]
        out.servers.append(Server(host, _ordered(locs), tls.get(host, "")))
    if CATCH_ALL not in by_host:
        out.servers.append(Server(CATCH_ALL, (fallback,)))
    out.servers.sort(key=lambda s: (s.host != CATCH_ALL, s.host))
    for server in out.servers:
        for loc in server.locations:
            for up in [loc.upstream, *(c.upstream for c in loc.canaries)]:
                if up is not None:
                    out.upstreams.setdefault(up.name, up)
    out.upstreams = dict(sorted(out.upstreams.items()))
    out.certs = {s.tls: secrets[s.tls] for s in out.servers if s.tls}
    return out


def choose(r: Routes, host: str, path: str) -> tuple[Server, Location]:
    """The server and location nginx picks for a request to HOST and PATH: the server named
    HOST (a wildcard *.example.com for one label under it), else the catch-all; then an exact
    location, else with regex locations the first whose pattern matches (in the order
    written), else the longest prefix."""
    import re

    host = host.split(":")[0].lower()
    server = next((s for s in r.servers if s.host == host), None) or next(
        (s for s in r.servers if s.host.startswith("*.") and host.endswith(s.host[1:])
         and "." not in host[:-len(s.host) + 1]), None) or next(
        s for s in r.servers if s.host == CATCH_ALL)
    for loc in server.locations:
        if loc.path_type == "Exact" and loc.path == path and not loc.regex:
            return server, loc
    if any(loc.regex for loc in server.locations):
        for loc in server.locations:
            if re.match(loc.path, path, re.IGNORECASE):
                return server, loc
    best = max((loc for loc in server.locations if loc.path_type != "Exact" and
                path.startswith(loc.path)), key=lambda loc: len(loc.path), default=None)
    return server, best or server.locations[-1]

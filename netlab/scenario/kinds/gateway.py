"""The Gateway API (``gateway.networking.k8s.io``): GatewayClass, Gateway (HTTP and HTTPS
listeners), HTTPRoute (path, header, query and method matches; RequestHeaderModifier,
RequestRedirect and URLRewrite filters; weighted backendRefs) and ReferenceGrant, with the
API's own validation and what netlab does not serve refused clearly. Values that would leave
their nginx directive are refused, as for Ingresses."""

from __future__ import annotations

import re

from netlab.model import (
    BackendRef,
    Gateway,
    GatewayClass,
    HTTPRoute,
    Listener,
    ReferenceGrant,
    RouteFilter,
    RouteMatch,
    RouteRule,
)
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import host_name, whole
from netlab.scenario.registry import Loaded, Meta, kind

SPEC = Path("spec")
V1 = "gateway.networking.k8s.io/v1"
V1BETA1 = "gateway.networking.k8s.io/v1beta1"
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$")
_VALUE = re.compile(r"^[^\"\\\r\n\0$;{}]*$")  # one line, nothing nginx would interpret
_PATH = re.compile(r"^/[A-Za-z0-9/_.~%@:+!*,()=&-]*$")
_REGEX_UNSAFE = re.compile(r"[\s\"';#]|\$\{")
FILTERS = ("RequestHeaderModifier", "RequestRedirect", "URLRewrite")


@kind("GatewayClass", (V1, V1BETA1), schema.KINDS["GatewayClass"], namespaced=False)
def load_gateway_class(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    controller = spec.get("controllerName")
    if not isinstance(controller, str) or "/" not in controller:
        r.add(SPEC.child("controllerName"), "controllerName is required (a domain-prefixed "
                                            "path such as gateway.nginx.org/nginx-gateway-"
                                            "controller)")
        return
    loaded.gateway_classes.append(GatewayClass(meta.name, controller))


def _listener(r: Report, item: object, path: Path, namespace: str) -> Listener | None:
    if not isinstance(item, dict):
        r.add(path, "must be a mapping")
        return None
    name = item.get("name")
    ok = r.check(path.child("name"), validate.dns_label(name))
    protocol = item.get("protocol")
    if protocol not in ("HTTP", "HTTPS"):
        r.add(path.child("protocol"), f"protocol {protocol!r} is not supported (HTTP and "
                                      "HTTPS are)")
        ok = False
    port = whole(r, item.get("port"), path.child("port"), 1, 65535,
                 "port must be a whole number from 1 to 65535", 0)
    hostname = host_name(r, item["hostname"], path.child("hostname")) \
        if item.get("hostname") is not None else ""
    certs: list[str] = []
    tls = item.get("tls") or {}
    if protocol == "HTTPS":
        if not isinstance(tls, dict) or tls.get("mode", "Terminate") != "Terminate":
            r.add(path.child("tls", "mode"), "only mode Terminate is supported")
        refs = tls.get("certificateRefs") if isinstance(tls, dict) else None
        if not refs:
            r.add(path.child("tls", "certificateRefs"), "an HTTPS listener needs a "
                                                         "certificateRef (a TLS Secret)")
        for i, ref in enumerate(refs or []):
            if not isinstance(ref, dict) or not ref.get("name"):
                r.add(path.child("tls", "certificateRefs").index(i), "needs a name")
                continue
            certs.append(f"{ref.get('namespace') or namespace}/{ref['name']}")
    routes = (item.get("allowedRoutes") or {}).get("namespaces") or {}
    frm = routes.get("from", "Same") if isinstance(routes, dict) else "Same"
    if frm not in ("Same", "All"):
        r.add(path.child("allowedRoutes", "namespaces", "from"), f"from {frm!r} is not "
                                                                  "supported (Same, All are)")
        frm = "Same"
    if not ok or not port:
        return None
    return Listener(str(name), str(protocol), port, hostname, tuple(certs), frm)


@kind("Gateway", (V1, V1BETA1), schema.KINDS["Gateway"])
def load_gateway(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    cls = spec.get("gatewayClassName")
    if not r.check(SPEC.child("gatewayClassName"), validate.dns_subdomain(cls)):
        return
    items = spec.get("listeners") or []
    if not isinstance(items, list) or not items:
        r.add(SPEC.child("listeners"), "at least one listener is required")
        return
    listeners = [_listener(r, x, SPEC.child("listeners").index(i), meta.namespace)
                 for i, x in enumerate(items)]
    names = [x.name for x in listeners if x]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        r.add(SPEC.child("listeners"), f"listener name {dup!r} is used twice")
    loaded.gateways.append(Gateway(meta.name, meta.namespace, str(cls),
                                   tuple(x for x in listeners if x)))


def _pairs(r: Report, items: object, path: Path, *, typed: bool) -> list[tuple[str, ...]]:
    out = []
    for i, h in enumerate(items or []):
        hpath = path.index(i)
        if not isinstance(h, dict) or not _HEADER.match(str(h.get("name", ""))):
            r.add(hpath.child("name"), "must be a header or parameter name")
            continue
        kind_ = h.get("type", "Exact") if typed else ""
        value = str(h.get("value", ""))
        if typed and kind_ not in ("Exact", "RegularExpression"):
            r.add(hpath.child("type"), "type must be Exact or RegularExpression")
            continue
        if (kind_ == "RegularExpression" and _REGEX_UNSAFE.search(value)) or \
                (kind_ != "RegularExpression" and not _VALUE.match(value)):
            r.add(hpath.child("value"), f"has characters nginx cannot hold: {value!r}")
            continue
        out.append((kind_, str(h["name"]), value) if typed else (str(h["name"]), value))
    return out


def _match(r: Report, m: object, path: Path) -> RouteMatch | None:
    if not isinstance(m, dict):
        r.add(path, "must be a mapping")
        return None
    p = m.get("path") or {}
    ptype, value = p.get("type", "PathPrefix"), p.get("value", "/")
    if ptype not in ("Exact", "PathPrefix", "RegularExpression"):
        r.add(path.child("path", "type"), "must be Exact, PathPrefix or RegularExpression")
        return None
    bad = _REGEX_UNSAFE.search(str(value)) if ptype == "RegularExpression" else \
        not _PATH.match(str(value)) or re.search(r"//|/\./|/\.\./", str(value))
    if bad:
        r.add(path.child("path", "value"), f"must be an absolute path nginx can hold, got "
                                           f"{value!r}")
        return None
    method = m.get("method", "")
    if method and method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                                 "TRACE", "PATCH"):
        r.add(path.child("method"), f"{method!r} is not an HTTP method")
        return None
    headers = _pairs(r, m.get("headers"), path.child("headers"), typed=True)
    queries = _pairs(r, m.get("queryParams"), path.child("queryParams"), typed=True)
    return RouteMatch(ptype, str(value), tuple(headers), tuple(queries), str(method))


def _filter(r: Report, f: object, path: Path) -> RouteFilter | None:
    if not isinstance(f, dict) or f.get("type") not in FILTERS:
        kind_ = f.get("type") if isinstance(f, dict) else f
        r.add(path.child("type"), f"filter {kind_!r} is not supported ({', '.join(FILTERS)} "
                                  "are)")
        return None
    kind_ = f["type"]
    key = {"RequestHeaderModifier": "requestHeaderModifier",
           "RequestRedirect": "requestRedirect", "URLRewrite": "urlRewrite"}[kind_]
    body = f.get(key) or {}
    if kind_ == "RequestHeaderModifier":
        return RouteFilter(kind_, tuple(_pairs(r, body.get("set"), path.child(key, "set"),
                                               typed=False)),
                           tuple(_pairs(r, body.get("add"), path.child(key, "add"),
                                        typed=False)),
                           tuple(str(h) for h in body.get("remove") or []
                                 if _HEADER.match(str(h))))
    p = body.get("path") or {}
    ptype = p.get("type", "")
    value = p.get("replaceFullPath" if ptype == "ReplaceFullPath" else "replacePrefixMatch",
                  "")
    if ptype and (ptype not in ("ReplaceFullPath", "ReplacePrefixMatch")
                  or not _PATH.match(str(value))):
        r.add(path.child(key, "path"), "must be ReplaceFullPath or ReplacePrefixMatch with an "
                                       "absolute path")
        return None
    host = body.get("hostname") or ""
    if host and not host_name(r, host, path.child(key, "hostname")):
        return None
    if kind_ == "URLRewrite":
        return RouteFilter(kind_, hostname=host, path_type=ptype, path=str(value))
    scheme = body.get("scheme") or ""
    status = body.get("statusCode", 302)
    if scheme not in ("", "http", "https") or status not in (301, 302):
        r.add(path.child(key), "scheme must be http or https and statusCode 301 or 302")
        return None
    port = body.get("port") or 0
    return RouteFilter(kind_, hostname=host, scheme=scheme, status=status,
                       port=port if isinstance(port, int) else 0, path_type=ptype,
                       path=str(value))


def _backend(r: Report, b: object, path: Path, namespace: str) -> BackendRef | None:
    if not isinstance(b, dict) or not r.check(path.child("name"),
                                              validate.dns_label(b.get("name"))):
        return None
    if b.get("kind", "Service") != "Service" or b.get("group", "") not in ("", "core"):
        r.add(path.child("kind"), "only Service backends are supported")
        return None
    port = whole(r, b.get("port"), path.child("port"), 1, 65535,
                 "a Service backend needs its port (1 to 65535)", 0)
    weight = whole(r, b.get("weight", 1), path.child("weight"), 0, 1000000,
                   "weight must be a whole number from 0 to 1000000", 1)
    return BackendRef(str(b["name"]), str(b.get("namespace") or namespace), port, weight) \
        if port else None


@kind("HTTPRoute", (V1, V1BETA1), schema.KINDS["HTTPRoute"])
def load_http_route(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    parents = []
    for i, p in enumerate(spec.get("parentRefs") or []):
        ppath = SPEC.child("parentRefs").index(i)
        if not isinstance(p, dict) or not r.check(ppath.child("name"),
                                                  validate.dns_subdomain(p.get("name"))):
            continue
        if p.get("kind", "Gateway") != "Gateway":
            r.add(ppath.child("kind"), "only Gateway parents are supported")
            continue
        parents.append((str(p.get("namespace") or meta.namespace), str(p["name"]),
                        str(p.get("sectionName") or "")))
    if not parents:
        r.add(SPEC.child("parentRefs"), "an HTTPRoute needs a parentRef (its Gateway)")
    hostnames = [host_name(r, h, SPEC.child("hostnames").index(i))
                 for i, h in enumerate(spec.get("hostnames") or [])]
    rules = []
    for i, rule in enumerate(spec.get("rules") or [{}]):
        rpath = SPEC.child("rules").index(i)
        if not isinstance(rule, dict):
            r.add(rpath, "must be a mapping")
            continue
        matches = [_match(r, m, rpath.child("matches").index(j))
                   for j, m in enumerate(rule.get("matches") or [{}])]
        filters = [_filter(r, f, rpath.child("filters").index(j))
                   for j, f in enumerate(rule.get("filters") or [])]
        kinds = [f.kind for f in filters if f]
        if "RequestRedirect" in kinds and "URLRewrite" in kinds:
            r.add(rpath.child("filters"), "RequestRedirect and URLRewrite cannot be combined")
        backends = [_backend(r, b, rpath.child("backendRefs").index(j), meta.namespace)
                    for j, b in enumerate(rule.get("backendRefs") or [])]
        rules.append(RouteRule(tuple(m for m in matches if m), tuple(f for f in filters if f),
                               tuple(b for b in backends if b)))
    loaded.http_routes.append(HTTPRoute(meta.name, meta.namespace, tuple(parents),
                                        tuple(h for h in hostnames if h), tuple(rules)))


@kind("ReferenceGrant", (V1BETA1, V1), schema.KINDS["ReferenceGrant"])
def load_reference_grant(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    sources = [(str(f.get("kind")), str(f.get("namespace"))) for f in spec.get("from") or []
               if isinstance(f, dict) and f.get("kind") and f.get("namespace")]
    targets = [(str(t.get("kind")), str(t.get("name") or "")) for t in spec.get("to") or []
               if isinstance(t, dict) and t.get("kind")]
    if not sources or not targets:
        r.add(SPEC, "a ReferenceGrant needs from (kind, namespace) and to (kind)")
        return
    loaded.reference_grants.append(ReferenceGrant(meta.name, meta.namespace, tuple(sources),
                                                  tuple(targets)))

"""nginx.conf for a Gateway, rendered from its plan (pure; golden-tested).

Each listener port and hostname is a ``server``; each path a ``location`` (Exact ``= /p``,
PathPrefix element-wise as ``= /p`` and ``/p/``, RegularExpression ``~ "re"``) holding every
match that can apply there, in the API's precedence. A ``map`` over the method, the headers and
the query parameters those matches test picks the first that holds (0: none, 404); further
maps give that match's upstream (``split_clients`` for weighted backendRefs), its request
headers (RequestHeaderModifier, URLRewrite's hostname); ``if`` blocks apply its redirect or
path rewrite. A rule whose backends are all refused answers 500, one without ready endpoints
503, as the API asks."""

from __future__ import annotations

import re

from netlab.ingress.gateway import GatewayPlan, GwServer, Target
from netlab.ingress.nginx import (
    DEFAULT_CERT,
    DEFAULT_KEY,
    HEALTHZ_SERVER,
    PROXY_HEADERS,
    SERVER_VARS,
    _percent,
    _server_name,
    _upstream,
    _var,
    cert_path,
    http_head,
)


def _locations(server: GwServer) -> dict[str, list[Target]]:
    """nginx location -> the matches that can apply there, in precedence order."""
    heads: dict[str, str] = {}  # location -> the path it stands for ("" : a regex)
    for t in server.targets:
        m = t.match
        if m.path_type == "RegularExpression":
            heads[f'~ "{m.path}"'] = ""
        elif m.path_type == "Exact" or m.path == "/":
            heads[f"= {m.path}" if m.path_type == "Exact" else "/"] = m.path
        else:
            bare = m.path.rstrip("/")
            heads[f"= {bare}"] = bare
            heads[f"{bare}/"] = bare + "/"
    out: dict[str, list[Target]] = {}
    for head, path in heads.items():
        exact = head.startswith("= ")
        out[head] = [t for t in server.targets if _applies(t, head, path, exact)]
    return out


def _applies(t: Target, head: str, path: str, exact: bool) -> bool:
    m = t.match
    if m.path_type == "RegularExpression":
        return head == f'~ "{m.path}"'
    if m.path_type == "Exact":
        return exact and m.path == path
    prefix = m.path.rstrip("/")
    if not prefix:  # "/" covers everything, regex locations included
        return True
    return bool(path) and (path == prefix or path.startswith(prefix + "/"))


def _fields(targets: list[Target]) -> list[str]:
    """The nginx variables the matches test, in a fixed order."""
    out = ["$request_method"]
    for t in targets:
        out += [f"$http_{_var(n)}" for _k, n, _v in t.match.headers]
        out += [f"$arg_{n}" for _k, n, _v in t.match.queries]
    return list(dict.fromkeys(out))


def _regex(t: Target, fields: list[str]) -> str:
    want = {"$request_method": re.escape(t.match.method) if t.match.method else None}
    for kind, n, v in t.match.headers:
        want[f"$http_{_var(n)}"] = f"(?:{v})" if kind == "RegularExpression" else re.escape(v)
    for kind, n, v in t.match.queries:
        want[f"$arg_{n}"] = f"(?:{v})" if kind == "RegularExpression" else re.escape(v)
    return "^" + "\\|".join(want.get(f) or "[^|]*" for f in fields) + "$"


def _choice(t: Target, n: str, splits: list[str]) -> str:
    """The upstream (or 500 / 503) of target T; a weighted split adds a split_clients."""
    live = [(u, w) for u, w in t.backends if w > 0]
    if not live or all(u is None for u, _w in live):
        return "500"
    if len(live) == 1:
        up = live[0][0]
        return up.name if up is not None and up.servers else ("500" if up is None or
                                                                up.missing else "503")
    total = sum(w for _u, w in live)
    rows = []
    for i, (u, w) in enumerate(live):
        value = "500" if u is None or u.missing else (u.name if u.servers else "503")
        share = "*" if i == len(live) - 1 else _percent(w, total)
        rows.append(f"        {share} {value};")
    splits.append(f'    split_clients "$request_id" ${n} {{\n' + "\n".join(rows) + "\n    }")
    return f"${n}"


def _redirect(t: Target) -> str | None:
    f = next((f for f in t.filters if f.kind == "RequestRedirect"), None)
    if f is None:
        return None
    scheme = f.scheme or "$scheme"
    host = f.hostname or "$host"
    port = f":{f.port}" if f.port else ""
    base = f"{scheme}://{host}{port}"
    flag = "permanent" if f.status == 301 else "redirect"
    if f.path_type == "ReplaceFullPath":
        return f"return {f.status} {base}{f.path}$is_args$args;"
    if f.path_type == "ReplacePrefixMatch":
        return f"rewrite {_prefix_rewrite(t.match.path, f.path, base)} {flag};"
    return f"return {f.status} {base}$request_uri;"


def _prefix_rewrite(prefix: str, replacement: str, base: str = "") -> str:
    prefix = prefix.rstrip("/")
    if replacement.rstrip("/") == "":
        return f'"^{prefix}/?(.*)$" {base}/$1'
    return f'"^{prefix}(/.*)?$" {base}{replacement.rstrip("/")}$1'


def _rewrite(t: Target) -> str | None:
    f = next((f for f in t.filters if f.kind == "URLRewrite" and f.path_type), None)
    if f is None:
        return None
    if f.path_type == "ReplaceFullPath":
        return f"rewrite ^ {f.path} break;"
    return f"rewrite {_prefix_rewrite(t.match.path, f.path)} break;"


def _header_values(t: Target) -> dict[str, str]:
    """Header (lower case) -> the value the upstream gets, for what T changes."""
    out: dict[str, str] = {}
    for f in t.filters:
        if f.kind == "URLRewrite" and f.hostname:
            out["host"] = f.hostname
        if f.kind != "RequestHeaderModifier":
            continue
        for name, value in f.set_headers:
            out[name.lower()] = value
        for name, value in f.add_headers:
            out[name.lower()] = f"\x00add:{value}"
        for name in f.remove_headers:
            out[name.lower()] = ""
    return out


def render_gateway(gp: GatewayPlan, run_dir: str, user: str = "www-data www-data",
                   default_cert: tuple[str, str] = (DEFAULT_CERT, DEFAULT_KEY)) -> str:
    maps: list[str] = []
    servers: list[str] = []
    ports = sorted({s.port for s in gp.servers})
    n = 0
    for server in gp.servers:
        locs = []
        for head, targets in _locations(server).items():
            n += 1
            locs.append(_render_location(head, targets, f"gw_{n}", maps))
        if not any(head == "/" for head in _locations(server)):
            locs.append('        location / {\n            return 404;\n        }')
        servers.append(_server(server, locs, run_dir, default_cert))
    for port in ports:  # each port's default server: an unknown host gets 404
        if not any(s.port == port and s.host == "_" for s in gp.servers):
            https = next(s for s in gp.servers if s.port == port).https
            servers.append(_server(GwServer(port, "_", https), [
                '        location / {\n            return 404;\n        }'], run_dir,
                default_cert))
    upstreams = [_upstream(u, "") for u in gp.upstreams.values() if u.servers]
    head = http_head([f"# nginx.conf of Gateway {gp.gateway}, rendered by netlab from its "
                      "listeners, HTTPRoutes, Services and EndpointSlices."], run_dir, user,
                     "text/plain")
    return "\n".join([*head, *maps, *upstreams, *servers, HEALTHZ_SERVER, "}"]) + "\n"


def _server(server: GwServer, locs: list[str], run_dir: str,
            default_cert: tuple[str, str]) -> str:
    flag = " default_server" if server.host == "_" else ""
    listen = f"        listen {server.port}{' ssl' if server.https else ''}{flag};\n"
    if server.https:
        crt, key = (cert_path(run_dir, server.certs[0]),) * 2 if server.certs else default_cert
        listen += f"        ssl_certificate {crt};\n        ssl_certificate_key {key};\n"
    return (f"    server {{\n        server_name {_server_name(server.host)};\n{listen}"
            f"{SERVER_VARS}" + "\n".join(locs) + "\n    }")


def _render_location(head: str, targets: list[Target], n: str, maps: list[str]) -> str:
    fields = _fields(targets)
    cases = "\n".join(f'        "~{_regex(t, fields)}" {i};' for i, t in
                      enumerate(targets, 1))
    maps.append(f'    map "{"|".join(fields)}" ${n} {{\n{cases}\n        default 0;\n    }}')
    splits: list[str] = []
    choices = [_choice(t, f"{n}_split_{i}", splits) for i, t in enumerate(targets, 1)]
    maps += splits
    rows = "\n".join(f"        {i} {c};" for i, c in enumerate(choices, 1))
    maps.append(f"    map ${n} ${n}_up {{\n{rows}\n        default 404;\n    }}")
    body = [f'set $proxy_upstream_name ${n}_up;']
    for i, t in enumerate(targets, 1):
        action = _redirect(t) or _rewrite(t)
        if action:
            body += [f"if (${n} = {i}) {{", f"    {action}", "}"]
    body += [f"if (${n}_up = {code}) {{\n                return {code};\n            }}"
             for code in ("404", "500", "503")]
    changed = [_header_values(t) for t in targets]
    names = sorted({h for c in changed for h in c})
    headers = {h.split()[0].lower(): h for h in PROXY_HEADERS}
    for h in names:
        var = f"{n}_h_{_var(h)}"
        default = "$host" if h == "host" else f"$http_{_var(h)}"
        rows = []
        for i, c in enumerate(changed, 1):
            if h not in c:
                continue
            value = c[h]
            if value.startswith("\x00add:"):
                add = f"{var}_add_{i}"
                maps.append(f"    map $http_{_var(h)} ${add} {{\n"
                            f'        "" "{value[5:]}";\n'
                            f'        default "$http_{_var(h)},{value[5:]}";\n    }}')
                value = f"${add}"
            rows.append(f'        {i} "{value}";')
        maps.append(f"    map ${n} ${var} {{\n" + "\n".join(rows) +
                    f"\n        default {default};\n    }}")
        headers[h] = f"{h.title() if h != 'host' else 'Host'} ${var}"
    if names:  # a location's own proxy_set_header replaces the inherited ones: all of them
        body += [f"proxy_set_header {v};" for v in headers.values()]
    body.append(f"proxy_pass http://${n}_up;")
    inner = "".join(f"            {line}\n" for line in body)
    return f"        location {head} {{\n{inner}        }}"

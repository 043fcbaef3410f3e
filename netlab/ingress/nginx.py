"""nginx.conf for an ingress controller, rendered from its routes (pure; golden-tested).

The shape is ingress-nginx's template, without its Lua: one ``upstream`` per Service port
holding the ready endpoints, one ``server`` per host (``_`` is the default server), the
locations in ingress-nginx's order and form (``= /exact``, ``/prefix/`` plus ``= /prefix``,
``~* "^/regex"`` for every location of a host where one Ingress asks for regex or a rewrite),
``rewrite "(?i)PATH" TARGET break``, the app-root redirect, and canaries as ingress-nginx's
balancer chooses them (header, then cookie, then weight), done with ``map`` and
``split_clients``. A location with no ready endpoint answers 503, an unmatched request the
default backend's 404. The ``traefik`` flavour answers as Traefik 1.7 does."""

from __future__ import annotations

from netlab.ingress.routes import (
    CATCH_ALL,
    DEFAULT_UPSTREAM,
    Canary,
    Location,
    Routes,
    Upstream,
)

HEALTHZ_PORT = 10254  # ingress-nginx's /healthz
# ingress-nginx's self-signed "Kubernetes Ingress Controller Fake Certificate", which the
# controller makes at its start (in its status folder)
DEFAULT_CERT = "/run/netlab-ingress/default.crt"
DEFAULT_KEY = "/run/netlab-ingress/default.key"
TRAEFIK_API_PORT = 8080  # Traefik 1.7's --api (dashboard)
TRAEFIK_404 = '"404 page not found\\n"'  # Go's http.NotFound, as an nginx string
# the access log's variables, defined in every server (a location sets its own)
SERVER_VARS = ('        set $proxy_upstream_name "-";\n'
               '        set $proxy_alternative_upstream_name "";\n')
LOG_FORMAT = ("'$remote_addr - $remote_user [$time_local] \"$request\" $status "
              "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_length "
              "$request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] "
              "$upstream_addr $upstream_status $request_id'")


def _var(name: str) -> str:
    """An nginx variable name from a header or cookie name."""
    return name.lower().replace("-", "_")


def _percent(weight: int, total: int) -> str:
    return f"{min(weight, total) * 100 / total:.2f}".rstrip("0").rstrip(".") + "%"


def _canary_maps(index: int, main: Upstream, c: Canary) -> list[str]:
    """The choice between MAIN and canary C, in ingress-nginx's precedence: a header
    (``always``/``never``, or its value or pattern), then a cookie (``always``/``never``),
    then the weight."""
    n = f"canary_{index}"
    out = []
    if c.header:
        if c.header_value:
            cases = f'        "{c.header_value}" 1;\n'
        elif c.header_pattern:
            cases = f'        "~{c.header_pattern}" 1;\n'
        else:
            cases = '        "always" 1;\n        "never" 0;\n'
        out.append(f"    map $http_{_var(c.header)} ${n}_by_header {{\n{cases}"
                   '        default "";\n    }')
    if c.cookie:
        out.append(f"    map $cookie_{_var(c.cookie)} ${n}_by_cookie {{\n"
                   '        "always" 1;\n        "never" 0;\n        default "";\n    }')
    if c.weight > 0:
        out.append(f'    split_clients "$request_id" ${n}_by_weight {{\n'
                   f"        {_percent(c.weight, c.weight_total)} 1;\n        * 0;\n    }}")
    parts = ":".join(f"${n}_by_{k}" if on else "" for k, on in (
        ("header", c.header), ("cookie", c.cookie), ("weight", c.weight > 0)))
    out.append(f'    map "{parts}" ${n} {{\n'
               '        "~^1:" 1;\n        "~^0:" 0;\n        "~^:1:" 1;\n        "~^:0:" 0;\n'
               '        "~^::1$" 1;\n        default 0;\n    }')
    out.append(f"    map ${n} ${n}_upstream {{\n        1 {c.upstream.name};\n"
               f"        default {main.name};\n    }}")
    return out


def _location_head(loc: Location) -> str:
    if loc.regex:
        return f'~* "^{loc.path}"'
    if loc.path_type == "Exact":
        return f"= {loc.path}"
    return loc.path


def _location(loc: Location, canary_index: dict[int, int], flavour: str) -> list[str]:
    body: list[str] = []
    up = loc.upstream
    if loc.ingress and flavour == "nginx":
        ns, name = loc.ingress.split("/", 1)
        body += [f'set $namespace "{ns}";', f'set $ingress_name "{name}";']
        if up is not None:
            body += [f'set $service_name "{up.service.split("/", 1)[1]}";',
                     f'set $service_port "{up.port}";']
    body.append(f'set $proxy_upstream_name "{up.name if up else DEFAULT_UPSTREAM}";')
    if loc.ssl_redirect:
        body += ["if ($scheme = http) {", "    return 308 https://$host$request_uri;", "}"]
    if loc.app_root:
        body += ["if ($uri = /) {", f"    return 302 $scheme://$http_host{loc.app_root};", "}"]
    if up is None:
        body.append(f"return 404 {TRAEFIK_404};" if flavour == "traefik" else "return 404;")
    elif not up.servers:
        body.append("return 503;")
    else:
        body += [f"{k} {v};" for k, v in loc.timeouts]
        if loc.body_size:
            body.append(f"client_max_body_size {loc.body_size};")
        if loc.affinity_cookie:
            c = _var(loc.affinity_cookie)
            body.append(f"add_header Set-Cookie $affinity_set_{c};")
        if loc.rewrite:
            body.append(f'rewrite "(?i){loc.path}" {loc.rewrite} break;')
        scheme = "https" if loc.https_backend else "http"
        live = [c for c in loc.canaries if c.upstream.servers]
        if live:
            n = f"canary_{canary_index[id(loc)]}"
            body += [f"set $proxy_alternative_upstream_name {live[0].upstream.name};",
                     f"proxy_pass {scheme}://${n}_upstream;"]
        else:
            body.append(f"proxy_pass {scheme}://{up.name};")
    inner = "".join(f"            {line}\n" for line in body)
    return [f"        location {_location_head(loc)} {{\n{inner}        }}"]


def _upstream(up: Upstream, sticky: str) -> str:
    lines = [f"        hash $affinity_{_var(sticky)} consistent;"] if sticky else []
    lines += [f"        server {ip}:{port} max_fails=0;" for ip, port in up.servers]
    return f"    upstream {up.name} {{\n" + "\n".join(lines) + "\n    }"


def cert_path(run_dir: str, secret: str) -> str:
    """Where the controller writes a Secret's certificate and key (one PEM file)."""
    return f"{run_dir}/certs/{secret.replace('/', '-')}.pem"


def render(routes: Routes, run_dir: str, http_port: int = 80,
           api_port: int | None = None, user: str = "www-data www-data",
           https_port: int | None = 443,
           default_cert: tuple[str, str] = (DEFAULT_CERT, DEFAULT_KEY)) -> str:
    """The whole nginx.conf. RUN_DIR holds the pid file and temp folders (the container's
    own, writable); API_PORT: Traefik's dashboard port, when it runs with --api; USER: the
    workers' (root's own when the container may not change users, as Traefik's DaemonSet
    drops every capability but NET_BIND_SERVICE); HTTPS_PORT: where every server also
    answers TLS, with its Ingress's Secret or DEFAULT_CERT (None: no TLS, as Traefik's
    DaemonSet)."""
    if routes.flavour != "nginx":
        https_port = None
    flavour = routes.flavour
    maps: list[str] = []
    canary_index: dict[int, int] = {}  # a location -> its canary maps (shared when alike)
    by_choice: dict[tuple, int] = {}
    sticky: dict[str, str] = {}
    cookies: set[str] = set()
    for server in routes.servers:
        for loc in server.locations:
            live = [c for c in loc.canaries if c.upstream.servers]
            if loc.upstream is not None and loc.upstream.servers and live:
                choice = (loc.upstream.name, live[0].upstream.name, live[0].header,
                          live[0].header_value, live[0].header_pattern, live[0].cookie,
                          live[0].weight, live[0].weight_total)
                if choice not in by_choice:
                    by_choice[choice] = len(by_choice) + 1
                    maps += _canary_maps(by_choice[choice], loc.upstream, live[0])
                canary_index[id(loc)] = by_choice[choice]
            if loc.affinity_cookie and loc.upstream is not None:
                sticky.setdefault(loc.upstream.name, loc.affinity_cookie)
                cookies.add(loc.affinity_cookie)
    for cookie in sorted(cookies):
        c = _var(cookie)
        maps.append(f"    map $cookie_{c} $affinity_{c} {{\n        \"\" $request_id;\n"
                    f"        default $cookie_{c};\n    }}")
        maps.append(f"    map $cookie_{c} $affinity_set_{c} {{\n"
                    f"        \"\" \"{cookie}=$request_id; Path=/; HttpOnly\";\n"
                    '        default "";\n    }')
    upstreams = [_upstream(u, sticky.get(u.name, "")) for u in routes.upstreams.values()
                 if u.servers]
    servers = []
    for server in routes.servers:
        default = server.host == CATCH_ALL
        name = _server_name(server.host)
        locs = [line for loc in server.locations
                for line in _location(loc, canary_index, flavour)]
        flag = " default_server" if default else ""
        tls = ""
        if https_port:
            crt, key = (cert_path(run_dir, server.tls),) * 2 if server.tls else default_cert
            tls = (f"        listen {https_port} ssl{flag};\n"
                   f"        ssl_certificate {crt};\n        ssl_certificate_key {key};\n")
        servers.append(f"    server {{\n        server_name {name};\n"
                       f"        listen {http_port}{flag};\n{tls}"
                       f"{SERVER_VARS}" + "\n".join(locs) + "\n    }")
    if flavour == "nginx":
        servers.append(HEALTHZ_SERVER)
    elif api_port:
        servers.append(f"    server {{\n        listen {api_port};\n{SERVER_VARS}"
                       "        location = / {\n            return 302 /dashboard/;\n        }\n"
                       "        location / {\n"
                       "            return 200 \"Traefik dashboard (netlab's stand-in)\\n\";\n"
                       "        }\n    }")
    claimed = ", ".join(routes.claimed) or "none"
    head = http_head([f"# nginx.conf of the {flavour} ingress controller, rendered by netlab "
                      "from the lab's",
                      f"# Ingresses ({claimed}), Services and EndpointSlices."], run_dir, user,
                     "text/plain" if flavour == "traefik" else "text/html")
    return "\n".join([*head, *maps, *upstreams, *servers, "}"]) + "\n"


PROXY_HEADERS = ("Host $host", 'Connection ""', "X-Request-ID $request_id",
                 "X-Real-IP $remote_addr", "X-Forwarded-For $remote_addr",
                 "X-Forwarded-Host $host", "X-Forwarded-Port $server_port",
                 "X-Forwarded-Proto $scheme", "X-Original-URI $request_uri")


def http_head(title: list[str], run_dir: str, user: str, default_type: str) -> list[str]:
    """The configuration up to the http block's own settings (maps, upstreams and servers
    come after)."""
    return [
        *title, "daemon off;", f"user {user};", "worker_processes 1;",
        f"pid {run_dir}/nginx.pid;", "error_log stderr notice;", "events {",
        "    worker_connections 1024;", "}", "http {",
        f"    client_body_temp_path {run_dir}/client-body;",
        f"    proxy_temp_path {run_dir}/proxy;", f"    fastcgi_temp_path {run_dir}/fastcgi;",
        f"    uwsgi_temp_path {run_dir}/uwsgi;", f"    scgi_temp_path {run_dir}/scgi;",
        f"    default_type {default_type};",
        "    server_tokens off;", "    server_names_hash_bucket_size 128;",
        "    map_hash_bucket_size 128;", "    variables_hash_bucket_size 256;",
        "    variables_hash_max_size 2048;",
        f"    log_format upstreaminfo {LOG_FORMAT};",
        "    access_log /dev/stdout upstreaminfo;", "    proxy_http_version 1.1;",
        *(f"    proxy_set_header {h};" for h in PROXY_HEADERS),
        "    proxy_connect_timeout 5s;", "    proxy_send_timeout 60s;",
        "    proxy_read_timeout 60s;", "    client_max_body_size 1m;",
        "    proxy_next_upstream error timeout;", "    ssl_protocols TLSv1.2 TLSv1.3;",
    ]


HEALTHZ_SERVER = (f"    server {{\n        listen {HEALTHZ_PORT};\n{SERVER_VARS}"
                  "        location = /healthz {\n            return 200;\n        }\n"
                  "        location / {\n            return 404;\n        }\n    }")


def _server_name(host: str) -> str:
    """ingress-nginx's buildServerName: a wildcard matches exactly one label."""
    if not host.startswith("*."):
        return host
    rest = host[2:].replace(".", "\\.")
    return f'"~^(?<subdomain>[\\w-]+)\\.{rest}$"'

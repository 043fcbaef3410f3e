"""Ingress without root: the loader (legacy APIs converted, the apiserver's and ingress-nginx's
refusals), the routes ingress-nginx and Traefik would serve (classes, location order, Prefix
normalisation, canaries), golden nginx.conf files that real `nginx -t` accepts, the events of
the controllers' reports.

Address plan: lab t, one node; pod addresses 10.244.0.0/24 in creation order (web's three
pods .2-.4 on 8000, v2's two .5-.6). Set NETLAB_UPDATE_GOLDEN=1 to rewrite the golden files.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from netlab.errors import ScenarioError
from netlab.ingress import status
from netlab.ingress.nginx import render
from netlab.ingress.routes import routes
from netlab.plan.build import initial_rollout, plan_lab
from tests.helpers import deployment, lab_doc, scenario, service

GOLDEN = pathlib.Path(__file__).parent / "golden"


def plan_of(*docs: str):
    sc = scenario(lab_doc(), deployment(), service(), deployment("v2", 2), service("v2", "v2"),
                  *docs)
    plan, _ = plan_lab(sc, sets=tuple(initial_rollout(sc).sets.values()))
    return plan


def ingress(name: str, paths: str, annotations: str = "", host: str = "", cls: str = "",
            api: str = "networking.k8s.io/v1", extra: str = "") -> str:
    lines = [f"apiVersion: {api}", "kind: Ingress", "metadata:", f"  name: {name}"]
    if annotations:
        lines.append(f"  annotations: {{{annotations}}}")
    lines.append("spec:")
    if cls:
        lines.append(f"  ingressClassName: {cls}")
    if extra:
        lines.append(extra.strip("\n"))
    lines += ["  rules:", f"  - {'host: ' + host + chr(10) + '    ' if host else ''}http:",
              f"      paths: {paths}"]
    return "\n".join(lines) + "\n"


def v1path(path: str, svc: str = "web-svc-cip", kind: str = "Prefix", port: int = 80) -> str:
    return (f"{{path: '{path}', pathType: {kind}, backend: {{service: {{name: {svc}, "
            f"port: {{number: {port}}}}}}}}}")


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NETLAB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file"


def make_cert(folder: pathlib.Path, name: str, cn: str) -> tuple[str, str]:
    """A self-signed certificate and key (PEM texts), as a user makes one for a Secret."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-keyout", str(folder / f"{name}.key"), "-out", str(folder / f"{name}.crt")],
                   check=True, capture_output=True)
    return (folder / f"{name}.crt").read_text(), (folder / f"{name}.key").read_text()


def tls_secret(name: str, cert: str, key: str) -> str:
    import base64

    b64 = {k: base64.b64encode(v.encode()).decode() for k, v in (("crt", cert), ("key", key))}
    return (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\n"
            f"type: kubernetes.io/tls\ndata:\n  tls.crt: {b64['crt']}\n"
            f"  tls.key: {b64['key']}\n")


def nginx_accepts(conf: str, tmp_path, certs=()) -> str:
    """What nginx -t says of CONF ('' when it is accepted), with the default certificate and
    CERTS (Secrets) where the controller would have written them."""
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        pytest.fail("nginx is not installed: run scripts/setup")
    run = tmp_path / "run"
    (run / "certs").mkdir(parents=True, exist_ok=True)
    make_cert(tmp_path, "default", "Kubernetes Ingress Controller Fake Certificate")
    for s in certs:
        (run / "certs" / f"{s.namespace}-{s.name}.pem").write_text(s.key + s.cert)
    conf = conf.replace("/tmp/nginx", str(run)).replace("/run/netlab-ingress", str(tmp_path))
    (tmp_path / "nginx.conf").write_text(conf)
    r = subprocess.run(["/usr/sbin/nginx", "-t", "-q", "-e", "stderr", "-p", str(run), "-c",
                        str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    return "" if r.returncode == 0 else r.stderr


# -- the loader ---------------------------------------------------------------------------


def test_legacy_apis_are_converted_as_the_apiserver_did():
    legacy = ("{path: /web, backend: {serviceName: web-svc-cip, servicePort: 80}}, "
              "{backend: {serviceName: v2, servicePort: http}}")
    for api in ("networking.k8s.io/v1beta1", "extensions/v1beta1"):
        plan = plan_of(ingress("old", f"[{legacy}]", api=api,
                               extra="  backend: {serviceName: v2, servicePort: 80}"))
        (ing,) = plan.ingresses
        paths = ing.rules[0].paths
        assert [(p.path, p.path_type, p.backend.service, p.backend.port) for p in paths] == [
            ("/web", "ImplementationSpecific", "web-svc-cip", 80),
            ("", "ImplementationSpecific", "v2", "http")]
        assert (ing.default_backend.service, ing.default_backend.port) == ("v2", 80)


@pytest.mark.parametrize("paths,annotations,message", [
    ("[{path: /a, backend: {service: {name: web-svc-cip, port: {number: 80}}}}]", "",
     "pathType is required"),
    (f"[{v1path('a')}]", "", "must be an absolute path"),
    (f"[{v1path('/a//b')}]", "", "must not contain '//'"),
    (f"[{v1path('/a b', kind='ImplementationSpecific')}]", "",
     "characters an nginx location cannot hold"),
    (f"[{v1path('/a')}]", '"nginx.ingress.kubernetes.io/configuration-snippet": "deny all;"',
     "configuration-snippet is refused"),
    (f"[{v1path('/a')}]", '"nginx.ingress.kubernetes.io/server-snippet": "x"',
     "server-snippet is refused"),
    (f"[{v1path('/a')}]", '"nginx.ingress.kubernetes.io/rewrite-target": "/$host"',
     "must be a path such as / or /$2"),
    (f"[{v1path('/a')}]", '"nginx.ingress.kubernetes.io/canary-weight": "half"',
     "must be a whole number"),
    (f"[{v1path('/a')}]", '"nginx.ingress.kubernetes.io/backend-protocol": "GRPC"',
     "backend-protocol 'GRPC' is not supported"),
    ("[{path: /a, pathType: Prefix, backend: {resource: {kind: Bucket, name: b}}}]", "",
     "resource backends are not supported"),
])
def test_bad_ingresses_are_refused_before_anything_is_made(paths, annotations, message):
    with pytest.raises(ScenarioError, match=message.replace("$", r"\$").replace("(", r"\(")):
        plan_of(ingress("bad", paths, annotations))


def test_a_host_must_be_a_name_not_an_address():
    with pytest.raises(ScenarioError, match="not an IP address"):
        plan_of(ingress("bad", f"[{v1path('/')}]", host="10.0.0.1"))


# -- what the controllers serve -----------------------------------------------------------


def test_the_lab_runs_ingress_nginx_only_when_an_ingress_wants_it():
    assert not any(d.name == "ingress-nginx-controller" for d in plan_of().workloads)
    plan = plan_of(ingress("web", f"[{v1path('/')}]"))
    (ctl,) = [d for d in plan.workloads if d.name == "ingress-nginx-controller"]
    assert ctl.namespace == "ingress-nginx" and ctl.kind == "Deployment"
    (svc,) = [i.service for i in plan.services if i.service.name == "ingress-nginx-controller"]
    assert (svc.type, svc.external_traffic_policy) == ("LoadBalancer", "Local")
    assert [(c.name, c.default) for c in plan.ingress_classes] == [("nginx", True)]
    other = plan_of(ingress("web", f"[{v1path('/')}]", cls="traefik"))
    assert not any(d.name == "ingress-nginx-controller" for d in other.workloads)


def test_classes_decide_which_controller_serves_an_ingress():
    plan = plan_of(ingress("plain", f"[{v1path('/a')}]"),
                   ingress("mine", f"[{v1path('/b')}]", cls="nginx"),
                   ingress("theirs", f"[{v1path('/c')}]", cls="traefik"),
                   ingress("old", f"[{v1path('/d')}]",
                           annotations='"kubernetes.io/ingress.class": traefik'))
    assert routes(plan, "nginx").claimed == ["default/plain", "default/mine"]
    assert routes(plan, "traefik").claimed == ["default/theirs", "default/old"]


def test_locations_in_ingress_nginx_order_with_prefix_normalised():
    plan = plan_of(ingress("a", f"[{v1path('/a')}, {v1path('/a/b', 'v2', 'Exact')}, "
                                f"{v1path('/ab', kind='ImplementationSpecific')}]"))
    (server,) = routes(plan).servers
    assert [(loc.path, loc.path_type) for loc in server.locations] == [
        ("/a/b", "Exact"), ("/ab", "ImplementationSpecific"), ("/a/", "Prefix"),
        ("/a", "Exact"), ("/", "Prefix")]


def test_one_regex_ingress_makes_every_location_of_its_host_a_regex():
    plan = plan_of(ingress("a", f"[{v1path('/a')}]", host="x.example.com"),
                   ingress("b", f"[{v1path('/b(/|$)(.*)', kind='ImplementationSpecific')}]",
                           annotations='"nginx.ingress.kubernetes.io/rewrite-target": "/$2"',
                           host="x.example.com"))
    server = next(s for s in routes(plan).servers if s.host == "x.example.com")
    assert all(loc.regex for loc in server.locations)
    assert [loc.path for loc in server.locations] == ["/b(/|$)(.*)", "/a", "/"]


def test_a_canary_without_its_main_ingress_is_ignored_with_a_note():
    plan = plan_of(ingress("c", f"[{v1path('/x', 'v2')}]",
                           annotations='"nginx.ingress.kubernetes.io/canary": "true"'))
    r = routes(plan)
    assert r.notes == [("default/c", "canary for _/x has no main Ingress with that host and "
                                     "path: ignored")]


def test_upstreams_are_the_ready_endpoints_not_the_cluster_ip():
    plan = plan_of(ingress("a", f"[{v1path('/')}, {v1path('/gone', 'missing')}]"))
    ups = routes(plan).upstreams
    assert ups["default-web-svc-cip-80"].servers == (
        ("10.244.0.2", 8000), ("10.244.0.3", 8000), ("10.244.0.4", 8000))
    assert ups["default-missing-80"].missing == 'service "missing" not found'


# -- nginx.conf ---------------------------------------------------------------------------

EVERYTHING = [
    ingress("web", "[{path: /web, backend: {serviceName: web-svc-cip, servicePort: 80}}]",
            '"nginx.ingress.kubernetes.io/rewrite-target": /', api="networking.k8s.io/v1beta1"),
    ingress("canary", f"[{v1path('/web', 'v2', 'ImplementationSpecific')}]",
            '"nginx.ingress.kubernetes.io/canary": "true", '
            '"nginx.ingress.kubernetes.io/canary-by-header": X-Canary, '
            '"nginx.ingress.kubernetes.io/canary-by-header-value": yes-please, '
            '"nginx.ingress.kubernetes.io/canary-by-cookie": canary, '
            '"nginx.ingress.kubernetes.io/canary-weight": "30", '
            '"nginx.ingress.kubernetes.io/canary-weight-total": "1000"'),
    ingress("hosts", f"[{v1path('/a')}, {v1path('/a/b', 'v2', 'Exact')}]",
            '"nginx.ingress.kubernetes.io/affinity": cookie, '
            '"nginx.ingress.kubernetes.io/app-root": /a, '
            '"nginx.ingress.kubernetes.io/proxy-read-timeout": "120", '
            '"nginx.ingress.kubernetes.io/proxy-body-size": 8m', host="foo.example.com"),
    ingress("wild", f"[{v1path('/', 'nothing-here')}]", host="'*.bar.com'"),
    ingress("tls", f"[{v1path('/', 'v2')}]",
            '"nginx.ingress.kubernetes.io/backend-protocol": HTTPS, '
            '"nginx.ingress.kubernetes.io/canary-by-header-pattern": "^v[0-9]+$"',
            host="secure.example.com",
            extra="  tls: [{hosts: [secure.example.com], secretName: secure-tls}]"),
    ingress("regex", f"[{v1path('/something(/|$)(.*)', kind='ImplementationSpecific')}]",
            '"nginx.ingress.kubernetes.io/use-regex": "true", '
            '"nginx.ingress.kubernetes.io/rewrite-target": /$2', host="re.example.com"),
    ingress("forced", f"[{v1path('/', 'v2')}]",
            '"nginx.ingress.kubernetes.io/force-ssl-redirect": "true", '
            '"nginx.ingress.kubernetes.io/proxy-connect-timeout": "3", '
            '"nginx.ingress.kubernetes.io/proxy-send-timeout": "30"', host="forced.example.com"),
    ingress("default", f"[{v1path('/x', 'v2', 'Exact')}]", host="d.example.com",
            extra="  defaultBackend: {service: {name: v2, port: {number: 80}}}"),
    ingress("pattern-canary", f"[{v1path('/', 'web-svc-cip')}]",
            '"nginx.ingress.kubernetes.io/canary": "true", '
            '"nginx.ingress.kubernetes.io/canary-by-header": X-Version, '
            '"nginx.ingress.kubernetes.io/canary-by-header-pattern": "^v[0-9]+$"',
            host="secure.example.com"),
    ingress("no-redirect", f"[{v1path('/', 'v2')}]",
            '"nginx.ingress.kubernetes.io/ssl-redirect": "false"', host="quiet.example.com",
            extra="  tls: [{hosts: [quiet.example.com], secretName: secure-tls}]"),
    ingress("plain-canary", f"[{v1path('/x', 'web-svc-cip', 'Exact')}]",
            '"nginx.ingress.kubernetes.io/canary": "true", '
            '"nginx.ingress.kubernetes.io/canary-by-header": canary', host="d.example.com"),
]


def test_ingress_nginx_config_golden(tmp_path):
    cert, key = make_cert(tmp_path, "secure", "secure.example.com")
    r = routes(plan_of(*EVERYTHING, tls_secret("secure-tls", cert, key)))
    conf = render(r, "/tmp/nginx")
    assert_golden("ingress-nginx.conf", conf)
    assert nginx_accepts(conf, tmp_path, r.certs.values()) == ""


def test_traefik_config_golden(tmp_path):
    docs = [d.replace("spec:\n", "spec:\n  ingressClassName: traefik\n", 1) for d in EVERYTHING]
    conf = render(routes(plan_of(*docs), "traefik"), "/tmp/nginx", api_port=8080,
                  user="root root")
    assert_golden("traefik.conf", conf)
    assert nginx_accepts(conf, tmp_path) == ""
    assert 'rewrite "' not in conf and "$canary" not in conf  # nginx's annotations ignored
    assert "location /a {" in conf  # Traefik 1.7's PathPrefix: a string prefix
    assert 'return 404 "404 page not found\\n";' in conf


def test_an_invalid_regex_fails_nginx_t(tmp_path):
    """What the controller tests before it swaps a configuration in."""
    plan = plan_of(ingress("bad", f"[{v1path('/foo(', kind='ImplementationSpecific')}]",
                           '"nginx.ingress.kubernetes.io/use-regex": "true"'))
    assert "pcre2_compile() failed" in nginx_accepts(render(routes(plan), "/tmp/nginx"),
                                                     tmp_path)


# -- the controllers' reports as events ---------------------------------------------------


def test_reports_become_ingress_nginx_events():
    first = {"reloads": 1, "ok": True, "claimed": ["default/web"]}
    assert status.events("ingress-nginx/ctl", {}, first) == [
        ("default/ingress/web", "Normal", "Sync", "Scheduled for sync"),
        ("ingress-nginx/ctl", "Normal", "RELOAD",
         "NGINX reload triggered due to a change in configuration")]
    bad = {**first, "ok": False, "error": "nginx: [emerg] pcre2_compile() failed",
           "culprits": ["default/bad"], "claimed": ["default/web", "default/bad"]}
    got = status.events("ingress-nginx/ctl", first, bad)
    assert ("default/ingress/bad", "Warning", "Sync", "Error reloading NGINX (the previous "
            "configuration is kept): nginx: [emerg] pcre2_compile() failed") in got
    assert not any(e[2] == "RELOAD" and e[1] == "Normal" for e in got)
    assert status.events("ingress-nginx/ctl", bad, bad) == []


def test_the_host_network_variant_is_a_daemonset_on_every_node():
    sc = scenario(lab_doc(nodes=("node1", "node2")).replace(
        "clusterDNS: false", "clusterDNS: false\n  ingress: {service: hostNetwork}"),
        deployment(), service(), ingress("web", f"[{v1path('/')}]"))
    plan, _ = plan_lab(sc, sets=tuple(initial_rollout(sc).sets.values()))
    (ctl,) = [d for d in plan.workloads if d.name == "ingress-nginx-controller"]
    assert ctl.kind == "DaemonSet" and ctl.template.host_network
    assert [p.host_port for p in ctl.template.containers[0].ports] == [80, 443]
    assert sorted(p.node for p in plan.pods if p.namespace == "ingress-nginx") == \
        ["node1", "node2"]
    assert not any(i.service.name == "ingress-nginx-controller" for i in plan.services)


SANDBOXED = r"""
import json, sys
from netlab.ingress import run  # what the launcher imports before the container starts
from netlab.model.codec import to_data
from tests.test_ingress import plan_of, ingress, v1path

state = json.loads(json.dumps({"plan": to_data(plan_of(ingress("web", f"[{v1path('/')}]")))}))


class Sandbox:  # a container's view: netlab's and its venv's files are not there
    def find_spec(self, name, path=None, target=None):
        raise ImportError(f"cannot import {name} in the container")


sys.meta_path.insert(0, Sandbox())
plan = run.from_data(run.LabPlan, state["plan"])
controller = run.IngressController("/nonexistent", "nginx", "/tmp/nginx", "/nonexistent")
conf, claimed, _certs = controller._render(plan)
print(claimed, "proxy_pass http://default-web-svc-cip-80;" in conf)
"""


def test_the_controller_renders_where_it_cannot_import():
    """The controller runs in a container that may not see netlab's files (a checkout under
    /tmp): following the lab must need nothing it did not import before."""
    import sys

    out = subprocess.run([sys.executable, "-c", SANDBOXED], capture_output=True, text=True,
                         check=False, cwd=pathlib.Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['default/web']", "True"], out.stdout


def test_describe_says_when_no_controller_of_the_lab_serves_the_class():
    import time

    from netlab.objects import describe_ingress
    from netlab.objects.common import LabView

    plan = plan_of(ingress("theirs", f"[{v1path('/')}]", cls="haproxy"),
                   ingress("mine", f"[{v1path('/', 'missing')}]"))
    view = LabView(plan, {}, time.time())
    theirs, mine = plan.ingresses
    text = describe_ingress(view, theirs, time.time())
    assert "Ingress Class:    haproxy (no ingress controller in this lab serves it)" in text
    assert "Address:          \n" in text
    text = describe_ingress(view, mine, time.time())
    assert "Ingress Class:    nginx\n" in text
    assert 'missing:80 (<error: service "missing" not found>)' in text


def test_the_location_nginx_chooses_for_a_host_and_path():
    from netlab.ingress.routes import choose

    r = routes(plan_of(ingress("a", f"[{v1path('/a')}, {v1path('/a/b', 'v2', 'Exact')}, "
                                    f"{v1path('/ab', kind='ImplementationSpecific')}]")))
    picked = {p: (choose(r, "any", p)[1].path, choose(r, "any", p)[1].path_type)
              for p in ("/a/b", "/a/c", "/a", "/abc", "/zzz")}
    assert picked == {"/a/b": ("/a/b", "Exact"), "/a/c": ("/a/", "Prefix"),
                      "/a": ("/a", "Exact"), "/abc": ("/ab", "ImplementationSpecific"),
                      "/zzz": ("/", "Prefix")}
    assert choose(r, "any", "/a/b")[1].upstream.service == "default/v2"
    regex = routes(plan_of(
        ingress("a", f"[{v1path('/a')}]", host="x.example.com"),
        ingress("b", f"[{v1path('/b(/|$)(.*)', kind='ImplementationSpecific')}]",
                annotations='"nginx.ingress.kubernetes.io/rewrite-target": "/$2"',
                host="x.example.com")))
    assert [choose(regex, "X.example.com:80", p)[1].path for p in ("/b/x", "/a/x", "/q")] == \
        ["/b(/|$)(.*)", "/a", "/"]
    assert choose(regex, "elsewhere", "/b/x")[0].host == "_"

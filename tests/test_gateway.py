"""The Gateway API without root: the loader's refusals, which routes attach where and in what
order, the statuses describe shows, and a golden nginx.conf that real `nginx -t` accepts.

Address plan: lab t, one node; pods 10.244.0.0/24 in creation order (web .2-.4 on 8000, v2
.5-.6); a Service other/remote without endpoints.
"""

from __future__ import annotations

import pytest

from netlab.errors import ScenarioError
from netlab.ingress.gateway import gateway_plan
from netlab.ingress.gateway_nginx import render_gateway
from netlab.plan.build import initial_rollout, plan_lab
from tests.helpers import deployment, lab_doc, scenario, service
from tests.test_ingress import assert_golden, nginx_accepts

CLASS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: nginx}
spec: {controllerName: gateway.nginx.org/nginx-gateway-controller}
"""
GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: nginx
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - {name: shop, protocol: HTTP, port: 8080, hostname: "*.shop.example.com",
     allowedRoutes: {namespaces: {from: All}}}
"""
OTHER = """\
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: remote, namespace: other}
spec: {selector: {app: remote}, ports: [{port: 80, targetPort: 8000}]}
"""


def route(name: str, rules: str, extra: str = "", ns: str = "default") -> str:
    return (f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
            f"metadata: {{name: {name}, namespace: {ns}}}\nspec:\n"
            f"  parentRefs: [{{name: gw, namespace: default}}]\n{extra}  rules: {rules}\n")


def plan_of(*docs: str):
    sc = scenario(lab_doc(), deployment(), service(), deployment("v2", 2), service("v2", "v2"),
                  OTHER, CLASS, GATEWAY, *docs)
    plan, _ = plan_lab(sc, sets=tuple(initial_rollout(sc).sets.values()))
    return plan


def test_each_gateway_gets_a_deployment_and_a_load_balancer_service():
    plan = plan_of()
    (d,) = [d for d in plan.workloads if d.name == "gw-nginx"]
    assert dict(d.template_labels)["gateway.networking.k8s.io/gateway-name"] == "gw"
    (svc,) = [i.service for i in plan.services if i.service.name == "gw-nginx"]
    assert svc.type == "LoadBalancer" and [p.port for p in svc.ports] == [80, 8080]


@pytest.mark.parametrize("doc,message", [
    (route("r", "[{filters: [{type: RequestMirror}], backendRefs: [{name: v2, port: 80}]}]"),
     "filter 'RequestMirror' is not supported"),
    (route("r", "[{backendRefs: [{name: v2}]}]"), "needs its port"),
    (route("r", "[{matches: [{path: {type: PathPrefix, value: 'a b'}}]}]"),
     "must be an absolute path"),
    (route("r", "[{matches: [{headers: [{name: x, value: 'a\"b'}]}]}]"),
     "has characters nginx cannot hold"),
    (GATEWAY.replace("name: gw}", "name: gw2}").replace("protocol: HTTP, port: 80",
                                                          "protocol: TCP, port: 80"),
     "protocol 'TCP' is not supported"),
])
def test_what_netlab_does_not_serve_is_refused(doc, message):
    with pytest.raises(ScenarioError, match=message):
        plan_of(doc)


def test_attachment_hostnames_and_reference_grants_decide_the_statuses():
    plan = plan_of(
        route("plain", "[{backendRefs: [{name: web-svc-cip, port: 80}]}]"),
        route("shop", "[{backendRefs: [{name: v2, port: 80}]}]",
              "  hostnames: [a.shop.example.com, www.other.org]\n"),
        route("far", "[{backendRefs: [{name: remote, namespace: other, port: 80}]}]"),
        route("foreign", "[{backendRefs: [{name: remote, port: 80}]}]", ns="other"))
    gp = gateway_plan(plan, plan.gateways[0])
    hosts = sorted((s.port, s.host) for s in gp.servers)
    # plain: both listeners (the shop one narrows it to its wildcard); shop: a.shop on 8080
    # and on 80 both its names; foreign: only the listener that allows every namespace
    # (http: plain, shop, far; shop: all four)
    assert hosts == [(80, "_"), (80, "a.shop.example.com"), (80, "www.other.org"),
                     (8080, "*.shop.example.com"), (8080, "a.shop.example.com")]
    assert gp.listener_status["http"][0] == 3 and gp.listener_status["shop"][0] == 4
    assert gp.route_status["default/far"][1][:3] == ("ResolvedRefs", "False",
                                                     "RefNotPermitted")
    assert gp.route_status["other/foreign"][0][:2] == ("Accepted", "True")
    grant = ("apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
             "metadata: {name: g, namespace: other}\nspec:\n"
             "  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]\n"
             "  to: [{group: '', kind: Service}]\n")
    plan = plan_of(route("far", "[{backendRefs: [{name: remote, namespace: other, port: 80}]}]"),
                   grant)
    gp = gateway_plan(plan, plan.gateways[0])
    assert gp.route_status["default/far"][1][:2] == ("ResolvedRefs", "True")


def test_matches_in_the_apis_precedence():
    plan = plan_of(route("r", "[{matches: [{path: {type: PathPrefix, value: /a}}], "
                              "backendRefs: [{name: v2, port: 80}]}, "
                              "{matches: [{path: {type: PathPrefix, value: /a}, method: GET, "
                              "headers: [{name: x, value: '1'}]}], "
                              "backendRefs: [{name: v2, port: 80}]}, "
                              "{matches: [{path: {type: Exact, value: /a}}], "
                              "backendRefs: [{name: web-svc-cip, port: 80}]}, "
                              "{matches: [{path: {type: PathPrefix, value: /a/b}}], "
                              "backendRefs: [{name: web-svc-cip, port: 80}]}]"))
    (server,) = [s for s in gateway_plan(plan, plan.gateways[0]).servers if s.port == 80]
    assert [(t.match.path_type, t.match.path, t.match.method) for t in server.targets] == [
        ("Exact", "/a", ""), ("PathPrefix", "/a/b", ""), ("PathPrefix", "/a", "GET"),
        ("PathPrefix", "/a", "")]


def test_gateway_config_golden(tmp_path):
    plan = plan_of(route("r", """
    - matches: [{path: {type: PathPrefix, value: /web}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch,
                 replacePrefixMatch: /}}}]
      backendRefs: [{name: web-svc-cip, port: 80, weight: 80}, {name: v2, port: 80, weight: 20}]
    - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: canary, value: always}],
                 queryParams: [{name: tier, type: RegularExpression, value: "gold|silver"}]}]
      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Env,
                 value: canary}], add: [{name: X-Tag, value: a}], remove: [X-Drop]}}]
      backendRefs: [{name: v2, port: 80}]
    - matches: [{path: {type: Exact, value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
    - matches: [{path: {type: PathPrefix, value: /gone}}]
      backendRefs: [{name: remote, namespace: other, port: 80}]
    - backendRefs: [{name: web-svc-cip, port: 80}]""", "  hostnames: [web.example.com]\n"))
    conf = render_gateway(gateway_plan(plan, plan.gateways[0]), "/tmp/nginx")
    assert_golden("gateway.conf", conf)
    assert nginx_accepts(conf, tmp_path) == ""


def test_an_https_listener_serves_its_secret(tmp_path):
    from tests.test_ingress import make_cert, tls_secret

    cert, key = make_cert(tmp_path, "gw", "secure.example.com")
    https = GATEWAY.replace("name: gw}", "name: gw2}").replace(
        "  - {name: http, protocol: HTTP, port: 80}\n",
        "  - {name: https, protocol: HTTPS, port: 443, hostname: secure.example.com,\n"
        "     tls: {certificateRefs: [{name: gw-tls}]}}\n")
    plan = plan_of(https, tls_secret("gw-tls", cert, key),
                   route("r", "[{backendRefs: [{name: v2, port: 80}]}]").replace(
                       "name: gw,", "name: gw2,"))
    gw = next(g for g in plan.gateways if g.name == "gw2")
    gp = gateway_plan(plan, gw)
    conf = render_gateway(gp, "/tmp/nginx")
    assert "listen 443 ssl;" in conf and "certs/default-gw-tls.pem" in conf
    assert gp.listener_status["https"][1][1][:2] == ("ResolvedRefs", "True")
    assert nginx_accepts(conf, tmp_path, plan.tls_secrets) == ""

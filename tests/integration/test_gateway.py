"""A Gateway served by real nginx in its own pod: filters as a client sees them, a
cross-namespace backend refused until a ReferenceGrant allows it, the statuses describe shows.

Address plan: lab network 172.18.0.0/24 (node1 .2, laptop .254); MetalLB pool
172.18.0.240-172.18.0.250 on the lab network, so the Gateway's Service gets 172.18.0.240.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import netlab, unique_name, wait_for

pytestmark = pytest.mark.root

LAB = """\
apiVersion: netlab/v1
kind: Lab
metadata: {{name: {name}}}
spec:
  nodes: [node1]
  clients: [laptop]
  clusterDNS: false
  loadBalancer: {{provider: metallb}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lab, namespace: metallb-system}}
spec: {{addresses: [172.18.0.240-172.18.0.250]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lab, namespace: metallb-system}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: other}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: remote, namespace: other}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: remote}}}}
  template:
    metadata: {{labels: {{app: remote}}}}
    spec:
      containers: [{{name: web, image: nginx, ports: [{{containerPort: 8000}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: remote, namespace: other}}
spec: {{selector: {{app: remote}}, ports: [{{port: 80, targetPort: 8000}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: nginx, ports: [{{containerPort: 8000}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8000}}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: nginx}}
spec: {{controllerName: gateway.nginx.org/nginx-gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: nginx
  listeners: [{{name: http, protocol: HTTP, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /hdr}}}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{name: X-Env, value: lab}}]
        add: [{{name: X-Tag, value: b}}]
        remove: [X-Drop]
    backendRefs: [{{name: web, port: 80}}]
  - matches: [{{path: {{type: Exact, value: /old}}}}]
    filters: [{{type: RequestRedirect, requestRedirect: {{hostname: new.example.com,
               statusCode: 301, path: {{type: ReplaceFullPath, replaceFullPath: /new}}}}}}]
  - matches: [{{path: {{type: PathPrefix, value: /far}}}}]
    backendRefs: [{{name: remote, namespace: other, port: 80}}]
  - backendRefs: [{{name: web, port: 80}}]
"""
GRANT = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web-routes, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service, name: remote}]
"""


@pytest.fixture
def lab(tmp_path):
    name = unique_name("gw")
    (tmp_path / "lab.yaml").write_text(LAB.format(name=name))
    r = netlab("up", str(tmp_path / "lab.yaml"), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        yield name, tmp_path
    finally:
        netlab("down", name)


def laptop(name: str, *argv: str) -> str:
    r = netlab("exec", "--lab", name, "client/laptop", "--", "curl", "-s", "-m", "3", *argv)
    return r.stdout


def test_filters_grants_and_statuses(lab):
    name, folder = lab
    out = netlab("get", "gateway", "--lab", name).stdout.splitlines()
    assert out[1].split()[:4] == ["gw", "nginx", "172.18.0.240", "True"], out
    url = "http://172.18.0.240"
    body = laptop(name, "-H", "X-Tag: a", "-H", "X-Drop: 1", "-H", "X-Env: prod",
                  f"{url}/hdr")
    assert "X-Env: lab" in body and "X-Tag: a,b" in body and "X-Drop" not in body, body
    assert "GET /hdr HTTP/1.1" in body
    head = laptop(name, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                  f"{url}/old?x=1")
    assert head == "301 http://new.example.com/new?x=1", head
    assert laptop(name, "-o", "/dev/null", "-w", "%{http_code}", f"{url}/far") == "500"
    text = netlab("describe", "httproute/web", "--lab", name).stdout
    assert "RefNotPermitted" in text, text
    (folder / "grant.yaml").write_text(GRANT)
    assert netlab("apply", "-f", str(folder / "grant.yaml"), "--lab", name).returncode == 0
    body = wait_for("the granted backend", lambda: (b := laptop(name, f"{url}/far"))
                    and "Hostname: remote-" in b and b)
    assert "GET /far HTTP/1.1" in body
    text = netlab("describe", "httproute/web", "--lab", name).stdout
    assert "All references are resolved" in text, text
    text = netlab("describe", "gateway/gw", "--lab", name).stdout
    assert "Attached Routes:  1" in text and "Value:  172.18.0.240" in text, text
    assert "Gateway is Accepted" in text, text

"""ingress-nginx's controller running real nginx in its pod: reloads that drop no request, a
configuration nginx refuses (kept out, reported on the Ingress), what describe shows, 503 for
a Service without endpoints.

Address plan: lab network 172.18.0.0/24 (node1 .2); pods 10.244.0.0/24; the controller's
Service is a NodePort one (ingress-nginx's bare-metal manifest), reached here at the
controller pod's own address from node1.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from netlab.plan import naming
from tests.integration.conftest import netlab, unique_name, wait_for

pytestmark = pytest.mark.root

LAB = """\
apiVersion: netlab/v1
kind: Lab
metadata: {{name: {name}}}
spec:
  nodes: [node1]
  clusterDNS: false
  ingress: {{service: NodePort}}
"""
APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 8000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nobody}
  ports: [{port: 80, targetPort: 8000}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /empty, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
"""
BAD = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
  annotations: {nginx.ingress.kubernetes.io/use-regex: "true"}
spec:
  rules:
  - host: bad.example.com
    http:
      paths:
      - {path: "/foo(", pathType: ImplementationSpecific,
         backend: {service: {name: web, port: {number: 80}}}}
"""


@pytest.fixture
def lab(tmp_path):
    name = unique_name("ing")
    (tmp_path / "lab.yaml").write_text(LAB.format(name=name) + "---\n" + APP)
    r = netlab("up", str(tmp_path / "lab.yaml"), "--no-checks")
    try:
        assert r.returncode == 0, r.stderr
        yield name, tmp_path
    finally:
        netlab("down", name)


def controller_ip(name: str) -> str:
    r = netlab("get", "pods", "-n", "ingress-nginx", "-o", "wide", "--lab", name)
    (row,) = [line.split() for line in r.stdout.splitlines()[1:]]
    assert row[2] == "Running", r.stdout
    return row[5]


def curl(name: str, ip: str, host: str, path: str = "/") -> tuple[int, str]:
    r = subprocess.run(["nsenter", f"--net=/run/netns/{naming.node_netns(name, 'node1')}",
                        "--", "curl", "-s", "-m", "3", "-H", f"Host: {host}", "-w",
                        "\n%{http_code}", f"http://{ip}{path}"],
                       capture_output=True, text=True, timeout=10, check=False)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def reload_count(name: str) -> int:
    """How many reloads the controller has reported (its RELOAD events)."""
    out = netlab("get", "events", "-n", "ingress-nginx", "-o", "json", "--lab", name).stdout
    return sum(e["count"] for e in json.loads(out)["items"]
               if e["reason"] == "RELOAD" and e["type"] == "Normal")


def test_reloads_drop_no_request(lab):
    """Endpoints and Ingresses change while a client keeps sending: nginx reloads each time
    (SIGHUP: old workers finish their requests), and no request fails."""
    name, folder = lab
    ip = controller_ip(name)
    loop = ('ok=0; bad=0; end=$(($(date +%s)+10)); '
            'while [ "$(date +%s)" -lt "$end" ]; do '
            f'if curl -sf -m 2 -o /dev/null -H "Host: web.example.com" http://{ip}/; '
            'then ok=$((ok+1)); else bad=$((bad+1)); fi; done; echo "ok=$ok bad=$bad"')
    stream = subprocess.Popen(["nsenter", f"--net=/run/netns/{naming.node_netns(name, 'node1')}",
                               "--", "sh", "-c", loop], stdout=subprocess.PIPE, text=True)
    try:
        for replicas in ("5", "2"):
            before = reload_count(name)
            r = netlab("scale", "deploy/web", f"--replicas={replicas}", "--lab", name)
            assert r.returncode == 0, r.stderr
            wait_for("nginx to reload", lambda b=before: reload_count(name) > b)
        (folder / "more.yaml").write_text(APP.split("---\n")[-1].replace(
            "{path: /empty,", "{path: /more, pathType: Prefix, backend: {service: {name: web, "
            "port: {number: 80}}}}\n      - {path: /empty,"))
        r = netlab("apply", "-f", str(folder / "more.yaml"), "--lab", name)
        assert r.returncode == 0, r.stderr
        out, _ = stream.communicate(timeout=30)
    finally:
        stream.kill()
    ok, bad = (int(x.split("=")[1]) for x in out.split())
    print(f"request stream through 3 reloads: {ok} answered, {bad} failed")
    assert bad == 0 and ok > 20, out
    assert curl(name, ip, "web.example.com", "/more")[0] == 200
    events = netlab("get", "events", "-n", "ingress-nginx", "--lab", name).stdout
    reloads = [line for line in events.splitlines() if "RELOAD" in line]
    assert reloads and "NGINX reload triggered due to a change in configuration" in reloads[0]


def test_a_configuration_nginx_refuses_is_kept_out_and_reported(lab):
    name, folder = lab
    ip = controller_ip(name)
    (folder / "bad.yaml").write_text(BAD)
    r = netlab("apply", "-f", str(folder / "bad.yaml"), "--lab", name)
    assert r.returncode == 0, r.stderr  # the apiserver accepts it; nginx -t does not

    def reported() -> str:
        out = netlab("describe", "ingress/bad", "--lab", name).stdout
        return out if "Error reloading NGINX" in out else ""
    out = wait_for("the Warning on the Ingress", reported)
    assert re.search(r"Warning +Sync .*pcre2_compile\(\) failed", out), out
    # the previous configuration still serves, and the bad host is not served
    assert curl(name, ip, "web.example.com")[0] == 200
    assert curl(name, ip, "bad.example.com", "/foo")[0] == 404


def test_describe_shows_backends_and_an_empty_service_answers_503(lab):
    name, _ = lab
    ip = controller_ip(name)
    out = netlab("describe", "ingress/web", "--lab", name).stdout
    assert "Address:          172.18.0.2" in out, out  # the node the controller runs on
    assert "Ingress Class:    nginx" in out, out
    web = next(line for line in out.splitlines() if "web:80 (" in line)
    assert web.count(":8000") == 3, out  # the pods' addresses, not the ClusterIP
    assert "empty:80 ()" in out, out
    assert re.search(r"Normal +Sync .* Scheduled for sync", out), out
    code, body = curl(name, ip, "web.example.com", "/empty")
    assert code == 503 and "503 Service Temporarily Unavailable" in body, body
    code, body = curl(name, ip, "web.example.com", "/anything")
    assert code == 200 and "Hostname: web-" in body
    table = netlab("get", "ingress", "--lab", name).stdout.splitlines()
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert table[1].split()[:5] == ["web", "nginx", "web.example.com", "172.18.0.2", "80"]


STICKY = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sticky
  annotations: {nginx.ingress.kubernetes.io/affinity: cookie}
spec:
  rules:
  - host: sticky.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"""


def test_cookie_affinity_keeps_a_client_on_one_pod(lab):
    """affinity: cookie: the first answer sets INGRESSCOOKIE; a client that sends it back
    stays on one pod, a client without it is spread."""
    name, folder = lab
    ip = controller_ip(name)
    (folder / "sticky.yaml").write_text(STICKY)
    assert netlab("apply", "-f", str(folder / "sticky.yaml"), "--lab", name).returncode == 0
    jar = f"/tmp/{name}.cookies"
    node = naming.node_netns(name, "node1")

    def backends(*cookie: str) -> set[str]:
        seen = set()
        for _ in range(12):
            r = subprocess.run(["nsenter", f"--net=/run/netns/{node}", "--", "curl", "-s",
                                "-m", "3", *cookie, "-H", "Host: sticky.example.com",
                                f"http://{ip}/"], capture_output=True, text=True, check=False)
            seen |= {line.split()[1] for line in r.stdout.splitlines()
                     if line.startswith("Hostname: ")}
        return seen
    try:
        wait_for("the sticky host", lambda: curl(name, ip, "sticky.example.com")[0] == 200)
        assert len(backends()) > 1  # no cookie sent back: spread
        assert len(backends("-c", jar, "-b", jar)) == 1
        with open(jar, encoding="ascii") as f:
            assert "INGRESSCOOKIE" in f.read()
    finally:
        subprocess.run(["rm", "-f", jar], check=False)


def test_tls_from_a_secret_redirects_http_and_others_get_the_fake_certificate(lab):
    """spec.tls with a kubernetes.io/tls Secret: https answers with its certificate, http
    gets ingress-nginx's 308 to https (ssl-redirect's default); a host without a Secret is
    served with the controller's "Kubernetes Ingress Controller Fake Certificate"."""
    import base64

    name, folder = lab
    ip = controller_ip(name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=secure.example.com", "-keyout", str(folder / "tls.key"), "-out",
                    str(folder / "tls.crt")], check=True, capture_output=True)
    b64 = {k: base64.b64encode((folder / f"tls.{k}").read_bytes()).decode()
           for k in ("crt", "key")}
    (folder / "tls.yaml").write_text(f"""\
apiVersion: v1
kind: Secret
metadata: {{name: secure-tls}}
type: kubernetes.io/tls
data: {{tls.crt: {b64['crt']}, tls.key: {b64['key']}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: secure}}
spec:
  tls: [{{hosts: [secure.example.com], secretName: secure-tls}}]
  rules:
  - host: secure.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
""")
    r = netlab("apply", "-f", str(folder / "tls.yaml"), "--lab", name)
    assert r.returncode == 0, r.stderr
    node = naming.node_netns(name, "node1")

    def https(host: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net=/run/netns/{node}", "--", "curl", "-skv",
                               "-m", "3", "--resolve", f"{host}:443:{ip}",
                               f"https://{host}/"], capture_output=True, text=True,
                              check=False)
    r = wait_for("https with the Secret's certificate",
                 lambda: (x := https("secure.example.com")) and
                 "CN=secure.example.com" in x.stderr and x)
    assert "Hostname: web-" in r.stdout, r.stdout + r.stderr
    # (old workers may take a connection or two just after a reload: wait for the new ones)
    def redirect() -> str:
        return subprocess.run(["nsenter", f"--net=/run/netns/{node}", "--", "curl", "-s", "-o",
                               "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H",
                               "Host: secure.example.com", f"http://{ip}/a?b=1"],
                              capture_output=True, text=True, check=False).stdout
    want = "308 https://secure.example.com/a?b=1"
    # every answer from the new workers: wait until two in a row are (see the paths test)
    wait_for("the 308 to https", lambda: redirect() == want and redirect() == want)
    assert redirect() == want
    other = https("web.example.com")
    assert "Kubernetes Ingress Controller Fake Certificate" in other.stderr, other.stderr
    assert "Hostname: web-" in other.stdout  # no TLS of its own: served, not redirected


PATHS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: paths}
spec:
  rules:
  - host: paths.example.com
    http:
      paths:
      - {path: /a, pathType: Exact, backend: {service: {name: empty, port: {number: 80}}}}
      - {path: /a, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /a/b, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
"""


def test_path_types_and_their_precedence_with_real_requests(lab):
    """Exact beats Prefix on the same path; Prefix is element-wise (/a/ and /a/x, not
    /ab); the longer prefix wins. (empty answers 503, web 200: which one answered says which
    path matched.)"""
    name, folder = lab
    ip = controller_ip(name)
    (folder / "paths.yaml").write_text(PATHS)
    assert netlab("apply", "-f", str(folder / "paths.yaml"), "--lab", name).returncode == 0
    want = {"/a": 503, "/a/": 200, "/a/x": 200, "/ab": 404, "/a/b": 503, "/a/b/c": 503,
            "/a/bc": 200}

    def codes() -> dict[str, int]:
        return {p: curl(name, ip, "paths.example.com", p)[0] for p in want}
    # right after a reload, nginx's old workers still take some new connections for a moment
    # (until the master tells them to stop): wait until every answer is the new one's
    wait_for("the paths", lambda: codes() == want, 20)
    assert codes() == want

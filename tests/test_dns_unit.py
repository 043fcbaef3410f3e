"""Cluster DNS records, resolv.conf per dnsPolicy, hosts files and service variables (no root).

Address plan: services 10.96.0.0/12 (kube-dns 10.96.0.10), web-svc-cip 10.96.0.100, pods from
10.244.0.2 on node1 (client, web pods, then coredns pinned to node1), client host origin
172.18.0.254 serving www.example.org.
"""

from netlab.dns.resolv import hosts_file, resolv_conf, service_env
from netlab.dns.zone import build_zone
from netlab.plan.build import plan_lab
from tests.helpers import deployment, lab_doc, pod, scenario, service

OUTSIDE = lab_doc(dns=True, clients=("origin",)).replace(
    "clusterDNS: true", "clusterDNS: true\n  outsideNames: {www.example.org: origin}")
HEADLESS = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: www.example.org}
---
apiVersion: v1
kind: Pod
metadata: {name: named, labels: {app: web}}
spec:
  hostname: primary
  subdomain: db
  containers: [{name: c, image: nginx, ports: [{containerPort: 8000}]}]
"""


def plan():
    sc = scenario(OUTSIDE, pod("client"), deployment(replicas=2), HEADLESS,
                  service(cluster_ip="10.96.0.100").replace("ports: [{port: 80",
                                                            "ports: [{name: http, port: 80"))
    return plan_lab(sc)[0]


def ask(zone, name, rtype="A"):
    rcode, records = zone.lookup(name, rtype)
    return rcode, [r[2] for r in records]


def test_kube_dns_objects_are_added():
    p = plan()
    dns = next(s for s in p.services if s.service.name == "kube-dns")
    assert dns.cluster_ip == "10.96.0.10" and dns.service.namespace == "kube-system"
    assert [(x.name, x.port, x.protocol) for x in dns.service.ports] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
    coredns = next(x for x in p.pods if x.namespace == "kube-system")
    assert coredns.name.startswith("coredns-") and coredns.node == "node1"


def test_records_follow_the_kubernetes_dns_spec():
    p = plan()
    zone = build_zone(p)
    assert ask(zone, "web-svc-cip.default.svc.cluster.local") == ("NOERROR", ["10.96.0.100"])
    web_ips = sorted(x.ip for x in p.pods if x.owner == "Deployment/web")
    named = next(x for x in p.pods if x.name == "named")
    rcode, ips = ask(zone, "db.default.svc.cluster.local")
    assert rcode == "NOERROR" and sorted(ips) == sorted([*web_ips, named.ip])
    assert ask(zone, "primary.db.default.svc.cluster.local") == ("NOERROR", [named.ip])
    dashed = web_ips[0].replace(".", "-")
    assert ask(zone, f"{dashed}.db.default.svc.cluster.local") == ("NOERROR", [web_ips[0]])
    assert ask(zone, f"{dashed}.default.pod.cluster.local") == ("NOERROR", [web_ips[0]])
    assert ask(zone, "_http._tcp.web-svc-cip.default.svc.cluster.local", "SRV") == (
        "NOERROR", ["0 100 80 web-svc-cip.default.svc.cluster.local."])
    rcode, srv = ask(zone, "_http._tcp.db.default.svc.cluster.local", "SRV")
    assert "0 100 8000 primary.db.default.svc.cluster.local." in srv
    assert ask(zone, "ext.default.svc.cluster.local") == (
        "NOERROR", ["www.example.org.", "172.18.0.254"])
    assert ask(zone, "100.0.96.10.in-addr.arpa", "PTR") == (
        "NOERROR", ["web-svc-cip.default.svc.cluster.local."])
    assert ask(zone, f"{named.ip.split('.')[3]}.{named.ip.split('.')[2]}.244.10.in-addr.arpa",
               "PTR")[1] == ["primary.db.default.svc.cluster.local."]
    assert ask(zone, "nope.default.svc.cluster.local")[0] == "NXDOMAIN"
    assert ask(zone, "web-svc-cip.default.svc.cluster.local", "AAAA") == ("NOERROR", [])
    assert ask(zone, "unknown.example.com")[0] == "NXDOMAIN"
    assert ask(zone, "dns-version.cluster.local", "TXT") == ("NOERROR", ['"1.1.0"'])


def test_headless_records_hold_only_ready_endpoints():
    from dataclasses import replace

    from netlab.plan.endpoints import compute_endpoints

    p = plan()
    first = next(x for x in p.pods if x.owner == "Deployment/web")
    eps = compute_endpoints(p.services, p.pods, {x.key: x.key != first.key for x in p.pods},
                            p.manifests)
    zone = build_zone(replace(p, endpoints=eps))
    assert first.ip not in ask(zone, "db.default.svc.cluster.local")[1]


def test_resolv_conf_by_dns_policy():
    p = plan()
    client = next(x for x in p.pods if x.name == "client")
    host = "nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"
    assert resolv_conf(client, "cluster.local", "10.96.0.10", host) == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")
    from dataclasses import replace

    default = replace(client, spec=replace(client.spec, dns_policy="Default"))
    assert resolv_conf(default, "cluster.local", "10.96.0.10", host) == (
        "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n")
    hostnet = replace(client, spec=replace(client.spec, host_network=True))
    assert "192.0.2.53" in resolv_conf(hostnet, "cluster.local", "10.96.0.10", host)
    with_host = replace(hostnet, spec=replace(hostnet.spec,
                                              dns_policy="ClusterFirstWithHostNet"))
    assert "nameserver 10.96.0.10" in resolv_conf(with_host, "cluster.local", "10.96.0.10", host)
    none = replace(client, spec=replace(client.spec, dns_policy="None",
                                        dns_nameservers=("1.1.1.1",), dns_searches=("a.b",),
                                        dns_options=(("ndots", "2"), ("edns0", ""))))
    assert resolv_conf(none, "cluster.local", "10.96.0.10", host) == (
        "search a.b\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")
    merged = replace(client, spec=replace(client.spec, dns_options=(("ndots", "2"),)))
    assert "options ndots:2\n" in resolv_conf(merged, "cluster.local", "10.96.0.10", host)


def test_hosts_file_and_service_env():
    p = plan()
    named = next(x for x in p.pods if x.name == "named")
    assert hosts_file(named, "cluster.local").endswith(
        f"{named.ip}\tprimary.db.default.svc.cluster.local\tprimary\n")
    env = service_env(p.services, "default")
    assert env["WEB_SVC_CIP_SERVICE_HOST"] == "10.96.0.100"
    assert env["WEB_SVC_CIP_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_SVC_CIP_PORT_80_TCP"] == "tcp://10.96.0.100:80"
    assert not any(k.startswith(("DB_", "EXT_", "KUBE_DNS")) for k in env)


def test_server_answers_and_caches_per_zone():
    import dns.message
    import dns.rcode

    from netlab.dns.server import answer

    zone = build_zone(plan())
    query = dns.message.make_query("web-svc-cip.default.svc.cluster.local.", "A")
    first = dns.message.from_wire(answer(zone, query.to_wire()))
    assert first.rcode() == dns.rcode.NOERROR and first.id == query.id
    assert [r.to_text() for r in first.answer[0]] == ["10.96.0.100"]
    again = dns.message.make_query("web-svc-cip.default.svc.cluster.local.", "A")
    second = dns.message.from_wire(answer(zone, again.to_wire()))
    assert second.id == again.id and second.answer == first.answer and zone.cache
    missing = dns.message.from_wire(answer(zone, dns.message.make_query(
        "nope.default.svc.cluster.local.", "A").to_wire()))
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority  # with the SOA


def test_cluster_domain_is_configurable():
    lab = lab_doc(dns=True).replace("clusterDNS: true",
                                    "clusterDNS: true\n  clusterDomain: lab.test")
    sc = scenario(lab, pod("client"), service(cluster_ip="10.96.0.100"))
    p = plan_lab(sc)[0]
    zone = build_zone(p)
    assert ask(zone, "web-svc-cip.default.svc.lab.test") == ("NOERROR", ["10.96.0.100"])
    assert ask(zone, "web-svc-cip.default.svc.cluster.local")[0] == "NXDOMAIN"
    client = next(x for x in p.pods if x.name == "client")
    assert resolv_conf(client, "lab.test", "10.96.0.10", "").startswith(
        "search default.svc.lab.test svc.lab.test lab.test\n")


def test_service_links_can_be_switched_off():
    from netlab.lifecycle.pods import container_env

    sc = scenario(lab_doc(dns=True), service(cluster_ip="10.96.0.100"), pod("linked"),
                  pod("unlinked").replace("spec:", "spec:\n  enableServiceLinks: false"))
    p = plan_lab(sc)[0]
    env = {x.name: container_env(p, x, x.spec.containers[0])
           for x in p.pods if x.name in ("linked", "unlinked")}
    assert env["linked"]["WEB_SVC_CIP_SERVICE_HOST"] == "10.96.0.100"
    assert not any(k.startswith("WEB_SVC_CIP") for k in env["unlinked"])


SANDBOXED = r"""
import sys
import dns.message
from netlab.dns import server
from netlab.dns.zone import build_zone
from tests.test_dns_unit import plan

zone = build_zone(plan())
server.warm_up()


class Sandbox:  # a container's view: netlab's and its venv's files are not there
    def find_spec(self, name, path=None, target=None):
        raise ImportError(f"cannot import {name} in the container")


sys.meta_path.insert(0, Sandbox())
for name, rtype in (("web-svc-cip.default.svc.cluster.local.", "A"),
                    ("_http._tcp.web-svc-cip.default.svc.cluster.local.", "SRV"),
                    ("cluster.local.", "SOA")):
    q = dns.message.make_query(name, rtype)
    r = dns.message.from_wire(server.answer(zone, q.to_wire()))
    print(rtype, len(r.answer))
"""


def test_the_server_answers_where_it_cannot_import():
    """A sandboxed DNS server cannot import what dnspython loads on first use (the venv may
    be where the container does not see); warm_up loads it before."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SANDBOXED], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["A", "1", "SRV", "1", "SOA", "1"], out.stdout

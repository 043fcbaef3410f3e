"""Naming, IPAM, placement and endpoints (no root).

Address plan: pod CIDR 10.244.0.0/16 (node i gets 10.244.i.0/24, gateway .1, pods from .2),
service CIDR 10.96.0.0/12 (.1 and .10 reserved), lab network 172.18.0.0/24 (nodes from .2,
clients from .254 down).
"""

import re

import pytest

from netlab.plan import naming
from netlab.plan.build import plan_lab
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.ipam import HostLocal, RangeFull, allocate_cluster_ip
from tests.helpers import deployment, lab_doc, pod, scenario, service

SAFE = "[bcdfghjklmnpqrstvwxz2456789]"


def test_interface_names_fit_15_bytes():
    assert naming.check_ifname("veth1234abcd") == "veth1234abcd"
    with pytest.raises(ValueError, match="'frontend-canary-eth0' is 20 bytes, the limit is 15"):
        naming.check_ifname("frontend-canary-eth0")
    long = "x" * 63
    assert len(naming.pod_host_veth(long, long)) <= 15
    assert naming.pod_host_veth("a", "b") != naming.pod_host_veth("a", "c")


def test_deployment_pod_names_look_like_kubernetes():
    sc = scenario(lab_doc(), deployment(replicas=3))
    plan, _ = plan_lab(sc)
    names = [p.name for p in plan.pods]
    assert len(set(names)) == 3
    for n in names:
        assert re.fullmatch(rf"web-{SAFE}{{6,10}}-{SAFE}{{5}}", n), n
    # the template hash is shared and is also the pod-template-hash label
    hashes = {n.split("-")[1] for n in names}
    assert len(hashes) == 1
    assert all(p.label_map["pod-template-hash"] == hashes.pop() for p in plan.pods[:1])
    assert plan_lab(sc)[0].pods == plan.pods  # deterministic


def test_fnv32a_and_safe_encode():
    assert naming.fnv32a(b"") == 0x811C9DC5
    assert naming.fnv32a(b"a") == 0xE40C292C
    assert naming.safe_encode("0123456789") == "bcdfghjklm"[:0] + "".join(
        naming.SAFE_ALPHANUMS[ord(c) % 27] for c in "0123456789")


def test_host_local_allocates_in_order_and_never_twice():
    r = HostLocal("10.244.1.0/24")
    assert r.gateway == "10.244.1.1"
    assert [r.allocate(f"p{i}") for i in range(3)] == ["10.244.1.2", "10.244.1.3", "10.244.1.4"]
    assert r.allocate("p1") == "10.244.1.3"  # same owner, same address
    r.release("p1")
    assert r.allocate("p9") == "10.244.1.5"  # released .3 is not reused before wrapping
    restored = HostLocal.from_dict(r.to_dict())
    assert restored.allocate("p10") == "10.244.1.6"


def test_host_local_wraps_and_fills():
    r = HostLocal("10.244.1.0/29")  # .2 to .6
    ips = [r.allocate(f"p{i}") for i in range(5)]
    assert ips == [f"10.244.1.{i}" for i in range(2, 7)]
    r.release("p0")
    assert r.allocate("late") == "10.244.1.2"
    with pytest.raises(RangeFull):
        r.allocate("one-too-many")


def test_cluster_ip_allocation():
    a = allocate_cluster_ip("10.96.0.0/12", "default/web", set())
    assert a == allocate_cluster_ip("10.96.0.0/12", "default/web", set())
    assert a.startswith("10.") and a not in ("10.96.0.1", "10.96.0.10")
    b = allocate_cluster_ip("10.96.0.0/12", "default/web", {a})
    assert b != a
    small = {allocate_cluster_ip("10.96.0.0/28", f"default/s{i}", set()) for i in range(50)}
    assert "10.96.0.1" not in small and "10.96.0.10" not in small


def test_placement_round_robin_node_name_and_host_network():
    hostnet = pod("h").replace("spec:", "spec:\n  hostNetwork: true")
    sc = scenario(lab_doc(nodes=("n1", "n2", "n3")), pod("a"), pod("b", node="n3"), pod("c"),
                  hostnet, deployment(replicas=2))
    plan, ipam = plan_lab(sc)
    by = {p.name: p for p in plan.pods}
    assert by["a"].node == "n1" and by["b"].node == "n3" and by["c"].node == "n2"
    assert by["h"].node == "n3" and by["h"].ip == "172.18.0.4" and by["h"].netns.endswith("n3")
    assert by["a"].ip == "10.244.0.2" and by["c"].ip == "10.244.1.2"
    assert ipam["n1"]["allocated"]["10.244.0.2"] == "default/a"
    # addresses already persisted are kept on the next plan
    again, _ = plan_lab(sc, ipam)
    assert {p.name: p.ip for p in again.pods} == {p.name: p.ip for p in plan.pods}


def named(items, name: str):
    """The service (or service endpoints) called NAME: every plan also has default/kubernetes
    and kube-system/kube-dns."""
    return next(i for i in items if getattr(i, "name", None) == name or
                getattr(getattr(i, "service", None), "name", None) == name)


def test_every_lab_has_the_kubernetes_service_at_the_first_address():
    plan, _ = plan_lab(scenario(lab_doc()))
    k = named(plan.services, "kubernetes")
    assert (k.service.namespace, k.cluster_ip, k.service.ports[0].port,
            k.service.ports[0].target_port) == ("default", "10.96.0.1", 443, 6443)
    eps = named(plan.endpoints, "kubernetes")
    assert [(a.ip, a.node, n) for _p, _proto, a, n in eps.entries] == \
        [("172.18.0.2", "", 6443)]  # as kube-apiserver writes it: no nodeName


def test_nodes_and_clients_addresses():
    plan, _ = plan_lab(scenario(lab_doc(nodes=("n1", "n2"), clients=("laptop",))))
    assert [n.lan_ip for n in plan.nodes] == ["172.18.0.2", "172.18.0.3"]
    assert [n.pod_cidr for n in plan.nodes] == ["10.244.0.0/24", "10.244.1.0/24"]
    assert plan.clients[0].lan_ip == "172.18.0.254"
    assert plan.nodes[0].netns == "netlab.t.node.n1"


def test_endpoints_resolve_named_target_port_per_pod():
    other = pod("odd").replace("labels: {app: odd}", "labels: {app: web}").replace(
        "image: nginx", "image: nginx, ports: [{containerPort: 9000, name: http}]")
    noport = pod("noport").replace("labels: {app: noport}", "labels: {app: web}")
    sc = scenario(lab_doc(), deployment(replicas=2, port_name="http"), other, noport,
                  service(target="http"))
    plan, _ = plan_lab(sc)
    eps = {(addr.pod.split("/")[1][:3], number) for _n, _p, addr, number in
           named(plan.endpoints, "web-svc-cip").entries}
    assert eps == {("web", 8000), ("odd", 9000)}  # noport has no port named http: left out


def test_endpoints_only_ready_and_same_namespace():
    sc = scenario(lab_doc(), deployment(replicas=2), service())
    plan, _ = plan_lab(sc)
    first = plan.pods[0].key
    eps = compute_endpoints(plan.services, plan.pods, {first: True})
    ready = {a.pod: a.ready for _n, _p, a, _num in named(eps, "web-svc-cip").entries}
    assert ready[first] is True and list(ready.values()).count(False) == 1


def test_node_slices_follow_the_mask_size():
    lab = lab_doc(nodes=("n1", "n2")).replace("spec:", "spec:\n  nodeCIDRMaskSize: 22")
    plan, _ = plan_lab(scenario(lab, deployment(replicas=600)))
    assert [n.pod_cidr for n in plan.nodes] == ["10.244.0.0/22", "10.244.4.0/22"]
    assert len({p.ip for p in plan.pods}) == 600
    assert max(p.ip for p in plan.pods if p.node == "n1").startswith("10.244.1.")


def test_node_ports_and_health_check_ports_are_allocated_stably():
    svcs = ("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
            "spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 30080},"
            " {port: 81, name: b}]}\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata: {name: c}\n"
            "spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: web},"
            " ports: [{port: 80}]}\n")
    svcs = svcs.replace("ports: [{port: 80, nodePort: 30080}, {port: 81, name: b}]",
                        "ports: [{port: 80, name: a, nodePort: 30080}, {port: 81, name: b}]")
    sc = scenario(lab_doc(), svcs)
    plan, _ = plan_lab(sc)
    a, c = named(plan.services, "a"), named(plan.services, "c")
    ports = [p.node_port for p in a.service.ports] + [c.service.ports[0].node_port,
                                                      c.service.health_check_node_port]
    assert ports[0] == 30080 and all(30000 <= p <= 32767 for p in ports)
    assert len(set(ports)) == 4
    assert plan_lab(sc)[0].services == plan.services  # same names, same ports


def test_selectorless_endpoints_and_external_name_in_plan():
    sc = scenario(lab_doc(), "apiVersion: v1\nkind: Service\nmetadata: {name: out}\n"
                             "spec: {ports: [{port: 80}]}\n",
                  "apiVersion: v1\nkind: Endpoints\nmetadata: {name: out}\n"
                  "subsets: [{addresses: [{ip: 172.18.0.250}], ports: [{port: 8080}]}]\n",
                  "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
                  "spec: {type: ExternalName, externalName: www.example.org}\n")
    plan, _ = plan_lab(sc)
    out, ext = named(plan.services, "out"), named(plan.services, "ext")
    assert ext.cluster_ip == "" and out.cluster_ip
    eps = named(plan.endpoints, "out")
    assert [(a.ip, n) for _p, _proto, a, n in eps.entries] == [("172.18.0.250", 8080)]


def test_a_node_port_held_by_an_allocation_is_refused_on_a_change():
    import pytest

    from netlab.errors import ScenarioError

    np = service(name="np").replace("spec: {selector", "spec: {type: NodePort, selector")
    first, _ = plan_lab(scenario(lab_doc(), np))
    held = named(first.services, "np").service.ports[0].node_port
    wants = service(name="other").replace("spec: {selector", "spec: {type: NodePort, selector") \
        .replace("targetPort: 8000", f"targetPort: 8000, nodePort: {held}")
    with pytest.raises(ScenarioError, match=f"node port {held}/TCP is already allocated to "
                                            "default/np"):
        plan_lab(scenario(lab_doc(), np, wants), previous=first)


def test_a_cluster_ip_held_by_a_running_service_is_refused_on_a_change():
    import pytest

    from netlab.errors import ScenarioError

    first, _ = plan_lab(scenario(lab_doc(), service(name="a")))
    held = named(first.services, "a").cluster_ip
    with pytest.raises(ScenarioError, match=f"clusterIP {held} is already allocated to "
                                            "default/a"):
        plan_lab(scenario(lab_doc(), service(name="a"), service(name="b", cluster_ip=held)),
                 previous=first)


def test_a_change_keeps_every_pod_that_stays_where_it_is():
    """Deleting one object must not move the others (Kubernetes never re-schedules a running
    pod): node, address and names stay; new pods go to the least loaded node."""
    sc1 = scenario(lab_doc(nodes=("node1", "node2", "node3")), pod("a"), pod("b"), pod("c"),
                   deployment(replicas=4))
    first, ipam = plan_lab(sc1)
    sc2 = scenario(lab_doc(nodes=("node1", "node2", "node3")), pod("b"), pod("c"),
                   deployment(replicas=4), pod("d"))
    second, _ = plan_lab(sc2, ipam, first)
    before = {p.key: p for p in first.pods}
    for p in second.pods:
        if p.key in before:
            assert p == before[p.key], p.key
    d = next(p for p in second.pods if p.name == "d")
    load = {n: sum(p.node == n for p in second.pods if p is not d)
            for n in ("node1", "node2", "node3")}
    assert load[d.node] == min(load.values())  # the least loaded node when d came


def test_generated_pod_names_never_clash():
    """Five characters from 27 clash now and then at a few hundred replicas; a clash is
    drawn again, as the ReplicaSet controller retries its generateName."""
    for replicas in (600, 1000):
        plan, _ = plan_lab(scenario(lab_doc(nodes=("n1", "n2", "n3", "n4")).replace(
            "spec:", "spec:\n  nodeCIDRMaskSize: 22\n  maxPods: 5000"),
            deployment(replicas=replicas)))
        names = [p.name for p in plan.pods]
        assert len(names) == len(set(names)) == replicas

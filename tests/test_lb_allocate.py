"""MetalLB's allocation and layer-2 election, pure (issue 12): pools and ranges, pinned
addresses, pools by annotation and priority, sharing keys and MetalLB's sharing rules,
addresses kept and released, never handed out twice, the announcer by MetalLB's hash.

Address plan: pool "default" 172.17.255.1-172.17.255.3, pool "other" 10.0.9.0/30 (manual).
"""

from __future__ import annotations

import hashlib

from netlab.lb.allocate import allocate, announcer, can_share
from netlab.model import AddressPool, Service, ServicePort

POOLS = (AddressPool("default", (("172.17.255.1", "172.17.255.3"),)),
         AddressPool("other", (("10.0.9.0", "10.0.9.3"),), auto_assign=False))


def lb(name, ports=((80, "TCP"),), ip="", notes=(), etp="Cluster", selector=(("app", "web"),),
       cls=""):
    return Service(name, "default", tuple(ServicePort(p, p, proto) for p, proto in ports),
                   selector, "LoadBalancer", annotations=tuple(notes), lb_ip=ip,
                   external_traffic_policy=etp, lb_class=cls)


def test_first_free_addresses_in_order_and_events():
    out = allocate([lb("a"), lb("b")], POOLS)
    assert out.ips == {"default/a": ("172.17.255.1",), "default/b": ("172.17.255.2",)}
    assert out.pools["default/a"] == "default"
    assert out.events[0] == ("default/service/a", "Normal", "IPAllocated",
                             'Assigned IP ["172.17.255.1"]')


def test_the_pool_running_dry_leaves_the_service_pending():
    out = allocate([lb(n) for n in "abcd"], POOLS)
    assert "default/d" not in out.ips
    assert out.pending["default/d"] == "no available IPs"
    assert ("default/service/d", "Warning", "AllocationFailed",
            'Failed to allocate IP for "default/d": no available IPs') in out.events


def test_pinned_addresses_by_spec_and_annotation():
    out = allocate([lb("a", ip="172.17.255.3"),
                    lb("b", notes=(("metallb.universe.tf/loadBalancerIPs", "10.0.9.2"),)),
                    lb("c", ip="192.168.1.1")], POOLS)
    assert out.ips["default/a"] == ("172.17.255.3",)
    assert out.ips["default/b"] == ("10.0.9.2",)  # a manual pool serves pinned addresses
    assert out.pending["default/c"] == '["192.168.1.1"] is not allowed in config'


def test_pool_annotation_and_unknown_pool():
    out = allocate([lb("a", notes=(("metallb.io/address-pool", "other"),)),
                    lb("b", notes=(("metallb.universe.tf/address-pool", "nope"),))], POOLS)
    assert out.ips["default/a"] == ("10.0.9.0",)
    assert out.pending["default/b"] == 'unknown pool "nope"'


def test_other_load_balancer_classes_are_left_alone():
    out = allocate([lb("a", cls="example.com/other")], POOLS)
    assert out.ips == {} and out.pending == {}


def test_a_taken_address_is_never_handed_out_twice():
    out = allocate([lb("a", ip="172.17.255.1"), lb("b", ip="172.17.255.1")], POOLS)
    assert out.ips == {"default/a": ("172.17.255.1",)}
    assert "already in use" in out.pending["default/b"]


SHARE = (("metallb.universe.tf/allow-shared-ip", "dns"),)


def test_sharing_by_key_with_distinct_ports():
    tcp = lb("dns-tcp", ((53, "TCP"),), ip="172.17.255.2", notes=SHARE)
    udp = lb("dns-udp", ((53, "UDP"),), ip="172.17.255.2", notes=SHARE)
    out = allocate([tcp, udp], POOLS)
    assert out.ips["default/dns-tcp"] == out.ips["default/dns-udp"] == ("172.17.255.2",)
    auto = allocate([tcp, lb("dns-udp", ((53, "UDP"),), notes=SHARE)], POOLS)
    assert auto.ips["default/dns-udp"] == ("172.17.255.2",)  # joins its key's address


def test_sharing_refused_by_metallbs_rules():
    a = lb("a", ((53, "TCP"),), ip="172.17.255.2", notes=SHARE)
    assert "port 53/TCP is already used" in can_share(
        lb("b", ((53, "TCP"),), notes=SHARE), a)
    assert "different selector" in can_share(
        lb("b", ((53, "UDP"),), notes=SHARE, etp="Local", selector=(("app", "x"),)), a)
    assert can_share(lb("b", ((53, "UDP"),), notes=SHARE, etp="Local"),
                     lb("a", ((53, "TCP"),), notes=SHARE, etp="Local")) == ""
    assert "sharing key differs" in can_share(
        lb("b", ((53, "UDP"),), notes=(("metallb.io/allow-shared-ip", "x"),)), a)


def test_addresses_stay_with_their_service_and_are_released_when_it_goes():
    first = allocate([lb("a"), lb("b")], POOLS)
    # a new Service sorted first does not take b's address; a's address is free once a goes
    again = allocate([lb("0"), lb("b")], POOLS, {"default/b": first.ips["default/b"]})
    assert again.ips["default/b"] == ("172.17.255.2",)
    assert again.ips["default/0"] == ("172.17.255.1",)


def test_avoid_buggy_ips_skips_dot_zero_and_255():
    pool = (AddressPool("p", (("10.1.1.255", "10.1.2.1"),), avoid_buggy_ips=True),)
    out = allocate([lb("a"), lb("b")], pool)
    assert out.ips == {"default/a": ("10.1.2.1",)}


def test_the_announcer_is_the_first_node_by_metallbs_hash():
    nodes = ["node1", "node2", "node3"]
    want = min(nodes, key=lambda n: hashlib.sha256(f"{n}#172.17.255.1".encode()).digest())
    assert announcer("172.17.255.1", nodes) == want
    rest = [n for n in nodes if n != want]
    assert announcer("172.17.255.1", rest) in rest  # another node takes over
    assert announcer("172.17.255.1", []) == ""


def test_assignments_follow_advertisements_local_policy_and_nodes_down():
    from netlab.lb.allocate import assignments
    from netlab.plan.build import plan_lab
    from tests.helpers import deployment, lab_doc, scenario

    pool = ("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, "
            "namespace: metallb-system}\nspec: {addresses: [172.17.255.1/32]}\n")
    ad = ("apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: a, "
          "namespace: metallb-system}\n")
    svc = ("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n"
           "  externalTrafficPolicy: Local\n  selector: {app: web}\n"
           "  ports: [{port: 80, targetPort: 8000}]\n")
    web = deployment(replicas=1).replace("      containers:", "      nodeName: node2\n"
                                                              "      containers:")
    nodes = ("node1", "node2", "node3")
    plan, _ = plan_lab(scenario(lab_doc(nodes=nodes), web, pool, ad, svc))
    # Local: only node2 has a ready endpoint, so node2 announces, whatever the hash says
    assert assignments(plan) == {"172.17.255.1": "node2"}
    assert assignments(plan, frozenset({"node2"})) == {"172.17.255.1": ""}
    cluster, _ = plan_lab(scenario(lab_doc(nodes=nodes), web, pool, ad,
                                   svc.replace("Local", "Cluster")))
    assert assignments(cluster) == {"172.17.255.1": announcer("172.17.255.1", nodes)}
    silent, _ = plan_lab(scenario(lab_doc(nodes=nodes), web, pool, svc))
    assert assignments(silent) == {"172.17.255.1": ""}  # no L2Advertisement: nobody


def test_describe_svc_golden():
    """kubectl describe svc of a MetalLB Service, as the workshop note prints it."""
    import os
    import pathlib

    from netlab import objects
    from netlab.lb.allocate import events
    from netlab.model.state import Event
    from netlab.plan.build import plan_lab
    from tests.helpers import deployment, lab_doc, scenario

    cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: metallb-system, name: config}"
          "\ndata:\n  config: |\n    address-pools:\n    - name: default\n      protocol: "
          "layer2\n      addresses: [172.17.255.1-172.17.255.255]\n")
    svc = ("apiVersion: v1\nkind: Service\nmetadata: {name: web-svc-lb}\nspec:\n"
           "  type: LoadBalancer\n  clusterIP: 10.96.0.150\n  selector: {app: web}\n"
           "  ports: [{port: 80, targetPort: 8000, nodePort: 30150}]\n")
    plan, _ = plan_lab(scenario(lab_doc(nodes=("node1", "node2")), deployment(replicas=2),
                                cm, svc))
    info = next(i for i in plan.services if i.service.name == "web-svc-lb")
    evs = [Event(t, reason, message, 1, 100.0, 100.0)
           for _k, t, reason, message in events(None, plan) if "web-svc-lb" in _k]
    text = objects.describe_service(plan, info, evs, now=160.0) + "\n"
    path = pathlib.Path(__file__).parent / "golden" / "describe-svc-lb.txt"
    if os.environ.get("NETLAB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()

"""The rule core kube-proxy's modes share (no root): endpoint categories as kube-proxy's
CategorizeEndpoints decides them, and the common rules both renderers write.

Address plan: endpoints 10.244.0.2 and 10.244.0.3 on node1, 10.244.1.2 on node2; ClusterIP
10.96.0.100.
"""

from netlab.proxy import core, ipvs
from netlab.proxy import iptables as ipt
from netlab.proxy.core import Endpoint, ServicePortView

CFG = core.ProxyConfig(cluster_cidr="10.244.0.0/16", node_name="node1")


def view(*eps: Endpoint, **kw) -> ServicePortView:
    return ServicePortView(spn="default/web", service="default/web", protocol="tcp",
                           cluster_ip="10.96.0.100", port=80, endpoints=eps, **kw)


READY1 = Endpoint("10.244.0.2:80", "node1")
READY2 = Endpoint("10.244.1.2:80", "node2")
TERM1 = Endpoint("10.244.0.3:80", "node1", ready=False, serving=True, terminating=True)
GONE2 = Endpoint("10.244.1.3:80", "node2", ready=False, serving=False, terminating=True)


def addrs(eps) -> list[str]:
    return [e.addr for e in eps]


def test_ready_endpoints_win_over_terminating_ones():
    c = core.categorize(view(READY1, TERM1, READY2), "node1")
    assert addrs(c.cluster) == ["10.244.0.2:80", "10.244.1.2:80"] and c.has_any
    assert c.local == () and c.reachable == c.cluster


def test_serving_terminating_endpoints_are_the_fallback():
    c = core.categorize(view(TERM1, GONE2), "node1")
    assert addrs(c.cluster) == ["10.244.0.3:80"] and c.has_any  # not serving: never used
    assert addrs(core.categorize(view(GONE2), "node1").cluster) == []
    assert not core.categorize(view(GONE2), "node1").has_any


def test_local_policy_falls_back_on_its_own_and_reachable_merges():
    v = view(READY2, TERM1, node_port=30080, etp_local=True)
    c = core.categorize(v, "node1")
    assert addrs(c.cluster) == ["10.244.1.2:80"]  # a ready endpoint elsewhere
    assert addrs(c.local) == ["10.244.0.3:80"]  # no local ready one: the terminating local
    assert addrs(c.reachable) == ["10.244.0.3:80", "10.244.1.2:80"]
    internal_only = core.categorize(view(READY1, READY2, itp_local=True), "node2")
    assert internal_only.cluster == () and addrs(internal_only.local) == ["10.244.1.2:80"]
    assert internal_only.reachable == internal_only.local and internal_only.has_any


def test_a_terminating_only_service_is_reachable_in_both_modes():
    v = view(TERM1)
    saved = ipt.render([v], CFG).text
    assert "DNAT --to-destination 10.244.0.3:80" in saved and "REJECT" not in saved
    vs = {s.key: s for s in ipvs.render([v], CFG, ("172.18.0.2",)).virtual_servers}
    assert vs[("10.96.0.100", 80, "TCP")].real_servers == (("10.244.0.3", 80),)


def test_both_modes_write_the_shared_rules_the_same_way():
    text = ipt.render([view(READY1)], CFG).text + ipvs.render([view(READY1)], CFG, ()).iptables
    for rule in core.masquerade_rules(CFG) + core.forward_rules(CFG, drop_invalid=False):
        assert text.count(rule + "\n") == 2, rule
    assert core.localnet_firewall_rule() in ipt.render([], CFG).text
    assert core.localnet_firewall_rule() in ipvs.render_bootstrap()

"""kube-proxy's IPVS mode rendering (no root): ipsets, iptables rules, virtual servers.

Address plan: as in test_iptables_render (node1 172.18.0.2 with cni0 10.244.0.1, node2
172.18.0.3; "one" 10.244.1.2 on node2; web pods 10.244.0.2 and 10.244.1.3; fixed ClusterIPs
10.96.0.110-115; LB 192.0.2.10/11, external IP 192.0.2.12).
"""

import pytest

from netlab.plan.build import plan_lab
from netlab.proxy import ipvs
from netlab.proxy.core import service_ports
from tests.helpers import jump_targets_exist
from tests.test_iptables_render import CFG, NODE2, assert_golden, services_scenario

NODE1_IPS = ("172.18.0.2", "10.244.0.1")


def sync(cfg=CFG, node_ips=NODE1_IPS, scheduler="rr", vip_filter=False):
    plan, _ = plan_lab(services_scenario())
    return ipvs.render(service_ports(plan.services, plan.endpoints), cfg, node_ips, scheduler,
                       vip_filter)


def servers(s):
    return {vs.key: vs for vs in s.virtual_servers}


def test_ipvs_golden():
    s = sync()
    assert_golden("ipvs-node1.rules", s.iptables)
    assert_golden("ipvs-node1.ipset", s.ipset_restore())
    assert_golden("ipvs-jumps.rules", ipvs.render_jumps())
    assert jump_targets_exist(ipvs.render_jumps() + s.iptables) == []
    filtered = sync(vip_filter=True)
    assert_golden("ipvs-node1-vipfilter.rules", filtered.iptables)
    assert jump_targets_exist(ipvs.render_jumps(True) + filtered.iptables) == []


def test_vip_filter_is_kube_proxy_1_27s_and_off_by_default():
    classic, modern = sync().iptables, sync(vip_filter=True).iptables
    assert "KUBE-IPVS-FILTER" not in classic and "KUBE-IPVS-FILTER" not in ipvs.render_jumps()
    assert "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS " \
           "dst -j REJECT" in modern
    assert '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER' \
        in ipvs.render_jumps(True)


def test_virtual_servers_for_every_address():
    vs = servers(sync())
    web = (("10.244.0.2", 8000), ("10.244.1.3", 8000))
    assert vs[("10.96.0.110", 80, "TCP")].real_servers == web
    assert vs[("10.96.0.110", 80, "TCP")].scheduler == "rr"
    for ip in NODE1_IPS:  # node ports on each node address
        assert vs[(ip, 30080, "TCP")].real_servers == web
    assert vs[("192.0.2.10", 80, "TCP")].real_servers == web  # LB
    assert vs[("192.0.2.12", 80, "TCP")].real_servers == web  # external IP
    assert vs[("10.96.0.113", 80, "TCP")].persistent_s == 60  # sessionAffinity ClientIP
    assert vs[("10.96.0.115", 80, "TCP")].real_servers == (("172.18.0.254", 80),)


def test_traffic_policies():
    node1, node2 = servers(sync()), servers(sync(NODE2, ("172.18.0.3",)))
    one = (("10.244.1.2", 8000),)
    assert node2[("172.18.0.3", 30082, "TCP")].real_servers == one  # ETP Local, local pod
    assert node1[("10.96.0.114", 80, "TCP")].real_servers == ()  # ITP Local, none local
    assert node2[("10.96.0.114", 80, "TCP")].real_servers == one


def test_ipsets_hold_kube_proxys_entries():
    s = sync()
    assert "10.96.0.110,tcp:80" in s.ipsets["KUBE-CLUSTER-IP"]
    assert s.ipsets["KUBE-NODE-PORT-TCP"] == ("30080", "30081", "30082")
    assert s.ipsets["KUBE-NODE-PORT-LOCAL-TCP"] == ("30082",)
    assert s.ipsets["KUBE-LOAD-BALANCER-SOURCE-CIDR"] == ("192.0.2.10,tcp:80,172.18.0.0/24",)
    assert s.ipsets["KUBE-LOOP-BACK"] == ("10.244.0.2,tcp:8000,10.244.0.2",)  # local pods only
    assert s.ipsets["KUBE-HEALTH-CHECK-NODE-PORT"] == ("32000",)
    assert "192.0.2.12" in s.addresses and "10.96.0.110" in s.addresses
    text = s.ipset_restore()
    assert "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist" in text
    assert "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 " \
           "-exist" in text


@pytest.mark.parametrize("scheduler", ["lc", "sh"])
def test_scheduler_is_configurable(scheduler):
    assert {vs.scheduler for vs in sync(scheduler=scheduler).virtual_servers} == {scheduler}


def test_iptables_rules_match_sets_only_when_they_have_entries():
    rules = sync().iptables
    assert '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for ' \
           'masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst ' \
           "-j KUBE-MARK-MASQ" in rules
    assert "KUBE-NODE-PORT-UDP" not in rules  # no UDP node port in this scenario
    assert "-m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ" \
        in rules
    assert rules.splitlines().count("COMMIT") == 2


def test_ipset_sync_writes_only_changed_entries_after_the_first():
    first = sync()
    full = first.ipset_restore()
    assert "flush KUBE-CLUSTER-IP" in full and "create KUBE-LOOP-BACK" in full
    assert first.ipset_restore(first.ipsets).strip() == ""  # nothing changed: nothing sent
    previous = {k: v for k, v in first.ipsets.items() if k != "KUBE-NODE-PORT-TCP"}
    previous["KUBE-CLUSTER-IP"] = (*first.ipsets["KUBE-CLUSTER-IP"], "10.96.9.9,tcp:80")
    delta = first.ipset_restore(previous).splitlines()
    assert "del KUBE-CLUSTER-IP 10.96.9.9,tcp:80 -exist" in delta
    assert "add KUBE-NODE-PORT-TCP 30080 -exist" in delta and len(delta) == 4

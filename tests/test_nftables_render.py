# ruff: noqa: E501 (kube-proxy's expected statements, one per line, as it writes them)
"""kube-proxy's nftables mode rendered without root, held to what kube-proxy's own
TestOverallNFTablesRules (pkg/proxy/nftables/proxier_test.go) expects for the same six
services: every declaration, every element, and each chain's rules in order.

Address plan (kube-proxy's test's): cluster CIDR 10.0.0.0/8, service CIDR 172.30.0.0/16,
node test-node at 192.168.0.2; services ns1..ns6/svcN at 172.30.0.41..46.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from netlab.proxy.core import Endpoint, ProxyConfig, ServicePortView
from netlab.proxy.nftables import render

CFG = ProxyConfig(cluster_cidr="10.0.0.0/8", node_name="test-node", node_ip="192.168.0.2")


def view(n: int, **kw) -> ServicePortView:
    return ServicePortView(spn=f"ns{n}/svc{n}:p80", service=f"ns{n}/svc{n}", protocol="tcp",
                           cluster_ip=f"172.30.0.4{n}", port=80, **kw)


SIX = [
    view(1, endpoints=(Endpoint("10.180.0.1:80"),)),
    view(2, endpoints=(Endpoint("10.180.0.2:80"),), node_port=3001,
         external_ips=("192.168.99.22",), lb_ips=("1.2.3.4",), etp_local=True,
         health_check_node_port=30000),
    view(3, endpoints=(Endpoint("10.180.0.3:80"),), node_port=3003),
    view(4, endpoints=(Endpoint("10.180.0.4:80"), Endpoint("10.180.0.5:80", "test-node")),
         external_ips=("192.168.99.33",)),
    view(5, endpoints=(Endpoint("10.180.0.3:80"),), node_port=3002, lb_ips=("5.6.7.8",),
         lb_source_ranges=("203.0.113.0/25",), affinity_seconds=10800),
    view(6, endpoints=()),
]

# kube-proxy's expectation for these six, statement by statement (its baseRules included)
EXPECTED = r"""
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }
add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 ip daddr 172.30.0.42 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 }
add chain ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 ip saddr 10.0.0.0/8 goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit pod traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"
add rule ip kube-proxy external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local goto service-42NFTM6N-ns2/svc2/tcp/p80 comment "short-circuit local traffic"
add chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 ip saddr 10.180.0.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80 meta l4proto tcp dnat to 10.180.0.2:80
add element ip kube-proxy cluster-ips { 172.30.0.42 }
add element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 : goto service-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.22 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3001 : goto external-42NFTM6N-ns2/svc2/tcp/p80 }
add element ip kube-proxy no-endpoint-nodeports { tcp . 3001 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 1.2.3.4 . tcp . 80 comment "ns2/svc2:p80" : drop }
add element ip kube-proxy no-endpoint-services { 192.168.99.22 . tcp . 80 comment "ns2/svc2:p80" : drop }
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-LAUZTJTB-ns4/svc4/tcp/p80 goto service-LAUZTJTB-ns4/svc4/tcp/p80
add chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 ip saddr 10.180.0.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80
add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }
add element ip kube-proxy service-ips { 192.168.99.33 . tcp . 80 : goto external-LAUZTJTB-ns4/svc4/tcp/p80 }
add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip daddr 172.30.0.45 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-HVFWP5L3-ns5/svc5/tcp/p80 goto service-HVFWP5L3-ns5/svc5/tcp/p80
add chain ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 update @affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { ip saddr }
add rule ip kube-proxy endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80
add chain ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80
add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop
add element ip kube-proxy cluster-ips { 172.30.0.45 }
add element ip kube-proxy service-ips { 172.30.0.45 . tcp . 80 : goto service-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-ips { 5.6.7.8 . tcp . 80 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3002 : goto external-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy firewall-ips { 5.6.7.8 . tcp . 80 : goto firewall-HVFWP5L3-ns5/svc5/tcp/p80 }
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
"""


def statements(text: str) -> tuple[set[str], dict[str, list[str]]]:
    """Declarations and elements (a set), and each chain's rules (in order)."""
    decls: set[str] = set()
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "flush ", "delete ")):
            continue
        if line.startswith("add rule "):
            _a, _r, _f, _t, chain, rule = line.split(" ", 5)
            rules.setdefault(chain, []).append(rule)
        else:
            decls.add(line)
    return decls, rules


def test_the_six_services_as_kube_proxy_expects_them():
    got = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"]).text
    assert statements(got) == statements(EXPECTED)


def test_a_full_sync_deletes_what_the_previous_one_left():
    first = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"])
    second = render(SIX[:1], CFG, "172.30.0.0/16", ["192.168.0.2"], first.owned)
    gone = "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    assert f"flush chain ip kube-proxy {gone}" in second.text  # now, and deleted next time
    assert gone in second.stale and "delete chain" not in second.text
    assert "delete set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80" \
        in second.text
    third = render(SIX[:1], CFG, "172.30.0.0/16", ["192.168.0.2"], second.owned,
                   second.stale)
    assert f"delete chain ip kube-proxy {gone}\n" in third.cleanup
    assert "service-ULMVA6XW-ns1/svc1/tcp/p80" not in third.cleanup


@pytest.mark.root
def test_nft_accepts_the_transaction_twice(tmp_path):
    """Checked by the kernel in a namespace of the test's own (unshare -n): a full sync,
    then another over it (the affinity sets kept), then one that removes services."""
    if shutil.which("nft") is None:
        pytest.fail("nft is not installed: run scripts/setup")
    first = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"])
    again = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"], first.owned)
    fewer = render(SIX[:2], CFG, "172.30.0.0/16", ["192.168.0.2"], again.owned, again.stale)
    later = render(SIX[:2], CFG, "172.30.0.0/16", ["192.168.0.2"], fewer.owned, fewer.stale)
    files = [first.text, again.text, fewer.text, later.cleanup, later.text]
    for i, text in enumerate(files):
        (tmp_path / f"{i}.nft").write_text(text)
    script = ("set -e; for f in 0 1 2; do nft -f $1/$f.nft; done; sleep 1; "
              "nft -f $1/3.nft; nft -f $1/4.nft; nft list table ip kube-proxy")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", str(tmp_path)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "service-42NFTM6N-ns2/svc2/tcp/p80" in r.stdout
    assert "svc5" not in r.stdout and "affinity" not in r.stdout


def test_a_partial_sync_touches_only_the_changed_services():
    first = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"])
    after = [v for v in SIX if v.service != "ns1/svc1"]
    after[2] = ServicePortView(**{**after[2].__dict__, "endpoints": after[2].endpoints[:1]})
    part = render(after, CFG, "172.30.0.0/16", ["192.168.0.2"], first.owned, (),
                  {"ns1/svc1", "ns4/svc4"})
    assert not part.full
    assert "add table" not in part.text and "svc2" not in part.text
    assert "delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }" in part.text
    assert "flush chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80" \
        in part.text
    assert set(part.owned) == {f"ns{n}/svc{n}" for n in (2, 3, 4, 5, 6)}


def test_a_partial_sync_writes_only_the_elements_that_changed():
    """kube-proxy tracks each set and map element it wrote (nftElementStorage.ensureElem):
    an element a changed service still has, with the same verdict, is not written again; one
    whose verdict changed is deleted and added; one nobody has any more is deleted."""
    first = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"])
    after = [v for v in SIX if v.service != "ns1/svc1"]
    after[2] = ServicePortView(**{**after[2].__dict__, "endpoints": after[2].endpoints[:1]})
    after[4] = ServicePortView(**{**after[4].__dict__, "endpoints": (Endpoint("10.180.0.9:80"),)})
    part = render(after, CFG, "172.30.0.0/16", ["192.168.0.2"], first.owned, (),
                  {"ns1/svc1", "ns4/svc4", "ns6/svc6"})
    elements = [x for x in part.text.splitlines() if " element " in x]
    assert sorted(elements) == sorted([
        # svc1 is gone
        "delete element ip kube-proxy cluster-ips { 172.30.0.41 }",
        "delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }",
        # svc6 has its first endpoint: no longer rejected, dispatched instead
        "delete element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 }",
        "add element ip kube-proxy service-ips { 172.30.0.46 . tcp . 80 : goto service-Y3O5BOQO-ns6/svc6/tcp/p80 }",
        # svc4 lost an endpoint: its chains are rewritten, its elements stay as they are
    ]), "\n".join(elements)
    deleted = part.text.index("delete element")
    assert all(part.text.index(x) > deleted for x in elements if x.startswith("add"))


@pytest.mark.root
def test_partial_syncs_leave_the_table_a_full_sync_would_write(tmp_path):
    """In private namespaces: a full sync, a partial one (a service gone, one losing an
    endpoint, one gaining its first), the next sync's cleanup; the table then lists as a
    full sync of the new state does."""
    first = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"])
    after = [v for v in SIX if v.service != "ns1/svc1"]
    after[2] = ServicePortView(**{**after[2].__dict__, "endpoints": after[2].endpoints[:1]})
    after[4] = ServicePortView(**{**after[4].__dict__, "endpoints": (Endpoint("10.180.0.9:80"),)})
    changed = {"ns1/svc1", "ns4/svc4", "ns6/svc6"}
    part = render(after, CFG, "172.30.0.0/16", ["192.168.0.2"], first.owned, (), changed)
    then = render(after, CFG, "172.30.0.0/16", ["192.168.0.2"], part.owned, part.stale, set())
    fresh = render(after, CFG, "172.30.0.0/16", ["192.168.0.2"])
    for name, text in (("full", first.text), ("part", part.text), ("cleanup", then.cleanup),
                       ("then", then.text or "\n"), ("fresh", fresh.text)):
        (tmp_path / f"{name}.nft").write_text(text)
    listing = "nft list table ip kube-proxy | sort"
    steps = (f"set -e; nft -f $1/full.nft; nft -f $1/part.nft; sleep 1; nft -f $1/cleanup.nft;"
             f" {listing}")
    got = subprocess.run(["unshare", "-n", "sh", "-c", steps, "sh", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    want = subprocess.run(["unshare", "-n", "sh", "-c", f"set -e; nft -f $1/fresh.nft; {listing}",
                           "sh", str(tmp_path)], capture_output=True, text=True, check=False)
    assert got.returncode == 0 and want.returncode == 0, got.stderr + want.stderr
    assert got.stdout == want.stdout


def test_each_endpoint_choice_is_written_right_after_its_ports_chains():
    """The kernel binds a numgen vmap's anonymous set by walking the transaction so far, so
    each port's choosing rule comes right after that port's chains, ahead of every other
    service rule and element (the table is the same; a 10,000-service sync is faster)."""
    lines = render(SIX, CFG, "172.30.0.0/16", ["192.168.0.2"]).text.splitlines()
    picks = [i for i, line in enumerate(lines) if " numgen random mod " in line]
    assert len(picks) == 5  # svc6 has no endpoints
    later = [i for i, line in enumerate(lines)
             if " dnat to " in line or line.startswith("add element ip kube-proxy cluster-ips")]
    assert max(picks) < min(later)
    start = 0
    for i in picks:
        made = {line.split()[4] for line in lines[start:i] if line.startswith("add chain")}
        targets = lines[i].split(" goto ")[1:]
        assert {t.split()[0] for t in targets} <= made, lines[i]
        start = i + 1

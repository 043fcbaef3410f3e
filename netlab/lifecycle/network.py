"""The lab network, its hosts and the nodes' own wiring (bridge, routes or VXLAN, sysctls).

Every namespace is journalled before it is created, so ``down`` finds it whatever happens.
"""

from __future__ import annotations

import ipaddress

from netlab.errors import NetlabError
from netlab.lifecycle.runtime import Runtime
from netlab.plan import kernel as kernel_needs
from netlab.proxy.ipvs import DUMMY_DEVICE, diff
from netlab.proxy.nftables import render_delete

VXLAN_DEV, VXLAN_VNI, VXLAN_PORT, VXLAN_MTU = "flannel.1", 1, 8472, 1450


def make_netns(rt: Runtime, name: str) -> None:
    rt.ld.record({"kind": "netns", "name": name})
    try:
        rt.kernel.namespaces.create_netns(name)
    except FileExistsError:
        rt.ld.record({"kind": "revoke", "name": name})
        raise NetlabError(f"network namespace {name} already exists and is not this lab's; "
                          "remove it or rename the lab") from None


def make_uts(rt: Runtime, path: str, hostname: str) -> None:
    rt.ld.record({"kind": "uts", "path": path})
    rt.kernel.namespaces.create_uts(path, hostname)


def build_lab_network(rt: Runtime) -> None:
    """The lab network's bridge in a namespace of its own, and every node and client host on
    it (eth0, an address, a default route via the bridge)."""
    plan = rt.plan
    rt.progress("lab network", 0, 1)
    make_netns(rt, plan.lan_netns)
    lan_net = ipaddress.ip_network(plan.spec.node_cidr)
    with rt.kernel.links.open(plan.lan_netns) as lan:
        lan.up("lo")
        lan.ensure_bridge(plan.lan_bridge)
        lan.add_address(plan.lan_bridge, plan.lan_gateway, lan_net.prefixlen)
        hosts = [(n.name, n.netns, n.lan_veth, n.lan_ip) for n in plan.nodes] + \
                [(c.name, c.netns, c.lan_veth, c.lan_ip) for c in plan.clients]
        for i, (name, netns, port, ip) in enumerate(hosts):
            rt.progress("nodes and clients", i, len(hosts))
            make_netns(rt, netns)
            make_uts(rt, rt.host_uts(name), name)
            lan.add_veth_to(port, netns, "eth0", master=plan.lan_bridge)
            with rt.kernel.links.open(netns) as ns:
                ns.up("lo")
                ns.add_address("eth0", ip, lan_net.prefixlen)
                ns.up("eth0")
                ns.add_route("0.0.0.0/0", gateway=plan.lan_gateway)
                if name in plan.spec.clients:  # pools outside the lab network: on-link
                    for cidr in plan.spec.lb_routes:
                        ns.add_route(cidr, dev="eth0")


def setup_nodes(rt: Runtime) -> None:
    """Each node: its sysctls, cni0 with the pods' gateway, kube-ipvs0 in IPVS mode, and the
    routes (host-gw) or the flannel-style VXLAN overlay to the other nodes' pods."""
    plan = rt.plan
    vxlan = plan.spec.routing == "vxlan"
    for node in plan.nodes:
        rt.kernel.sysctls.set(node.netns, kernel_needs.node_sysctls(plan.spec))
        subnet = ipaddress.ip_network(node.pod_cidr)
        with rt.kernel.links.open(node.netns) as ns:
            if plan.spec.proxy_mode == "ipvs":
                ns.ensure_dummy(DUMMY_DEVICE)
            ns.ensure_bridge("cni0")
            ns.add_address("cni0", node.gateway, subnet.prefixlen)
            if vxlan:
                ns.add_vxlan(VXLAN_DEV, VXLAN_VNI, node.lan_ip, "eth0", VXLAN_PORT,
                             node.vtep_mac)
                ns.set_mtu(VXLAN_DEV, VXLAN_MTU)
                ns.add_address(VXLAN_DEV, str(subnet.network_address), 32)
                ns.up(VXLAN_DEV)
            for other in plan.nodes:
                if other.name == node.name:
                    continue
                if vxlan:
                    vtep_ip = str(ipaddress.ip_network(other.pod_cidr).network_address)
                    ns.add_neigh(VXLAN_DEV, vtep_ip, other.vtep_mac)
                    ns.add_fdb(VXLAN_DEV, other.vtep_mac, other.lan_ip)
                    ns.add_route(other.pod_cidr, gateway=vtep_ip, dev=VXLAN_DEV, onlink=True)
                else:
                    ns.add_route(other.pod_cidr, gateway=other.lan_ip, dev="eth0")
    rt.state.flavour = rt.kernel.netfilter.flavour(plan.nodes[0].netns)


def conntrack_settings(rt: Runtime) -> None:
    """kube-proxy's conntrack timeouts in every node (after the first sync, whose rules made
    the kernel load conntrack; a kernel without it keeps its defaults)."""
    for node in rt.plan.nodes:
        present = {k: v for k, v in kernel_needs.CONNTRACK_SYSCTLS.items()
                   if rt.kernel.sysctls.get(node.netns, k) is not None}
        if present:
            rt.kernel.sysctls.set(node.netns, present)


def prepare_proxy_mode(rt: Runtime, old: str) -> None:
    """Before the first sync in a new proxy mode: the new mode's sysctls and kube-ipvs0, and
    nothing of IPVS mode's virtual servers or dummy interface left when leaving it. The sync
    that follows is full and rewrites whole tables; ``finish_proxy_mode`` then removes the
    old mode's ipsets."""
    new = rt.plan.spec.proxy_mode
    rt.state.sync.clear()  # nothing of the old mode's sync state applies: the next is full
    for node in rt.plan.nodes:
        if new == "ipvs":
            rt.kernel.sysctls.set(node.netns, kernel_needs.proxy_sysctls(rt.plan.spec))
            with rt.kernel.links.open(node.netns) as ns:
                ns.ensure_dummy(DUMMY_DEVICE)
        elif old == "ipvs":
            rt.kernel.ipvs.apply(node.netns, diff(rt.kernel.ipvs.dump(node.netns), ()))
            with rt.kernel.links.open(node.netns) as ns:
                ns.delete_link(DUMMY_DEVICE)
            rt.kernel.sysctls.set(node.netns, kernel_needs.LEAVING_IPVS)


def finish_proxy_mode(rt: Runtime, old: str) -> None:
    """After the new mode's first (full) sync: the old mode's ipsets, or its ip kube-proxy
    table, go (no rule references them any more)."""
    if old == "ipvs" and rt.plan.spec.proxy_mode != "ipvs":
        for node in rt.plan.nodes:
            rt.kernel.ipsets.destroy_all(node.netns)
    if old == "nftables" and rt.plan.spec.proxy_mode != "nftables":
        for node in rt.plan.nodes:
            rt.kernel.netfilter.nft(node.netns, render_delete())

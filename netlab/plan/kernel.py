"""What a lab asks of the kernel: the modules its nodes need and every sysctl netlab writes in
them. Pure: ``up`` checks all of it before it creates anything."""

from __future__ import annotations

from netlab.model import LabSpec

NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.route_localnet": "1",  # kube-proxy sets it for NodePorts on 127.0.0.1
    "net.bridge.bridge-nf-call-iptables": "1",  # kubelet/kube-proxy require br_netfilter
}
# the sysctls kube-proxy's IPVS mode sets (pkg/proxy/ipvs/proxier.go NewProxier)
IPVS_SYSCTLS = {
    "net.ipv4.vs.conntrack": "1",
    "net.ipv4.vs.conn_reuse_mode": "0",
    "net.ipv4.vs.expire_nodest_conn": "1",
    "net.ipv4.vs.expire_quiescent_template": "1",
}
STRICT_ARP_SYSCTLS = {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"}
# What a new network namespace holds for those, so leaving IPVS mode puts them back
LEAVING_IPVS = {"net.ipv4.vs.conntrack": "0", "net.ipv4.vs.conn_reuse_mode": "1",
                "net.ipv4.vs.expire_nodest_conn": "0", "net.ipv4.vs.expire_quiescent_template": "0",
                "net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.all.arp_announce": "0"}
# kube-proxy's conntrack settings (its conntrack.tcpEstablishedTimeout, tcpCloseWaitTimeout),
# per network namespace: written in each node once its rules have loaded conntrack.
# nf_conntrack_max, which kube-proxy also raises, is global to the host: netlab leaves it.
CONNTRACK_SYSCTLS = {"net.netfilter.nf_conntrack_tcp_timeout_established": "86400",
                     "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "3600"}
CONNTRACK_MAX_PER_CORE, CONNTRACK_MIN = 32768, 131072


def kube_proxy_conntrack_max(cpus: int) -> int:
    """What kube-proxy would set nf_conntrack_max to on a machine with CPUS cores."""
    return max(CONNTRACK_MAX_PER_CORE * cpus, CONNTRACK_MIN)


# sysctl prefix -> the module that provides it
SYSCTL_MODULES = (("net.bridge.", "br_netfilter"), ("net.ipv4.vs.", "ip_vs"))


def proxy_sysctls(spec: LabSpec) -> dict[str, str]:
    """The sysctls of the lab's proxy mode in every node."""
    if spec.proxy_mode != "ipvs":
        return {}
    return {**IPVS_SYSCTLS, **(STRICT_ARP_SYSCTLS if spec.strict_arp else {})}


def node_sysctls(spec: LabSpec) -> dict[str, str]:
    """Every sysctl netlab writes in a node of this lab."""
    return {**NODE_SYSCTLS, **proxy_sysctls(spec)}


def required_modules(spec: LabSpec) -> tuple[str, ...]:
    mods = ["br_netfilter"]
    if spec.proxy_mode == "ipvs":
        mods += ["ip_vs", f"ip_vs_{spec.ipvs_scheduler}", "dummy"]
    return tuple(mods)


def module_of_sysctl(key: str) -> str:
    """The module that provides sysctl KEY, or "" for the core kernel's."""
    return next((m for prefix, m in SYSCTL_MODULES if key.startswith(prefix)), "")

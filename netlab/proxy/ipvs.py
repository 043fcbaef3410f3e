"""kube-proxy's IPVS mode as a pure function: services in; ipsets, iptables rules and IPVS
virtual servers out. Reference: kubernetes pkg/proxy/ipvs/proxier.go (writeIptablesRules,
ipsetWithIptablesChain, syncProxyRules) and ipset.go.

The kernel side (kube-ipvs0, netlink IPVS, ipset restore) applies what this renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from netlab.model.sync import IpvsOp, Key, VirtualServer
from netlab.proxy.core import (
    ProxyConfig,
    ServicePortView,
    categorize,
    forward_rules,
    localnet_firewall_rule,
    masquerade_rules,
)

DUMMY_DEVICE = "kube-ipvs0"

# name: (type, comment) as kube-proxy declares them
IPSETS = {
    "KUBE-LOOP-BACK": ("hash:ip,port,ip",
                       "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
    "KUBE-CLUSTER-IP": ("hash:ip,port",
                        "Kubernetes service cluster ip + port for masquerade purpose"),
    "KUBE-EXTERNAL-IP": ("hash:ip,port", "Kubernetes service external ip + port for masquerade "
                                         "and filter purpose"),
    "KUBE-EXTERNAL-IP-LOCAL": ("hash:ip,port", "Kubernetes service external ip + port with "
                                               "externalTrafficPolicy=local"),
    "KUBE-LOAD-BALANCER": ("hash:ip,port", "Kubernetes service lb portal"),
    "KUBE-LOAD-BALANCER-FW": ("hash:ip,port", "Kubernetes service load balancer ip + port for "
                                              "load balancer with sourceRange"),
    "KUBE-LOAD-BALANCER-LOCAL": ("hash:ip,port", "Kubernetes service load balancer ip + port "
                                                 "with externalTrafficPolicy=local"),
    "KUBE-LOAD-BALANCER-SOURCE-IP": ("hash:ip,port,ip", "Kubernetes service load balancer ip + "
                                     "port + source IP for packet filter purpose"),
    "KUBE-LOAD-BALANCER-SOURCE-CIDR": ("hash:ip,port,net", "Kubernetes service load balancer "
                                       "ip + port + source cidr for packet filter purpose"),
    "KUBE-NODE-PORT-TCP": ("bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    "KUBE-NODE-PORT-LOCAL-TCP": ("bitmap:port", "Kubernetes nodeport TCP port with "
                                                "externalTrafficPolicy=local"),
    "KUBE-NODE-PORT-UDP": ("bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
    "KUBE-NODE-PORT-LOCAL-UDP": ("bitmap:port", "Kubernetes nodeport UDP port with "
                                                "externalTrafficPolicy=local"),
    "KUBE-NODE-PORT-SCTP-HASH": ("hash:ip,port", "Kubernetes nodeport SCTP port for masquerade "
                                                 "purpose with type 'hash ip:port'"),
    "KUBE-NODE-PORT-LOCAL-SCTP-HASH": ("hash:ip,port", "Kubernetes nodeport SCTP port with "
                                                       "externalTrafficPolicy=local with type "
                                                       "'hash ip:port'"),
    "KUBE-HEALTH-CHECK-NODE-PORT": ("bitmap:port", "Kubernetes health check node port"),
    "KUBE-IPVS-IPS": ("hash:ip", "Addresses on the ipvs interface"),
}

# ipsetWithIptablesChain: (set, table, from, to, match type, protocol)
SET_RULES = [
    ("KUBE-LOOP-BACK", "nat", "KUBE-POSTROUTING", "MASQUERADE", "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER", "nat", "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-LOCAL", "nat", "KUBE-LOAD-BALANCER", "RETURN", "dst,dst", ""),
    ("KUBE-NODE-PORT-LOCAL-TCP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "tcp"),
    ("KUBE-NODE-PORT-TCP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "tcp"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "udp"),
    ("KUBE-NODE-PORT-UDP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "udp"),
    ("KUBE-NODE-PORT-LOCAL-SCTP-HASH", "nat", "KUBE-NODE-PORT", "RETURN", "dst,dst", "sctp"),
    ("KUBE-NODE-PORT-SCTP-HASH", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst,dst", "sctp"),
    ("KUBE-LOAD-BALANCER-FW", "filter", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
     "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN",
     "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-IP", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN",
     "dst,dst,src", ""),
]

NAT_CHAINS = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER",
              "KUBE-MARK-MASQ"]
FILTER_CHAINS = ["KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL",
                 "KUBE-SOURCE-RANGES-FIREWALL"]
# kube-proxy 1.27 added these (kubernetes#72236): new connections to a VIP address on a port
# no service claims are rejected, which also ends the classic "a ClusterIP answers ping in
# IPVS mode" (kubernetes/website#41002). Off by default; the Lab's ipvs.vipFilter turns it on.
VIP_FILTER_CHAINS = ["KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"]

# iptablesJumpChain, in the order the rules end up in (kube-proxy prepends each in turn)
JUMPS = {
    "nat": [("PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
            ("OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
            ("POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules")],
    "filter": [("INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"),
               ("INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
               ("INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"),
               ("FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
               ("FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
               ("OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter")],
}


@dataclass(frozen=True)
class IpvsSync:
    ipsets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # set -> sorted entries
    iptables: str = ""
    virtual_servers: tuple[VirtualServer, ...] = ()
    addresses: tuple[str, ...] = ()  # bound to kube-ipvs0 as /32

    def ipset_restore(self, previous: dict[str, tuple[str, ...]] | None = None) -> str:
        """One `ipset restore` transaction. Without PREVIOUS (the sets as the node's last sync
        left them): every set created if missing, flushed and refilled. With it: only the
        entries that changed are deleted or added, as kube-proxy's syncIPSetEntries does."""
        lines = []
        for name, (stype, _comment) in IPSETS.items():
            entries = self.ipsets.get(name, ())
            if previous is None:
                opts = "range 0-65535" if stype == "bitmap:port" else \
                    "family inet hashsize 1024 maxelem 65536"
                lines.append(f"create {name} {stype} {opts} -exist")
                lines.append(f"flush {name}")
                lines += [f"add {name} {entry} -exist" for entry in entries]
                continue
            before, now = set(previous.get(name, ())), set(entries)
            lines += [f"del {name} {entry} -exist" for entry in sorted(before - now)]
            lines += [f"add {name} {entry} -exist" for entry in sorted(now - before)]
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return f'"{text}"'


def _reals(eps: Sequence[str]) -> tuple[tuple[str, int], ...]:
    return tuple((ep.rsplit(":", 1)[0], int(ep.rsplit(":", 1)[1])) for ep in eps)


def _adder(servers: list[VirtualServer], v: ServicePortView, scheduler: str):
    """A function adding virtual servers of service port V (masquerading real servers)."""
    def add(addr: str, port: int, eps: Sequence[str]) -> None:
        servers.append(VirtualServer(addr, port, v.protocol.upper(), scheduler,
                                     v.affinity_seconds, _reals(eps), v.spn, v.service))
    return add


def render(ports: Sequence[ServicePortView], cfg: ProxyConfig, node_ips: Sequence[str],
           scheduler: str = "rr", vip_filter: bool = False) -> IpvsSync:
    sets: dict[str, set[str]] = {name: set() for name in IPSETS}
    servers: list[VirtualServer] = []
    for v in ports:
        proto = v.protocol
        cats = categorize(v, cfg.node_name)
        cluster_eps = [e.addr for e in cats.cluster]
        local_eps = [e.addr for e in cats.local]
        internal = local_eps if v.itp_local else cluster_eps
        # kube-proxy's IPVS mode falls back to every endpoint when a node has no local one
        external = (local_eps or cluster_eps) if v.etp_local else cluster_eps
        vs = _adder(servers, v, scheduler)
        sets["KUBE-CLUSTER-IP"].add(f"{v.cluster_ip},{proto}:{v.port}")
        sets["KUBE-IPVS-IPS"].add(v.cluster_ip)
        vs(v.cluster_ip, v.port, internal)
        for ep in cats.reachable:  # hairpin: a pod reaching itself through the service
            if ep.node and ep.node == cfg.node_name:
                sets["KUBE-LOOP-BACK"].add(f"{ep.ip},{proto}:{ep.port},{ep.ip}")
        for ip in v.external_ips:
            sets["KUBE-EXTERNAL-IP-LOCAL" if v.etp_local else "KUBE-EXTERNAL-IP"].add(
                f"{ip},{proto}:{v.port}")
            sets["KUBE-IPVS-IPS"].add(ip)
            vs(ip, v.port, external)
        for ip in v.lb_ips:
            entry = f"{ip},{proto}:{v.port}"
            sets["KUBE-LOAD-BALANCER"].add(entry)
            sets["KUBE-IPVS-IPS"].add(ip)
            if v.etp_local:
                sets["KUBE-LOAD-BALANCER-LOCAL"].add(entry)
            if v.lb_source_ranges:
                sets["KUBE-LOAD-BALANCER-FW"].add(entry)
                for cidr in v.lb_source_ranges:
                    sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"].add(f"{entry},{cidr}")
            vs(ip, v.port, external)
        if v.node_port and proto in ("tcp", "udp"):
            sets[f"KUBE-NODE-PORT-{proto.upper()}"].add(str(v.node_port))
            if v.etp_local:
                sets[f"KUBE-NODE-PORT-LOCAL-{proto.upper()}"].add(str(v.node_port))
        elif v.node_port:  # SCTP: a hash:ip,port set, an entry per node address
            for ip in node_ips:
                sets["KUBE-NODE-PORT-SCTP-HASH"].add(f"{ip},sctp:{v.node_port}")
                if v.etp_local:
                    sets["KUBE-NODE-PORT-LOCAL-SCTP-HASH"].add(f"{ip},sctp:{v.node_port}")
        if v.node_port:
            for ip in node_ips:
                vs(ip, v.node_port, external)
        if v.health_check_node_port:
            sets["KUBE-HEALTH-CHECK-NODE-PORT"].add(str(v.health_check_node_port))
    return IpvsSync({k: tuple(sorted(e)) for k, e in sets.items() if e},
                    render_iptables(sets, cfg, vip_filter), tuple(servers),
                    tuple(sorted(sets["KUBE-IPVS-IPS"])))


def render_iptables(sets: dict[str, set[str]], cfg: ProxyConfig,
                    vip_filter: bool = False) -> str:
    """kube-proxy's writeIptablesRules for the IPVS mode: a few rules that match ipsets."""
    nat: list[str] = ["-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN"]
    filt: list[str] = []
    for name, table, src, dst, match, proto in SET_RULES:
        if not sets.get(name):
            continue
        rule = f"-A {src}" + (f" -p {proto}" if proto else "") + \
            f" -m comment --comment {_q(IPSETS[name][1])} -m set --match-set {name} {match}" \
            f" -j {dst}"
        (nat if table == "nat" else filt).append(rule)
    comment = f"-m comment --comment {_q(IPSETS['KUBE-CLUSTER-IP'][1])}"
    if sets.get("KUBE-CLUSTER-IP"):
        nat.append(f"-A KUBE-SERVICES {comment} -m set --match-set KUBE-CLUSTER-IP dst,dst "
                   f"! -s {cfg.cluster_cidr} -j KUBE-MARK-MASQ")
    for name in ("KUBE-EXTERNAL-IP", "KUBE-EXTERNAL-IP-LOCAL"):
        if not sets.get(name):
            continue
        base = f"-A KUBE-SERVICES -m comment --comment {_q(IPSETS[name][1])} " \
               f"-m set --match-set {name} dst,dst"
        if name == "KUBE-EXTERNAL-IP":
            nat.append(f"{base} -j KUBE-MARK-MASQ")
        nat.append(f"{base} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL "
                   "-j ACCEPT")
        nat.append(f"{base} -m addrtype --dst-type LOCAL -j ACCEPT")
    nat.append("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT")
    nat.append("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ")
    filt.append("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP")
    for name in ("KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER"):
        if sets.get(name):
            nat.append(f"-A KUBE-SERVICES -m set --match-set {name} dst,dst -j ACCEPT")
    filt += forward_rules(cfg, drop_invalid=False) + [
        f"-A KUBE-NODE-PORT -m comment --comment {_q(IPSETS['KUBE-HEALTH-CHECK-NODE-PORT'][1])}"
        " -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT",
    ]
    if vip_filter:
        filt += [
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN",
            "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst "
            "-j REJECT",
        ]
    nat += masquerade_rules(cfg)
    chains = FILTER_CHAINS + (VIP_FILTER_CHAINS if vip_filter else [])
    return "\n".join(["*filter", *(f":{c} - [0:0]" for c in chains), *filt, "COMMIT",
                      "*nat", *(f":{c} - [0:0]" for c in NAT_CHAINS), *nat, "COMMIT", ""])


def render_bootstrap(vip_filter: bool = False) -> str:
    """Set up once per node in IPVS mode: kubelet's hint, canaries and KUBE-FIREWALL, and
    kube-proxy's canaries and jumps."""
    canaries = [":KUBE-KUBELET-CANARY - [0:0]", ":KUBE-PROXY-CANARY - [0:0]"]
    firewall = localnet_firewall_rule()
    return "\n".join([
        "*mangle", ":KUBE-IPTABLES-HINT - [0:0]", *canaries, "COMMIT",
        "*filter", *canaries, ":KUBE-FIREWALL - [0:0]", firewall,
        "-A INPUT -j KUBE-FIREWALL", "-A OUTPUT -j KUBE-FIREWALL", "COMMIT",
        "*nat", *canaries, "COMMIT", ""]) + render_jumps(vip_filter)


def render_jumps(vip_filter: bool = False) -> str:
    """The jumps from the built-in chains (kube-proxy's iptablesJumpChain)."""
    out = []
    for table, jumps in JUMPS.items():
        chains = NAT_CHAINS if table == "nat" else \
            FILTER_CHAINS + (VIP_FILTER_CHAINS if vip_filter else [])
        out.append(f"*{table}")
        out += [f":{c} - [0:0]" for c in chains]
        out += [f"-A {src} -m comment --comment {_q(comment)} -j {dst}"
                for src, dst, comment in jumps if dst in chains]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def diff(current: Mapping[Key, VirtualServer], desired: Iterable[VirtualServer]) -> \
        tuple[IpvsOp, ...]:
    """The operations that turn CURRENT (what the kernel holds, as read back) into DESIRED:
    virtual servers added or changed, real servers added or removed, and every virtual
    server of CURRENT that DESIRED does not hold removed. A partial sync passes only the
    virtual servers of the changed services on both sides."""
    ops: list[IpvsOp] = []
    want = {vs.key: vs for vs in desired}
    for key in sorted(want):
        vs, have = want[key], current.get(key)
        if have is None:
            ops.append(IpvsOp("add-service", *key, vs.scheduler, vs.persistent_s))
        elif (have.scheduler, have.persistent_s) != (vs.scheduler, vs.persistent_s):
            ops.append(IpvsOp("set-service", *key, vs.scheduler, vs.persistent_s))
        had = set(have.real_servers) if have else set()
        ops += [IpvsOp("add-dest", *key, dest=r) for r in sorted(set(vs.real_servers) - had)]
        ops += [IpvsOp("del-dest", *key, dest=r) for r in sorted(had - set(vs.real_servers))]
    ops += [IpvsOp("del-service", *key) for key in sorted(set(current) - set(want))]
    return tuple(ops)

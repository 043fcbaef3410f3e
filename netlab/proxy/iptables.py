"""kube-proxy's iptables mode as a pure function: services and endpoints in, restore text out.

The text is what kube-proxy's ``syncProxyRules`` feeds to ``iptables-restore --noflush``: the
same tables, chains, rule order, comments, 0x4000 mark and probabilities, with chain names hashed
the way kube-proxy hashes them. Reference: kubernetes ``pkg/proxy/iptables/proxier.go``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netlab.proxy.core import (
    KUBE_FIREWALL,
    KUBE_FORWARD,
    KUBE_MARK_MASQ,
    KUBE_POSTROUTING,
    ProxyConfig,
    ServicePortView,
    categorize,
    forward_rules,
    hash_prefix,
    localnet_firewall_rule,
    masquerade_rules,
)
from netlab.proxy.core import comment as _comment
from netlab.proxy.core import line as _line

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")
# kube-proxy's largeClusterEndpointsThreshold: above it, endpoint rules carry no comments
LARGE_CLUSTER_ENDPOINTS = 1000


# -- names ---------------------------------------------------------------------------------------


def _hash16(text: str) -> str:
    return hash_prefix(text, 16)


def svc_chain(spn: str, protocol: str) -> str:
    return "KUBE-SVC-" + _hash16(spn + protocol.lower())


def svl_chain(spn: str, protocol: str) -> str:
    return "KUBE-SVL-" + _hash16(spn + protocol.lower())


def ext_chain(spn: str, protocol: str) -> str:
    return "KUBE-EXT-" + _hash16(spn + protocol.lower())


def fw_chain(spn: str, protocol: str) -> str:
    return "KUBE-FW-" + _hash16(spn + protocol.lower())


def sep_chain(spn: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash16(spn + protocol.lower() + endpoint)


def probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


TOP_CHAINS = frozenset({KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ,
                        KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_PROXY_FIREWALL, KUBE_FIREWALL})


@dataclass(frozen=True)
class Rendered:
    text: str  # iptables-restore input
    chains: frozenset[str]  # the service chains this sync keeps (written or left as they were)
    lines: int  # rules written
    top_digest: str = ""  # fingerprint of the top-level chains' rules
    services_text: str = ""  # partial syncs: the text without the top-level chains

    def partial_text(self, previous_top_digest: str) -> str:
        """What a partial sync must send: the top-level chains can be left out when they are
        exactly as the node's previous sync wrote them (only endpoints inside services
        changed), which spares iptables-nft re-reading every jump they hold."""
        if self.services_text and previous_top_digest == self.top_digest:
            return self.services_text
        return self.text


def _write_endpoint_jumps(rules: list[str], v: ServicePortView, chain: str,
                          endpoints: Sequence[str], large: bool) -> None:
    """kube-proxy's writeServiceToEndpointRules: affinity checks first, then the random pick.
    In large clusters the comments are left out (appendServiceCommentLocked)."""
    def comment(text: str) -> list[str]:
        return [] if large else _comment(text)

    if v.affinity_seconds:
        for ep in endpoints:
            sep = sep_chain(v.spn, v.protocol, ep)
            rules.append(_line("-A", chain, comment(f"{v.spn} -> {ep}"), "-m", "recent",
                               "--name", sep, "--rcheck", "--seconds", str(v.affinity_seconds),
                               "--reap", "-j", sep))
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = ["-m", "statistic", "--mode", "random", "--probability",
                probability(n - i)] if i < n - 1 else []
        rules.append(_line("-A", chain, comment(f"{v.spn} -> {ep}"), stat,
                           "-j", sep_chain(v.spn, v.protocol, ep)))


@dataclass(frozen=True)
class _Decided:
    """What syncProxyRules decides for one service port on one node, before writing rules."""

    v: ServicePortView
    cluster_eps: list[str]
    local_eps: list[str]
    reachable: list[str]
    has_endpoints: bool
    uses_cluster: bool
    uses_local: bool
    cluster_chain: str
    local_chain: str
    internal_chain: str
    has_internal: bool
    external_policy: str
    has_external: bool
    external: str
    uses_external: bool
    firewall: str
    uses_fw: bool
    no_target: str  # REJECT (no endpoints at all) or DROP (none local)
    no_comment: str

    def vip(self, ip: str) -> list[str]:
        p = self.v.protocol
        return ["-m", p, "-p", p, "-d", ip, "--dport", str(self.v.port)]

    @property
    def chains(self) -> list[str]:
        """The service's own chains this node uses."""
        v = self.v
        used = [c for c, on in ((self.external, self.uses_external), (self.firewall, self.uses_fw),
                                (self.cluster_chain, self.uses_cluster),
                                (self.local_chain, self.uses_local)) if on]
        return used + [sep_chain(v.spn, v.protocol, ep) for ep in self.reachable]


def _decide(v: ServicePortView, cfg: ProxyConfig) -> _Decided:
    proto = v.protocol
    cats = categorize(v, cfg.node_name)
    cluster_eps = [e.addr for e in cats.cluster]
    local_eps = [e.addr for e in cats.local]
    has = cats.has_any
    cluster_chain, local_chain = svc_chain(v.spn, proto), svl_chain(v.spn, proto)
    internal_chain, has_internal = (local_chain, bool(local_eps)) if v.itp_local else \
        (cluster_chain, has)
    external_policy, has_external = (local_chain, bool(local_eps)) if v.etp_local else \
        (cluster_chain, has)
    return _Decided(
        v, cluster_eps, local_eps, [e.addr for e in cats.reachable], has,
        bool(cluster_eps) and v.uses_cluster_endpoints,
        bool(local_eps) and v.uses_local_endpoints, cluster_chain, local_chain,
        internal_chain, has_internal, external_policy, has_external, ext_chain(v.spn, proto),
        has and v.externally_accessible, fw_chain(v.spn, proto),
        has and bool(v.lb_ips) and bool(v.lb_source_ranges),
        "DROP" if has else "REJECT",
        f"{v.spn} has no local endpoints" if has else f"{v.spn} has no endpoints")


def _capture(d: _Decided, nat: list[str], filt: list[str]) -> None:
    """The top-level rules that capture traffic to the service: its ClusterIP, external IPs,
    load balancer IPs and node port; or reject/drop it when nothing can take it."""
    v = d.v
    if d.has_internal:
        nat.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} cluster IP"),
                         d.vip(v.cluster_ip), "-j", d.internal_chain))
    else:
        filt.append(_line("-A", KUBE_SERVICES, _comment(d.no_comment), d.vip(v.cluster_ip),
                          "-j", d.no_target))
    for ip in v.external_ips:
        if d.has_endpoints:
            nat.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} external IP"), d.vip(ip),
                             "-j", d.external))
        if not d.has_external:
            filt.append(_line("-A", KUBE_EXTERNAL_SERVICES, _comment(d.no_comment), d.vip(ip),
                              "-j", d.no_target))
    for ip in v.lb_ips:
        if d.has_endpoints:
            nat.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} loadbalancer IP"),
                             d.vip(ip), "-j", d.firewall if d.uses_fw else d.external))
        if d.uses_fw:
            filt.append(_line("-A", KUBE_PROXY_FIREWALL,
                              _comment(f"{v.spn} traffic not accepted by {d.firewall}"),
                              d.vip(ip), "-j", "DROP"))
    if not d.has_external:
        for ip in v.lb_ips:
            filt.append(_line("-A", KUBE_EXTERNAL_SERVICES, _comment(d.no_comment), d.vip(ip),
                              "-j", d.no_target))
    proto, node_port = v.protocol, ["--dport", str(v.node_port)]
    if v.node_port and d.has_endpoints:
        nat.append(_line("-A", KUBE_NODEPORTS, _comment(v.spn), "-m", proto, "-p", proto,
                         node_port, "-j", d.external))
    if v.node_port and not d.has_external:
        filt.append(_line("-A", KUBE_EXTERNAL_SERVICES, _comment(d.no_comment), "-m",
                          "addrtype", "--dst-type", "LOCAL", "-m", proto, "-p", proto,
                          node_port, "-j", d.no_target))
    if v.health_check_node_port:
        filt.append(_line("-A", KUBE_NODEPORTS, _comment(f"{v.spn} health check node port"),
                          "-m", "tcp", "-p", "tcp", "--dport", str(v.health_check_node_port),
                          "-j", "ACCEPT"))


def _external_rules(d: _Decided, cfg: ProxyConfig, nat: list[str]) -> None:
    """KUBE-EXT-*: masquerade external traffic (Cluster policy), or keep the client's
    address and short-circuit pods and the node itself to the cluster chain (Local)."""
    v, ext = d.v, d.external
    if not v.etp_local:
        nat.append(_line("-A", ext, _comment(f"masquerade traffic for {v.spn} external "
                                             "destinations"), "-j", KUBE_MARK_MASQ))
    else:
        nat += [
            _line("-A", ext, _comment(f"pod traffic for {v.spn} external destinations"),
                  "-s", cfg.cluster_cidr, "-j", d.cluster_chain),
            _line("-A", ext, _comment(f"masquerade LOCAL traffic for {v.spn} external "
                                      "destinations"),
                  "-m", "addrtype", "--src-type", "LOCAL", "-j", KUBE_MARK_MASQ),
            _line("-A", ext, _comment(f"route LOCAL traffic for {v.spn} external destinations"),
                  "-m", "addrtype", "--src-type", "LOCAL", "-j", d.cluster_chain),
        ]
    if d.has_external:
        nat.append(_line("-A", ext, "-j", d.external_policy))


def _firewall_rules(d: _Decided, cfg: ProxyConfig, nat: list[str]) -> None:
    """KUBE-FW-*: loadBalancerSourceRanges (and the LB addresses themselves when the node is
    in a range, for traffic hairpinned through the load balancer)."""
    v = d.v
    fw_args = ["-A", d.firewall, *_comment(f"{v.spn} loadbalancer IP")]
    from_node = False
    for cidr in v.lb_source_ranges:
        nat.append(_line(fw_args, "-s", cidr, "-j", d.external))
        if cfg.node_ip and ipaddress.ip_address(cfg.node_ip) in ipaddress.ip_network(cidr):
            from_node = True
    if from_node:
        nat += [_line(fw_args, "-s", ip, "-j", d.external) for ip in v.lb_ips]
    nat.append(_line("-A", d.firewall, _comment(f"other traffic to {v.spn} will be dropped "
                                                "by KUBE-PROXY-FIREWALL")))


def _own_chains(d: _Decided, cfg: ProxyConfig, nat: list[str], large: bool,
                sep_comments: dict[str, list[str]]) -> None:
    """The service's own chains: masquerade of outside traffic, external and firewall chains,
    the random pick of an endpoint, and one DNAT chain per endpoint."""
    v, proto = d.v, d.v.protocol
    if d.has_internal:
        nat.append(_line("-A", d.internal_chain, _comment(f"{v.spn} cluster IP"),
                         d.vip(v.cluster_ip), "!", "-s", cfg.cluster_cidr, "-j",
                         KUBE_MARK_MASQ))
    if d.uses_external:
        _external_rules(d, cfg, nat)
    if d.uses_fw:
        _firewall_rules(d, cfg, nat)
    if d.uses_cluster:
        _write_endpoint_jumps(nat, v, d.cluster_chain, d.cluster_eps, large)
    if d.uses_local:
        _write_endpoint_jumps(nat, v, d.local_chain, d.local_eps, large)
    sep_comment = [] if large else sep_comments.setdefault(v.spn, _comment(v.spn))
    for ep in d.reachable:
        sep = sep_chain(v.spn, proto, ep)
        nat.append(_line("-A", sep, sep_comment, "-s", ep.rsplit(":", 1)[0], "-j",
                         KUBE_MARK_MASQ))
        recent = ["-m", "recent", "--name", sep, "--set"] if v.affinity_seconds else []
        nat.append(_line("-A", sep, sep_comment, recent, "-m", proto, "-p", proto, "-j",
                         "DNAT", "--to-destination", ep))


def render(ports: Sequence[ServicePortView], cfg: ProxyConfig,
           stale_chains: Iterable[str] = (), changed: set[str] | None = None) -> Rendered:
    """The iptables-restore input of one sync on node CFG.node_name.

    CHANGED names the services (namespace/name) whose chains must be rewritten; None means a
    full sync. Chains of unchanged services are left out and keep their rules (--noflush), as
    in kube-proxy's partial syncs; the top-level chains are always rewritten whole."""
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                     KUBE_PROXY_FIREWALL, KUBE_FIREWALL]
    filter_rules: list[str] = [localnet_firewall_rule()]
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    nat_rules: list[str] = masquerade_rules(cfg)
    active: set[str] = set()
    large = sum(len(v.endpoints) for v in ports) > LARGE_CLUSTER_ENDPOINTS
    sep_comments: dict[str, list[str]] = {}
    for v in ports:
        d = _decide(v, cfg)
        _capture(d, nat_rules, filter_rules)
        chains = d.chains
        active.update(chains)
        if changed is None or v.service in changed:  # an unchanged service keeps its chains
            nat_chains.extend(chains)
            _own_chains(d, cfg, nat_rules, large, sep_comments)

    for chain in sorted(set(stale_chains) - active):
        if chain.startswith(SERVICE_CHAIN_PREFIXES):
            nat_chains.append(chain)
            nat_rules.append(_line("-X", chain))

    nat_rules.append(_line(
        "-A", KUBE_SERVICES,
        _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"),
        "-m", "addrtype", "--dst-type", "LOCAL", "-j", KUBE_NODEPORTS))
    filter_rules += forward_rules(cfg, drop_invalid=True)
    text = "\n".join([
        "*filter", *(f":{c} - [0:0]" for c in filter_chains), *filter_rules, "COMMIT",
        "*nat", *(f":{c} - [0:0]" for c in nat_chains), *nat_rules, "COMMIT", "",
    ])
    top = [line for line in filter_rules + nat_rules if line.split(" ", 2)[1] in TOP_CHAINS]
    digest = hashlib.sha256("\n".join(top).encode()).hexdigest()
    services_text = ""
    if changed is not None:
        services_text = "\n".join([
            "*nat", *(f":{c} - [0:0]" for c in nat_chains if c not in TOP_CHAINS),
            *(line for line in nat_rules if line.split(" ", 2)[1] not in TOP_CHAINS),
            "COMMIT", ""])
    return Rendered(text, frozenset(active), len(filter_rules) + len(nat_rules), digest,
                    services_text)


def merge_tables(*texts: str) -> str:
    """Several iptables-restore inputs as one, with a single block per table.

    Needed for a restore without --noflush, where each ``*table`` line flushes that table:
    chain declarations come first (each chain once), then every rule in the order given."""
    order: list[str] = []
    chains: dict[str, dict[str, str]] = {}
    rules: dict[str, list[str]] = {}
    table = ""
    for text in texts:
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:]
                if table not in chains:
                    order.append(table)
                    chains[table], rules[table] = {}, []
            elif line.startswith(":"):
                chains[table].setdefault(line[1:].split()[0], line)
            elif line and line != "COMMIT" and not line.startswith("#"):
                rules[table].append(line)
    out: list[str] = []
    for t in order:
        out += [f"*{t}", *chains[t].values(), *rules[t], "COMMIT"]
    return "\n".join(out) + "\n"


# The jumps from the built-in chains, as kube-proxy (and, for KUBE-FIREWALL, kubelet) install
# them with ``iptables -I``; written once when a node is set up, in their final order.
JUMPS = {
    "filter": [
        ("INPUT", ["-m", "conntrack", "--ctstate", "NEW"], "kube-proxy firewall rules",
         KUBE_PROXY_FIREWALL),
        ("INPUT", [], "kubernetes health check service ports", KUBE_NODEPORTS),
        ("INPUT", ["-m", "conntrack", "--ctstate", "NEW"],
         "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
        ("INPUT", [], "", KUBE_FIREWALL),
        ("FORWARD", ["-m", "conntrack", "--ctstate", "NEW"], "kube-proxy firewall rules",
         KUBE_PROXY_FIREWALL),
        ("FORWARD", [], "kubernetes forwarding rules", KUBE_FORWARD),
        ("FORWARD", ["-m", "conntrack", "--ctstate", "NEW"], "kubernetes service portals",
         KUBE_SERVICES),
        ("FORWARD", ["-m", "conntrack", "--ctstate", "NEW"],
         "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
        ("OUTPUT", ["-m", "conntrack", "--ctstate", "NEW"], "kube-proxy firewall rules",
         KUBE_PROXY_FIREWALL),
        ("OUTPUT", ["-m", "conntrack", "--ctstate", "NEW"], "kubernetes service portals",
         KUBE_SERVICES),
        ("OUTPUT", [], "", KUBE_FIREWALL),
    ],
    "nat": [
        ("PREROUTING", [], "kubernetes service portals", KUBE_SERVICES),
        ("OUTPUT", [], "kubernetes service portals", KUBE_SERVICES),
        ("POSTROUTING", [], "kubernetes postrouting rules", KUBE_POSTROUTING),
    ],
}


def render_bootstrap() -> str:
    """Chains and jumps set up once per node: kube-proxy's jumps, kubelet's hint and canaries."""
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                     KUBE_PROXY_FIREWALL, KUBE_FIREWALL, "KUBE-KUBELET-CANARY",
                     "KUBE-PROXY-CANARY"]
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ,
                  "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"]
    out = ["*mangle", ":KUBE-IPTABLES-HINT - [0:0]", ":KUBE-KUBELET-CANARY - [0:0]",
           ":KUBE-PROXY-CANARY - [0:0]", "COMMIT"]
    for table, chains in (("filter", filter_chains), ("nat", nat_chains)):
        out.append(f"*{table}")
        out += [f":{c} - [0:0]" for c in chains]
        for builtin, extra, comment, target in JUMPS[table]:
            out.append(_line("-A", builtin, extra, _comment(comment) if comment else [],
                             "-j", target))
        out.append("COMMIT")
    return "\n".join(out) + "\n"

"""kube-proxy's iptables mode as a pure function: services and endpoints in, restore text out.

The text is what kube-proxy's ``syncProxyRules`` feeds to ``iptables-restore --noflush``: the
same tables, chains, rule order, comments, 0x4000 mark and probabilities, with chain names hashed
the way kube-proxy hashes them. Reference: kubernetes ``pkg/proxy/iptables/proxier.go``.
"""

from __future__ import annotations

import base64
import functools
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


@functools.lru_cache(maxsize=1 << 18)
def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


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
    sep_comment_cache: dict[str, list[str]] = {}

    for v in ports:
        proto = v.protocol
        dport = ["--dport", str(v.port)]
        cats = categorize(v, cfg.node_name)
        cluster_eps = [e.addr for e in cats.cluster]
        local_eps = [e.addr for e in cats.local]
        has_endpoints = cats.has_any
        uses_cluster = bool(cluster_eps) and v.uses_cluster_endpoints
        uses_local = bool(local_eps) and v.uses_local_endpoints
        cluster_chain, local_chain = svc_chain(v.spn, proto), svl_chain(v.spn, proto)
        internal_chain, has_internal = cluster_chain, has_endpoints
        if v.itp_local:
            internal_chain, has_internal = local_chain, bool(local_eps)
        external_policy, has_external = cluster_chain, has_endpoints
        if v.etp_local:
            external_policy, has_external = local_chain, bool(local_eps)
        external = ext_chain(v.spn, proto)
        uses_external = has_endpoints and v.externally_accessible
        firewall = fw_chain(v.spn, proto)
        uses_fw = has_endpoints and bool(v.lb_ips) and bool(v.lb_source_ranges)
        lb_chain = firewall if uses_fw else external
        if not has_endpoints:
            int_target = ext_target = "REJECT"
            int_comment = ext_comment = f"{v.spn} has no endpoints"
        else:
            int_target = ext_target = "DROP"
            int_comment = ext_comment = f"{v.spn} has no local endpoints"

        def vip(ip: str) -> list[str]:
            return ["-m", proto, "-p", proto, "-d", ip, *dport]  # noqa: B023

        # Capture the ClusterIP, external IPs, load balancer IPs and node ports.
        if has_internal:
            nat_rules.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} cluster IP"),
                                   vip(v.cluster_ip), "-j", internal_chain))
        else:
            filter_rules.append(_line("-A", KUBE_SERVICES, _comment(int_comment),
                                      vip(v.cluster_ip), "-j", int_target))
        for ip in v.external_ips:
            if has_endpoints:
                nat_rules.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} external IP"),
                                       vip(ip), "-j", external))
            if not has_external:
                filter_rules.append(_line("-A", KUBE_EXTERNAL_SERVICES, _comment(ext_comment),
                                          vip(ip), "-j", ext_target))
        for ip in v.lb_ips:
            if has_endpoints:
                nat_rules.append(_line("-A", KUBE_SERVICES,
                                       _comment(f"{v.spn} loadbalancer IP"), vip(ip),
                                       "-j", lb_chain))
            if uses_fw:
                filter_rules.append(_line(
                    "-A", KUBE_PROXY_FIREWALL,
                    _comment(f"{v.spn} traffic not accepted by {firewall}"), vip(ip),
                    "-j", "DROP"))
        if not has_external:
            for ip in v.lb_ips:
                filter_rules.append(_line("-A", KUBE_EXTERNAL_SERVICES, _comment(ext_comment),
                                          vip(ip), "-j", ext_target))
        if v.node_port:
            if has_endpoints:
                nat_rules.append(_line("-A", KUBE_NODEPORTS, _comment(v.spn), "-m", proto,
                                       "-p", proto, "--dport", str(v.node_port),
                                       "-j", external))
            if not has_external:
                filter_rules.append(_line(
                    "-A", KUBE_EXTERNAL_SERVICES, _comment(ext_comment),
                    "-m", "addrtype", "--dst-type", "LOCAL", "-m", proto, "-p", proto,
                    "--dport", str(v.node_port), "-j", ext_target))
        if v.health_check_node_port:
            filter_rules.append(_line(
                "-A", KUBE_NODEPORTS, _comment(f"{v.spn} health check node port"),
                "-m", "tcp", "-p", "tcp", "--dport", str(v.health_check_node_port),
                "-j", "ACCEPT"))

        # The service's own chains; an unchanged service keeps them as they are.
        reachable = [e.addr for e in cats.reachable]
        chains = [c for c, used in ((external, uses_external), (firewall, uses_fw),
                                    (cluster_chain, uses_cluster), (local_chain, uses_local))
                  if used] + [sep_chain(v.spn, proto, ep) for ep in reachable]
        active.update(chains)
        if changed is not None and v.service not in changed:
            continue
        nat_chains.extend(chains)
        if has_internal:
            nat_rules.append(_line("-A", internal_chain, _comment(f"{v.spn} cluster IP"),
                                   vip(v.cluster_ip), "!", "-s", cfg.cluster_cidr,
                                   "-j", KUBE_MARK_MASQ))
        if uses_external:
            if not v.etp_local:
                nat_rules.append(_line(
                    "-A", external,
                    _comment(f"masquerade traffic for {v.spn} external destinations"),
                    "-j", KUBE_MARK_MASQ))
            else:
                nat_rules += [
                    _line("-A", external,
                          _comment(f"pod traffic for {v.spn} external destinations"),
                          "-s", cfg.cluster_cidr, "-j", cluster_chain),
                    _line("-A", external,
                          _comment(f"masquerade LOCAL traffic for {v.spn} external "
                                   "destinations"),
                          "-m", "addrtype", "--src-type", "LOCAL", "-j", KUBE_MARK_MASQ),
                    _line("-A", external,
                          _comment(f"route LOCAL traffic for {v.spn} external destinations"),
                          "-m", "addrtype", "--src-type", "LOCAL", "-j", cluster_chain),
                ]
            if has_external:
                nat_rules.append(_line("-A", external, "-j", external_policy))
        if uses_fw:
            fw_args = ["-A", firewall, *_comment(f"{v.spn} loadbalancer IP")]
            from_node = False
            for cidr in v.lb_source_ranges:
                nat_rules.append(_line(fw_args, "-s", cidr, "-j", external))
                if cfg.node_ip and ipaddress.ip_address(cfg.node_ip) in \
                        ipaddress.ip_network(cidr):
                    from_node = True
            if from_node:
                for ip in v.lb_ips:
                    nat_rules.append(_line(fw_args, "-s", ip, "-j", external))
            nat_rules.append(_line(
                "-A", firewall,
                _comment(f"other traffic to {v.spn} will be dropped by KUBE-PROXY-FIREWALL")))
        if uses_cluster:
            _write_endpoint_jumps(nat_rules, v, cluster_chain, cluster_eps, large)
        if uses_local:
            _write_endpoint_jumps(nat_rules, v, local_chain, local_eps, large)
        sep_comment = [] if large else sep_comment_cache.setdefault(v.spn, _comment(v.spn))
        for ep in reachable:
            sep = sep_chain(v.spn, proto, ep)
            ip = ep.rsplit(":", 1)[0]
            nat_rules.append(_line("-A", sep, sep_comment, "-s", ip, "-j", KUBE_MARK_MASQ))
            recent = ["-m", "recent", "--name", sep, "--set"] if v.affinity_seconds else []
            nat_rules.append(_line("-A", sep, sep_comment, recent, "-m", proto, "-p", proto,
                                   "-j", "DNAT", "--to-destination", ep))

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

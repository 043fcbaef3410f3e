"""What kube-proxy's modes share, as pure functions: the view of one service port, the
categories of its endpoints, and the rules every mode writes the same way (masquerading by
mark, the localnet firewall, forwarding). Reference: kubernetes ``pkg/proxy/serviceport.go``,
``topology.go`` (CategorizeEndpoints) and the proxiers' common rules.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netlab.model import ServiceEndpoints, ServiceInfo

MASQ_MARK = "0x4000"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_FIREWALL = "KUBE-FIREWALL"


@functools.lru_cache(maxsize=1 << 18)
def hash_prefix(text: str, chars: int) -> str:
    """The first CHARS characters of base32(sha256(TEXT)): how kube-proxy names its chains.

    Base32 turns each 5 bytes into 8 characters on their own, so only the digest's first
    bytes are encoded (a full sync names tens of thousands of chains)."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:5 * -(-chars // 8)]
                            ).decode()[:chars]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of a service port, with its EndpointSlice conditions."""

    addr: str  # "ip:port"
    node: str = ""
    ready: bool = True
    serving: bool = True
    terminating: bool = False

    @property
    def ip(self) -> str:
        return self.addr.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.addr.rsplit(":", 1)[1])


@dataclass(frozen=True)
class ServicePortView:
    """One service port as kube-proxy sees it (its servicePortInfo plus its endpoints)."""

    spn: str  # ServicePortName string
    service: str  # namespace/name, the unit of change for partial syncs
    protocol: str  # lower case
    cluster_ip: str
    port: int
    endpoints: tuple[Endpoint, ...]  # sorted by address
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    lb_ips: tuple[str, ...] = ()
    lb_source_ranges: tuple[str, ...] = ()
    affinity_seconds: int = 0  # > 0: sessionAffinity ClientIP
    etp_local: bool = False  # externalTrafficPolicy Local (externally reachable services)
    itp_local: bool = False  # internalTrafficPolicy Local
    health_check_node_port: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """What the change tracker keys on: the ServicePortName and protocol."""
        return self.spn, self.protocol

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # even with externalTrafficPolicy Local, external traffic from pods short-circuits to
        # the cluster endpoints
        return not self.itp_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.itp_local or (self.etp_local and self.externally_accessible)


@dataclass(frozen=True)
class Categories:
    """CategorizeEndpoints' answer for one service port on one node."""

    cluster: tuple[Endpoint, ...]  # usable for Cluster traffic policy
    local: tuple[Endpoint, ...]  # usable for Local traffic policy (on this node)
    reachable: tuple[Endpoint, ...]  # every endpoint some rule on this node may pick
    has_any: bool  # a usable endpoint exists somewhere in the cluster


def categorize(v: ServicePortView, node: str) -> Categories:
    """Ready endpoints by default; serving-but-terminating ones when no ready one is left,
    independently for Cluster and Local traffic policy (kube-proxy's CategorizeEndpoints)."""
    eps = v.endpoints
    cluster: tuple[Endpoint, ...] = ()
    has_any = False
    if v.uses_cluster_endpoints:
        cluster = tuple(e for e in eps if e.ready) or \
            tuple(e for e in eps if e.serving and e.terminating)
        has_any = bool(cluster)
    if not v.uses_local_endpoints:
        return Categories(cluster, (), cluster, has_any)
    usable = [e for e in eps if e.ready or (e.serving and e.terminating)]
    has_any = has_any or bool(usable)
    mine = [e for e in eps if node and e.node == node]
    local = tuple(e for e in mine if e.ready)
    fallback = not local
    if fallback:
        local = tuple(e for e in mine if e.serving and e.terminating)
    if not v.uses_cluster_endpoints:
        return Categories(cluster, local, local, has_any)
    if not fallback:  # local holds ready endpoints only: cluster has them all
        return Categories(cluster, local, cluster, has_any)
    merged = {e.addr: e for e in (*cluster, *local)}
    return Categories(cluster, local, tuple(merged[a] for a in sorted(merged)), has_any)


def service_port_name(namespace: str, name: str, port_name: str) -> str:
    """ServicePortName.String(): ns/name, plus :port when the port is named."""
    return f"{namespace}/{name}" + (f":{port_name}" if port_name else "")


def service_ports(services: Iterable[ServiceInfo],
                  endpoints: Iterable[ServiceEndpoints]) -> list[ServicePortView]:
    """Flatten services to the ports kube-proxy programs (skipping headless, ExternalName and
    services another proxy owns). Endpoints that are neither ready nor serving are left out:
    no rule ever uses them."""
    eps: dict[tuple[str, str, str, str], dict[str, Endpoint]] = {}
    for se in endpoints:
        for port_name, proto, addr, number in se.entries:
            if addr.ready or addr.is_serving:
                ep = Endpoint(f"{addr.ip}:{number}", addr.node, addr.ready, addr.is_serving,
                              addr.terminating)
                eps.setdefault((se.namespace, se.name, port_name, proto), {})[ep.addr] = ep
    out = []
    for info in services:
        svc = info.service
        if info.cluster_ip in ("", "None") or is_skipped(dict(svc.labels)):
            continue
        for p in svc.ports:
            found = eps.get((svc.namespace, svc.name, p.name, p.protocol), {})
            out.append(ServicePortView(
                spn=service_port_name(svc.namespace, svc.name, p.name),
                service=f"{svc.namespace}/{svc.name}",
                protocol=p.protocol.lower(), cluster_ip=info.cluster_ip, port=p.port,
                endpoints=tuple(found[a] for a in sorted(found)),
                node_port=p.node_port, external_ips=svc.external_ips,
                lb_ips=svc.load_balancer_ips, lb_source_ranges=svc.load_balancer_source_ranges,
                affinity_seconds=svc.affinity_timeout if svc.session_affinity == "ClientIP"
                else 0,
                etp_local=svc.external_traffic_policy == "Local" and svc.externally_accessible,
                itp_local=svc.internal_traffic_policy == "Local",
                health_check_node_port=svc.health_check_node_port))
    out.sort(key=lambda v: (v.spn, v.protocol))
    return out


def is_skipped(labels: dict[str, str]) -> bool:
    """kube-proxy ignores services labelled headless or owned by another proxy."""
    return "service.kubernetes.io/headless" in labels or \
        "service.kubernetes.io/service-proxy-name" in labels


@dataclass(frozen=True)
class ProxyConfig:
    cluster_cidr: str  # the local-traffic detector: traffic from outside it is masqueraded
    node_name: str = ""  # whose endpoints are local
    node_ip: str = ""
    masquerade_mark: str = MASQ_MARK
    random_fully: bool = True  # iptables >= 1.6.2 has it, and then kube-proxy uses it


# -- rules every mode writes the same way ----------------------------------------------------


def comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", f'"{text}"' if " " in text else text]


def line(*parts: str | Sequence[str]) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.extend(p)
    return " ".join(out)


def masquerade_rules(cfg: ProxyConfig) -> list[str]:
    """KUBE-POSTROUTING masquerades what KUBE-MARK-MASQ marked (and clears the mark)."""
    mark = cfg.masquerade_mark
    masq = ["-j", "MASQUERADE"] + (["--random-fully"] if cfg.random_fully else [])
    return [
        line("-A", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", f"{mark}/{mark}",
             "-j", "RETURN"),
        line("-A", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", mark),
        line("-A", KUBE_POSTROUTING, comment("kubernetes service traffic requiring SNAT"),
             masq),
        line("-A", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", mark),
    ]


def localnet_firewall_rule() -> str:
    """KUBE-FIREWALL: no new connections to 127.0.0.0/8 from outside it (route_localnet is on
    for NodePorts on 127.0.0.1)."""
    return line("-A", KUBE_FIREWALL, comment("block incoming localnet connections"),
                "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!",
                "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")


def forward_rules(cfg: ProxyConfig, drop_invalid: bool) -> list[str]:
    """KUBE-FORWARD: accept marked service traffic and its replies."""
    mark = cfg.masquerade_mark
    out = [line("-A", KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")] \
        if drop_invalid else []
    return out + [
        line("-A", KUBE_FORWARD, comment("kubernetes forwarding rules"), "-m", "mark",
             "--mark", f"{mark}/{mark}", "-j", "ACCEPT"),
        line("-A", KUBE_FORWARD, comment("kubernetes forwarding conntrack rule"),
             "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
    ]

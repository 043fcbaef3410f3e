"""kube-proxy's iptables mode as a pure function: services and endpoints in, restore text out.

The text is what kube-proxy's ``syncProxyRules`` feeds to ``iptables-restore --noflush``: the
same tables, chains, rule order, comments, 0x4000 mark and probabilities, with chain names hashed
the way kube-proxy hashes them. Reference: kubernetes ``pkg/proxy/iptables/proxier.go``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netlab.model import ServiceEndpoints, ServiceInfo

MASQ_MARK = "0x4000"

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


# -- names ---------------------------------------------------------------------------------------


def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def service_port_name(namespace: str, name: str, port_name: str) -> str:
    """ServicePortName.String(): ns/name, plus :port when the port is named."""
    return f"{namespace}/{name}" + (f":{port_name}" if port_name else "")


def svc_chain(spn: str, protocol: str) -> str:
    return "KUBE-SVC-" + _hash16(spn + protocol.lower())


def ext_chain(spn: str, protocol: str) -> str:
    return "KUBE-EXT-" + _hash16(spn + protocol.lower())


def sep_chain(spn: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash16(spn + protocol.lower() + endpoint)


def probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", f'"{text}"' if " " in text else text]


def _line(*parts: str | Sequence[str]) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.extend(p)
    return " ".join(out)


# -- the view of one service port that the renderer needs ------------------------------------------


@dataclass(frozen=True)
class ServicePortView:
    spn: str  # ServicePortName string
    protocol: str  # lower case
    cluster_ip: str
    port: int
    endpoints: tuple[str, ...]  # "ip:port", ready endpoints, sorted as kube-proxy sorts them

    @property
    def svc_chain(self) -> str:
        return svc_chain(self.spn, self.protocol)


def service_ports(services: Iterable[ServiceInfo],
                  endpoints: Iterable[ServiceEndpoints]) -> list[ServicePortView]:
    """Flatten services to the ports kube-proxy programs (skipping headless and skipped ones)."""
    eps: dict[tuple[str, str, str, str], set[str]] = {}
    for se in endpoints:
        for port_name, proto, addr, number in se.entries:
            if addr.ready:
                eps.setdefault((se.namespace, se.name, port_name, proto), set()).add(
                    f"{addr.ip}:{number}")
    out = []
    for info in services:
        svc = info.service
        if info.cluster_ip in ("", "None") or is_skipped(dict(svc.labels)):
            continue
        for p in svc.ports:
            key = (svc.namespace, svc.name, p.name, p.protocol)
            out.append(ServicePortView(
                spn=service_port_name(svc.namespace, svc.name, p.name),
                protocol=p.protocol.lower(), cluster_ip=info.cluster_ip, port=p.port,
                endpoints=tuple(sorted(eps.get(key, ())))))
    out.sort(key=lambda v: (v.spn, v.protocol))
    return out


def is_skipped(labels: dict[str, str]) -> bool:
    """kube-proxy ignores services labelled headless or owned by another proxy."""
    return "service.kubernetes.io/headless" in labels or \
        "service.kubernetes.io/service-proxy-name" in labels


# -- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyConfig:
    cluster_cidr: str  # the local-traffic detector: traffic from outside it is masqueraded
    masquerade_mark: str = MASQ_MARK
    random_fully: bool = True  # iptables >= 1.6.2 has it, and then kube-proxy uses it


def render(ports: Sequence[ServicePortView], cfg: ProxyConfig,
           stale_chains: Iterable[str] = ()) -> str:
    """The iptables-restore input of one full sync, filter table then nat table."""
    mark = cfg.masquerade_mark
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                     KUBE_PROXY_FIREWALL, KUBE_FIREWALL]
    filter_rules: list[str] = [
        _line("-A", KUBE_FIREWALL, _comment("block incoming localnet connections"),
              "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!",
              "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"),
    ]
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    masq = ["-j", "MASQUERADE"] + (["--random-fully"] if cfg.random_fully else [])
    nat_rules: list[str] = [
        _line("-A", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", f"{mark}/{mark}",
              "-j", "RETURN"),
        _line("-A", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", mark),
        _line("-A", KUBE_POSTROUTING, _comment("kubernetes service traffic requiring SNAT"),
              masq),
        _line("-A", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", mark),
    ]

    for v in ports:
        proto = v.protocol
        match = ["-m", proto, "-p", proto, "-d", v.cluster_ip, "--dport", str(v.port)]
        if not v.endpoints:
            filter_rules.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} has no endpoints"),
                                      match, "-j", "REJECT"))
            continue
        chain = v.svc_chain
        nat_chains.append(chain)
        nat_rules.append(_line("-A", KUBE_SERVICES, _comment(f"{v.spn} cluster IP"), match,
                               "-j", chain))
        nat_rules.append(_line("-A", chain, _comment(f"{v.spn} cluster IP"), match,
                               "!", "-s", cfg.cluster_cidr, "-j", KUBE_MARK_MASQ))
        n = len(v.endpoints)
        for i, ep in enumerate(v.endpoints):
            stat = ["-m", "statistic", "--mode", "random", "--probability",
                    probability(n - i)] if i < n - 1 else []
            nat_rules.append(_line("-A", chain, _comment(f"{v.spn} -> {ep}"), stat,
                                   "-j", sep_chain(v.spn, proto, ep)))
        for ep in v.endpoints:
            sep = sep_chain(v.spn, proto, ep)
            nat_chains.append(sep)
            ip = ep.rsplit(":", 1)[0]
            nat_rules.append(_line("-A", sep, _comment(v.spn), "-s", ip, "-j", KUBE_MARK_MASQ))
            nat_rules.append(_line("-A", sep, _comment(v.spn), "-m", proto, "-p", proto,
                                   "-j", "DNAT", "--to-destination", ep))

    active = set(nat_chains)
    for chain in sorted(set(stale_chains) - active):
        if chain.startswith(SERVICE_CHAIN_PREFIXES):
            nat_chains.append(chain)
            nat_rules.append(_line("-X", chain))

    nat_rules.append(_line(
        "-A", KUBE_SERVICES,
        _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"),
        "-m", "addrtype", "--dst-type", "LOCAL", "-j", KUBE_NODEPORTS))
    filter_rules += [
        _line("-A", KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"),
        _line("-A", KUBE_FORWARD, _comment("kubernetes forwarding rules"), "-m", "mark",
              "--mark", f"{mark}/{mark}", "-j", "ACCEPT"),
        _line("-A", KUBE_FORWARD, _comment("kubernetes forwarding conntrack rule"),
              "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
    ]
    return "\n".join([
        "*filter", *(f":{c} - [0:0]" for c in filter_chains), *filter_rules, "COMMIT",
        "*nat", *(f":{c} - [0:0]" for c in nat_chains), *nat_rules, "COMMIT", "",
    ])


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

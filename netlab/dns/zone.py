"""The cluster's DNS records, following the Kubernetes DNS specification (v1.1.0). Pure.

    <svc>.<ns>.svc.<domain>                 A: the ClusterIP; headless: the ready endpoints
    <host>.<svc>.<ns>.svc.<domain>          A: a headless service's endpoint (its pod's
                                            hostname when the pod's subdomain is the service,
                                            else its address with dashes)
    _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV for each named port
    <a-b-c-d>.<ns>.pod.<domain>             A: a pod address
    <svc>.<ns>.svc.<domain>                 CNAME for ExternalName services
    <reversed>.in-addr.arpa                 PTR for ClusterIPs, endpoints and pods
    dns-version.<domain>                    TXT "1.1.0"
Names the lab declares outside the cluster answer with the client host that serves them;
anything else is NXDOMAIN at once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netlab.model import LabPlan

TTL = 30
A, CNAME, SRV, PTR, TXT, SOA = "A", "CNAME", "SRV", "PTR", "TXT", "SOA"


def dashed(ip: str) -> str:
    return ip.replace(".", "-")


def reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


@dataclass
class Zone:
    domain: str  # e.g. cluster.local. (with the final dot)
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (name, type)
    names: set[str] = field(default_factory=set)  # every name that exists (for NODATA)
    outside: dict[str, str] = field(default_factory=dict)  # name. -> IP
    cache: dict[bytes, bytes] = field(default_factory=dict)  # the server's answers

    def add(self, name: str, rtype: str, rdata: str) -> None:
        name = name.lower()
        values = self.records.setdefault((name, rtype), [])
        if rdata not in values:
            values.append(rdata)
        self.names.add(name)

    def in_cluster(self, name: str) -> bool:
        return name == self.domain or name.endswith("." + self.domain) or \
            name.endswith(".in-addr.arpa.")

    def lookup(self, name: str, rtype: str) -> tuple[str, list[tuple[str, str, str]]]:
        """(rcode, [(owner, type, rdata)]): NOERROR with answers, NOERROR without (the name
        exists with other types), or NXDOMAIN. CNAMEs are followed into the zone and the
        lab's outside names."""
        name = name.lower()
        if not name.endswith("."):
            name += "."
        answers: list[tuple[str, str, str]] = []
        for _ in range(8):  # CNAME chains are short
            if name in self.outside and not self.in_cluster(name):
                if rtype in (A, "ANY"):
                    answers.append((name, A, self.outside[name]))
                return "NOERROR", answers
            cname = self.records.get((name, CNAME))
            if cname and rtype != CNAME:
                answers.append((name, CNAME, cname[0]))
                name = cname[0]
                continue
            values = self.records.get((name, rtype), [])
            answers += [(name, rtype, v) for v in values]
            if answers or name in self.names:
                return "NOERROR", answers
            return "NXDOMAIN", answers
        return "SERVFAIL", answers


def build_zone(plan: LabPlan) -> Zone:
    """Every record of the lab, from its plan (whose endpoints carry readiness); names outside
    the cluster that the Lab declares answer with the address of the client serving them."""
    domain = plan.spec.cluster_domain.rstrip(".") + "."
    clients = {c.name: c.lan_ip for c in plan.clients}
    zone = Zone(domain, outside={name.lower().rstrip(".") + ".": clients[client]
                                 for name, client in plan.spec.outside_names
                                 if client in clients})
    zone.add(domain, SOA, f"ns.dns.{domain} hostmaster.{domain} 1 7200 1800 86400 {TTL}")
    zone.add(f"dns-version.{domain}", TXT, '"1.1.0"')
    pods_by_key = {p.key: p for p in plan.pods}
    for pod in plan.pods:
        if pod.spec.host_network:
            continue
        zone.add(f"{dashed(pod.ip)}.{pod.namespace}.pod.{domain}", A, pod.ip)
        zone.add(reverse_name(pod.ip), PTR, f"{dashed(pod.ip)}.{pod.namespace}.pod.{domain}")
    endpoints = {(e.namespace, e.name): e for e in plan.endpoints}
    for info in plan.services:
        svc = info.service
        fqdn = f"{svc.name}.{svc.namespace}.svc.{domain}"
        zone.names.add(f"{svc.namespace}.svc.{domain}")
        if svc.type == "ExternalName":
            zone.add(fqdn, CNAME, svc.external_name.rstrip(".") + ".")
            continue
        headless = info.cluster_ip == "None"
        zone.names.add(fqdn)
        if not headless:
            zone.add(fqdn, A, info.cluster_ip)
            zone.add(reverse_name(info.cluster_ip), PTR, fqdn)
            for p in svc.ports:
                if p.name:
                    zone.add(f"_{p.name}._{p.protocol.lower()}.{fqdn}", SRV,
                             f"0 100 {p.port} {fqdn}")
            continue
        eps = endpoints.get((svc.namespace, svc.name))
        for port_name, proto, addr, number in eps.entries if eps else ():
            if not addr.ready:
                continue
            pod = pods_by_key.get(addr.pod)
            host = pod.spec.hostname if pod and pod.spec.hostname and \
                pod.spec.subdomain == svc.name else dashed(addr.ip)
            name = f"{host}.{fqdn}"
            zone.add(fqdn, A, addr.ip)
            zone.add(name, A, addr.ip)
            zone.records[(reverse_name(addr.ip), PTR)] = [name]  # CoreDNS names endpoints
            if port_name:
                zone.add(f"_{port_name}._{proto.lower()}.{fqdn}", SRV, f"0 100 {number} {name}")
    return zone

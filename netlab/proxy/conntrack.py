"""Which UDP conntrack entries go stale when endpoints go away (kube-proxy's conntrack cleaner,
ClearEntriesForNAT). Pure: endpoints before and after in, entries to delete out.

UDP has no connection to break: a client that keeps its source port keeps matching the old
conntrack entry (DNAT to a pod that is gone) until it expires.
"""

from __future__ import annotations

from collections.abc import Iterable

from netlab.model import ServiceEndpoints, ServiceInfo


def stale_udp_endpoints(services: Iterable[ServiceInfo], before: Iterable[ServiceEndpoints],
                        after: Iterable[ServiceEndpoints]) -> tuple[tuple[str, int, str], ...]:
    """(service address, node port, endpoint IP) for UDP endpoints that went away."""
    def udp(eps) -> dict[tuple[str, str, str], set[str]]:
        out: dict = {}
        for se in eps:
            for port_name, proto, addr, _n in se.entries:
                if proto == "UDP" and addr.ready:
                    out.setdefault((se.namespace, se.name, port_name), set()).add(addr.ip)
        return out

    old, new = udp(before), udp(after)
    by_key = {(i.service.namespace, i.service.name): i for i in services}
    stale = []
    for (ns, name, port_name), ips in old.items():
        info = by_key.get((ns, name))
        if info is None or info.cluster_ip in ("", "None"):
            continue
        port = next((p for p in info.service.ports if p.name == port_name
                     and p.protocol == "UDP"), None)
        for ip in sorted(ips - new.get((ns, name, port_name), set())):
            for vip in (info.cluster_ip, *info.service.external_ips,
                        *info.service.load_balancer_ips):
                stale.append((vip, port.node_port if port else 0, ip))
    return tuple(stale)

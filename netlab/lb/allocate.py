"""MetalLB's controller, pure: LoadBalancer addresses from the pools, as MetalLB allocates
them (pinned addresses, pool choice, sharing keys, never twice, kept while the Service
stays), and the layer-2 announcer of each address, as its speakers elect one.

Annotations read: ``metallb.universe.tf/`` (and ``metallb.io/``) ``loadBalancerIPs``,
``address-pool`` and ``allow-shared-ip``; ``spec.loadBalancerIP``; a Service with a
``loadBalancerClass`` belongs to another controller and is left alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netlab.model import AddressPool, L2Advertisement, Service

PREFIXES = ("metallb.universe.tf/", "metallb.io/")


def annotation(svc: Service, name: str) -> str:
    notes = dict(svc.annotations)
    for prefix in PREFIXES:
        if prefix + name in notes:
            return notes[prefix + name].strip()
    return ""


def _addresses(pool: AddressPool) -> Iterable[str]:
    for first, last in pool.ranges:
        a, b = int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last))
        for n in range(a, b + 1):
            ip = ipaddress.IPv4Address(n)
            if pool.avoid_buggy_ips and ip.packed[-1] in (0, 255):
                continue
            yield str(ip)


def in_pool(pool: AddressPool, ip: str) -> bool:
    addr = ipaddress.IPv4Address(ip)
    if pool.avoid_buggy_ips and addr.packed[-1] in (0, 255):
        return False
    return any(ipaddress.IPv4Address(a) <= addr <= ipaddress.IPv4Address(b)
               for a, b in pool.ranges)


def _ports(svc: Service) -> set[tuple[int, str]]:
    return {(p.port, p.protocol) for p in svc.ports}


def can_share(a: Service, b: Service) -> str:
    """Why A and B cannot share an address ("" when they can), by MetalLB's rules."""
    key_a, key_b = annotation(a, "allow-shared-ip"), annotation(b, "allow-shared-ip")
    if not key_a or key_a != key_b:
        return (f"service \"{b.namespace}/{b.name}\" already uses it and its sharing key "
                f"differs" if key_b or key_a else
                f"it is already in use by \"{b.namespace}/{b.name}\"")
    clash = sorted(_ports(a) & _ports(b))
    if clash:
        port, proto = clash[0]
        return f"port {port}/{proto} is already used by \"{b.namespace}/{b.name}\""
    both_cluster = a.external_traffic_policy == b.external_traffic_policy == "Cluster"
    if not both_cluster and a.selector != b.selector:
        return (f"\"{b.namespace}/{b.name}\" has a different selector and not both have "
                "externalTrafficPolicy Cluster")
    return ""


@dataclass
class Allocation:
    """What the controller decided: each Service's addresses and pool, the events to record,
    and why the pending ones are pending."""

    ips: dict[str, tuple[str, ...]] = field(default_factory=dict)  # service key -> addresses
    pools: dict[str, str] = field(default_factory=dict)  # service key -> pool
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    pending: dict[str, str] = field(default_factory=dict)  # service key -> why


def handled(svc: Service) -> bool:
    return svc.type == "LoadBalancer" and not svc.lb_class


def allocate(services: Iterable[Service], pools: tuple[AddressPool, ...],
             previous: Mapping[str, tuple[str, ...]] | None = None) -> Allocation:
    """Addresses for every LoadBalancer Service MetalLB handles. PREVIOUS (service key ->
    addresses) keeps what each Service had while it still fits; the others are handed out
    in the order of the Services (oldest first), first free address of the first pool."""
    out = Allocation()
    previous = previous or {}
    wanted = [s for s in services if handled(s)]
    users: dict[str, list[Service]] = {}  # address -> services on it
    by_key = {f"{s.namespace}/{s.name}": s for s in wanted}

    def pool_of(ip: str) -> AddressPool | None:
        return next((p for p in pools if in_pool(p, ip)), None)

    def refusal(svc: Service, ip: str, pool_name: str) -> str:
        pool = pool_of(ip)
        if pool is None or (pool_name and pool.name != pool_name):
            return f"[\"{ip}\"] is not allowed in config"
        for other in users.get(ip, []):
            why = can_share(svc, other)
            if why:
                return f"can't use {ip}: {why}"
        return ""

    def take(svc: Service, ips: tuple[str, ...]) -> None:
        key = f"{svc.namespace}/{svc.name}"
        out.ips[key] = ips
        out.pools[key] = pool_of(ips[0]).name  # type: ignore[union-attr]
        for ip in ips:
            users.setdefault(ip, []).append(svc)

    # what each Service had stays with it (it is on the wire), if it still fits
    for key, ips in previous.items():
        svc = by_key.get(key)
        if svc is None or not ips or (_asked(svc) and set(_asked(svc)) != set(ips)):
            continue
        if all(not refusal(svc, ip, annotation(svc, "address-pool")) for ip in ips):
            take(svc, tuple(ips))
    for svc in wanted:
        key = f"{svc.namespace}/{svc.name}"
        if key in out.ips:
            continue
        pool_name = annotation(svc, "address-pool")
        if pool_name and not any(p.name == pool_name for p in pools):
            _fail(out, key, f"unknown pool \"{pool_name}\"")
            continue
        asked = _asked(svc)
        if asked:
            whys = [refusal(svc, ip, pool_name) for ip in asked]
            if any(whys):
                _fail(out, key, next(w for w in whys if w))
                continue
            take(svc, asked)
        else:
            ip = _auto(svc, pools, pool_name, users)
            if not ip:
                _fail(out, key, "no available IPs")
                continue
            take(svc, (ip,))
        out.events.append((f"{svc.namespace}/service/{svc.name}", "Normal", "IPAllocated",
                           "Assigned IP " + "[" + ", ".join(f'"{i}"' for i in out.ips[key])
                           + "]"))
    return out


def _asked(svc: Service) -> tuple[str, ...]:
    listed = annotation(svc, "loadBalancerIPs")
    if listed:
        return tuple(ip.strip() for ip in listed.split(",") if ip.strip())
    return (svc.lb_ip,) if svc.lb_ip else ()


def _fail(out: Allocation, key: str, why: str) -> None:
    ns, name = key.split("/", 1)
    out.pending[key] = why
    out.events.append((f"{ns}/service/{name}", "Warning", "AllocationFailed",
                       f"Failed to allocate IP for \"{key}\": {why}"))


def _eligible(svc: Service, pool: AddressPool, pool_name: str) -> bool:
    if pool_name:
        return pool.name == pool_name
    if not pool.auto_assign:
        return False
    if pool.namespaces and svc.namespace not in pool.namespaces:
        return False
    labels = dict(svc.labels)
    return all(labels.get(k) == v for k, v in pool.service_selector)


def _auto(svc: Service, pools: tuple[AddressPool, ...], pool_name: str,
          users: dict[str, list[Service]]) -> str:
    """An address shared with a Service of the same sharing key if one fits, else the first
    free one, trying the pools by priority (a pool with a priority before one without)."""
    ordered = sorted((p for p in pools if _eligible(svc, p, pool_name)),
                     key=lambda p: (p.priority == 0, p.priority))
    key = annotation(svc, "allow-shared-ip")
    if key:
        for ip, others in users.items():
            if any(in_pool(p, ip) for p in ordered) and \
                    all(not can_share(svc, o) for o in others):
                return ip
    for pool in ordered:
        for ip in _addresses(pool):
            if ip not in users:
                return ip
    return ""


def announcer(ip: str, nodes: Iterable[str]) -> str:
    """The node that answers ARP for IP among NODES (those eligible and up): MetalLB's
    layer-2 election, the first by sha256 of "<node>#<ip>"."""
    ranked = sorted(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())
    return ranked[0] if ranked else ""


def advertised(ip: str, pools: tuple[AddressPool, ...],
               ads: tuple[L2Advertisement, ...]) -> list[L2Advertisement]:
    """The L2Advertisements that announce IP's pool (none: nobody answers ARP for it)."""
    pool = next((p for p in pools if in_pool(p, ip)), None)
    if pool is None:
        return []
    return [a for a in ads if not a.pools or pool.name in a.pools]


def assignments(plan, down: frozenset[str] = frozenset()) -> dict[str, str]:
    """Address -> the node that announces it: among the nodes up that an L2Advertisement of
    its pool selects (with externalTrafficPolicy Local, only those with a ready endpoint),
    MetalLB's election. An address no advertisement covers is announced by nobody."""
    from netlab.plan.workloads import node_labels

    out: dict[str, str] = {}
    for info in plan.services:
        if not info.lb_pool:
            continue
        svc = info.service
        ready = {e.node for se in plan.endpoints if (se.namespace, se.name) ==
                 (svc.namespace, svc.name) for _n, _p, e, _num in se.entries if e.ready}
        for ip in svc.load_balancer_ips:
            ads = advertised(ip, plan.pools, plan.advertisements)
            nodes = {n.name for n in plan.nodes if n.name not in down and any(
                all(node_labels(plan.spec, n.name).get(k) == v for k, v in a.node_selector)
                for a in ads)}
            if svc.external_traffic_policy == "Local":
                nodes &= ready
            if ip not in out or not out[ip]:
                out[ip] = announcer(ip, nodes)
    return out


def events(old, new, down: frozenset[str] = frozenset(),
           was_down: frozenset[str] | None = None) -> list[tuple[str, str, str, str]]:
    """The controller's and the speakers' events between plans OLD (None: a new lab) and
    NEW, the nodes WAS_DOWN then (default: DOWN) and DOWN now: IPAllocated,
    AllocationFailed, nodeAssigned, and an address no L2Advertisement announces (MetalLB's
    most reported trap, metallb#1561)."""
    before = {i.key: i for i in old.services} if old else {}
    was = assignments(old, down if was_down is None else was_down) if old else {}
    now = assignments(new, down)
    out = []
    for info in new.services:
        svc, prev = info.service, before.get(info.key)
        obj = f"{svc.namespace}/service/{svc.name}"
        if new.pools and info.lb_pending and (prev is None or
                                               prev.lb_pending != info.lb_pending):
            out.append((obj, "Warning", "AllocationFailed",
                        f"Failed to allocate IP for \"{info.key}\": {info.lb_pending}"))
        if not info.lb_pool:
            continue
        ips = svc.load_balancer_ips
        if prev is None or prev.service.load_balancer_ips != ips:
            out.append((obj, "Normal", "IPAllocated",
                        "Assigned IP [" + ", ".join(f'"{i}"' for i in ips) + "]"))
        for ip in ips:
            node = now.get(ip, "")
            if not advertised(ip, new.pools, new.advertisements):
                if prev is None or prev.service.load_balancer_ips != ips:
                    out.append((obj, "Warning", "NotAnnounced",
                                f"no L2Advertisement selects pool \"{info.lb_pool}\": no node "
                                f"answers ARP for {ip}"))
            elif node and (was.get(ip) != node or prev is None):
                out.append((obj, "Normal", "nodeAssigned",
                            f"announcing from node \"{node}\" with protocol \"layer2\""))
    return out


def svclb_name(svc: Service) -> str:
    """k3s' ServiceLB DaemonSet name: svclb-<service>-<8 characters of its UID>."""
    uid = hashlib.sha256(f"{svc.namespace}/{svc.name}".encode()).hexdigest()[:8]
    return f"svclb-{svc.name}"[:63 - 9] + f"-{uid}"

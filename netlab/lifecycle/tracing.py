"""``netlab trace``: explain a new connection through the rules loaded in the node it enters,
and prove it with the kernel's own trace.

The explanation reads the node as it is now (iptables-save, ipsets and IPVS state, or the
``ip kube-proxy`` table), never the plan, so it also explains a lab someone has tampered
with; the pure walkers in ``netlab/trace`` do the rest.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

from netlab.checks import probes
from netlab.checks.runner import pods_of, resolve_source, resolve_target, run_attempts
from netlab.errors import NetlabError, UsageError
from netlab.ingress.routes import choose, controller_pods, routes
from netlab.kernel.api import Kernel
from netlab.lb.allocate import assignments
from netlab.model import LabPlan
from netlab.model.state import LabState
from netlab.model.trace import TraceMatch
from netlab.proxy.nftables import TABLE
from netlab.trace import iptables as iptables_walk
from netlab.trace import nftables as nftables_walk
from netlab.trace import prove
from netlab.trace.path import Packet, Path, TraceError


@dataclass(frozen=True)
class Ends:
    """Where the connection starts and what it asks for, resolved in the lab."""

    source: str  # as the user wrote it
    src_ip: str
    destination: str
    dst_ip: str
    dport: int
    proto: str
    node: str  # the node whose rules the packet meets first
    local: bool  # the node itself sends it
    bridged: bool  # it comes from a pod on that node's bridge
    what: str  # what the destination is: "default/web cluster IP"
    route: str  # the route the source's kernel takes
    arp: str = ""  # for a LoadBalancer address: the node that answers ARP for it
    arp_mac: str = ""  # the MAC that answered


@dataclass(frozen=True)
class Branch:
    path: Path
    endpoint: str = ""  # pod namespace/name behind the DNAT destination
    endpoint_node: str = ""
    onward: str = ""  # the route from the node to that endpoint


@dataclass(frozen=True)
class Proof:
    monitor: str  # xtables-monitor, nft monitor, or counters
    hops: tuple[prove.KernelHop, ...]
    dnat: str  # where the kernel sent the connection
    answered: bool
    reply: str  # the probe's word on the connection
    agrees: bool  # the kernel took a path the walker predicted
    note: str = ""


@dataclass(frozen=True)
class IngressStep:
    """What ingress-nginx does with the request once a path reaches its pod."""

    controller: str  # the pod
    server: str  # the server (host) nginx picked; "_" is the catch-all
    location: str
    path_type: str
    ingress: str  # the Ingress that wrote the location ("" : the default backend)
    upstream: str  # "" : the default backend, 404
    servers: tuple[str, ...]  # the upstream's endpoints (ip:port), which nginx balances over


@dataclass(frozen=True)
class Explanation:
    ends: Ends
    mode: str
    branches: tuple[Branch, ...]
    back: tuple[str, ...]
    proof: Proof | None = None
    ingress: IngressStep | None = None

    def to_json(self) -> dict:
        out = {"source": self.ends.source, "destination": self.ends.destination,
               "packet": {"src": self.ends.src_ip, "dst": self.ends.dst_ip,
                          "dport": self.ends.dport, "proto": self.ends.proto},
               "node": self.ends.node, "mode": self.mode, "what": self.ends.what,
               "route": self.ends.route, "arp": self.ends.arp, "arpMac": self.ends.arp_mac,
               "paths": [dict(b.path.to_json(), endpoint=b.endpoint,
                              endpointNode=b.endpoint_node, onward=b.onward)
                         for b in self.branches],
               "back": list(self.back)}
        if self.ingress:
            out["ingress"] = dataclasses.asdict(self.ingress)
        if self.proof:
            out["proof"] = dict(dataclasses.asdict(self.proof),
                                hops=[dataclasses.asdict(h) for h in self.proof.hops])
        return out


def split_port(ref: str) -> tuple[str, str]:
    """svc/web:80 -> (svc/web, "80"); 10.96.0.10:53 -> (10.96.0.10, "53")."""
    head, sep, tail = ref.rpartition(":")
    if sep and head and "/" not in tail:
        return head, tail
    return ref, ""


def resolve(plan: LabPlan, state: LabState | None, kernel: Kernel, source: str,
            destination: str, namespace: str = "default", udp: bool = False) -> Ends:
    proto = "udp" if udp else "tcp"
    if source.partition("/")[0] not in ("pod", "deploy", "deployment", "node", "client"):
        raise UsageError(f"{source}: a trace starts at pod/, deploy/, node/ or client/")
    ref, port_text = split_port(destination)
    what, dport = "", None
    kind, _, name = ref.partition("/")
    if kind in ("svc", "service"):
        svc = next((s for s in plan.services if s.service.name == name
                    and s.service.namespace == namespace), None)
        if svc is None:
            raise UsageError(f"{ref} is not in lab '{plan.spec.name}' (namespace {namespace})")
        ports = [p for p in svc.service.ports if p.protocol.lower() == proto]
        if port_text:
            ports = [p for p in ports if str(p.port) == port_text or p.name == port_text]
        if not ports:
            raise UsageError(f"{ref} has no {proto.upper()} port "
                             f"{port_text or ''}".rstrip() + " (see netlab get svc)")
        dst_ip, dport = resolve_target(plan, ref, namespace)[0], ports[0].port
        what = f"{svc.key} cluster IP"
    else:
        dst_ip, dport = resolve_target(plan, ref, namespace)
        if port_text:
            if not port_text.isdigit():
                raise UsageError(f"{destination}: the port must be a number")
            dport = int(port_text)
        if dport is None:
            raise UsageError(f"{destination}: say which port (for example {ref}:80)")
    try:
        ipaddress.IPv4Address(dst_ip)
    except ValueError:
        raise UsageError(f"{destination} is not an address, svc/, pod/, node/ or client/ "
                         "reference") from None
    what = what or _what(plan, dst_ip, dport)
    skind, _, sname = source.partition("/")
    pod = None
    if skind in ("pod", "deploy", "deployment"):
        pods = pods_of(plan, skind, sname, namespace)
        if not pods:
            raise UsageError(f"{source} is not in lab '{plan.spec.name}' "
                             f"(namespace {namespace})")
        pod = pods[0]
    netns = pod.netns if pod else resolve_source(plan, source, namespace, state).netns
    route = kernel.tracing.route(netns, dst_ip)
    route_text = route.to(dst_ip)
    arp = arp_mac = ""
    local = bridged = False
    if pod is not None:
        src_ip, node = pod.ip, pod.node
        local = pod.spec.host_network
        bridged = not local
    elif skind == "node":
        node, local = sname, True
        src_ip = route.prefsrc or plan.node(sname).lan_ip
    else:
        src_ip = route.prefsrc or next(c.lan_ip for c in plan.clients if c.name == sname)
        by_ip = {n.lan_ip: n.name for n in plan.nodes}
        node = by_ip.get(route.gateway) or by_ip.get(dst_ip)
        if not node and not route.gateway:  # on the lab network: a LoadBalancer address?
            elected = assignments(plan, frozenset(state.nodes_down if state else ()))
            if dst_ip in elected:
                node, arp_mac = arp_node(kernel, plan, netns, source, route.dev, dst_ip,
                                         elected[dst_ip])
                arp = node
        if not node:
            raise UsageError(f"from {source}, {dst_ip} is not reached through a node (route "
                             f"{route_text}): nothing of kube-proxy's is on the way")
    return Ends(source, src_ip, destination, dst_ip, dport, proto, node, local, bridged,
                what, route_text, arp, arp_mac)


def arp_node(kernel: Kernel, plan: LabPlan, netns: str, source: str, dev: str, ip: str,
         elected: str) -> tuple[str, str]:
    """(node, MAC) answering an ARP request for the LoadBalancer address IP sent by SOURCE
    now: the node the packet really enters, whatever the election (ELECTED) says."""
    answer = kernel.tracing.arp_answer(netns, dev, ip)
    if not answer:
        why = f"the lab's election names {elected}: is its speaker running?" if elected \
            else "no node announces it (netlab describe svc says why)"
        raise NetlabError(f"nobody answers ARP for {ip} on {source}'s {dev} now: {why}")
    for n in plan.nodes:
        if kernel.tracing.mac(n.netns, "eth0").lower() == answer:
            return n.name, answer
    raise NetlabError(f"{answer} answers ARP for {ip} on {source}'s {dev}, and it is no "
                      "node's: nothing of kube-proxy's is on the way")


def _what(plan: LabPlan, ip: str, port: int) -> str:
    for s in plan.services:
        svc = s.service
        for p in svc.ports:
            if ip == s.cluster_ip and port == p.port:
                return f"{s.key} cluster IP"
            if ip in svc.load_balancer_ips and port == p.port:
                return f"{s.key} load balancer IP"
            if ip in svc.external_ips and port == p.port:
                return f"{s.key} external IP"
    for n in plan.nodes:
        for s in plan.services:
            for p in s.service.ports:
                if ip == n.lan_ip and p.node_port == port:
                    return f"{s.key} node port on {n.name}"
    for p in plan.pods:
        if p.ip == ip:
            return f"pod {p.key}"
    return "an address"


def walk(kernel: Kernel, plan: LabPlan, ends: Ends) -> tuple[str, list[Path]]:
    """The proxy mode of the node and every path the walker finds in its rules."""
    node = plan.node(ends.node)
    mode = plan.spec.proxy_mode
    pkt = Packet(ends.src_ip, ends.dst_ip, ends.dport, ends.proto, ends.local, ends.bridged)
    ips = kernel.tracing.addresses(node.netns) | {"127.0.0.1"}
    try:
        flavour = kernel.netfilter.flavour(node.netns)
        save = kernel.netfilter.save(node.netns, flavour)
        if mode == "nftables":  # kube-proxy's table, and the pod network's iptables rules
            listing = kernel.netfilter.nft_list_table(node.netns, *TABLE.split())
            if listing is None:
                raise UsageError(f"{ends.node} has no table {TABLE}: kube-proxy's rules are "
                                 "not loaded (the controller restores them)")
            return mode, nftables_walk.trace(nftables_walk.parse(listing), pkt, ips,
                                             iptables_walk.parse(save))
        ipsets, virtual = "", ()
        if mode == "ipvs":
            ipsets, virtual = kernel.ipsets.save(node.netns), kernel.ipvs.dump(node.netns).values()
        return mode, iptables_walk.trace(iptables_walk.parse(save, ipsets, virtual), pkt, ips)
    except TraceError as exc:
        raise UsageError(f"cannot explain the rules of {ends.node}: {exc}") from None


def explain(kernel: Kernel, plan: LabPlan, state: LabState | None, source: str,
            destination: str, namespace: str = "default", udp: bool = False,
            with_proof: bool = False, host: str = "", path: str = "/") -> Explanation:
    ends = resolve(plan, state, kernel, source, destination, namespace, udp)
    mode, paths = walk(kernel, plan, ends)
    node = plan.node(ends.node)
    pods = {p.ip: p for p in plan.pods if not p.spec.host_network}
    branches = []
    for p in sorted(paths, key=lambda p: (-p.odds, p.dnat)):
        ep_ip = p.dnat.rsplit(":", 1)[0] if p.dnat else ""
        pod = pods.get(ep_ip)
        onward = kernel.tracing.route(node.netns, ep_ip).to(ep_ip) \
            if ep_ip and p.verdict == "accept" else ""
        branches.append(Branch(p, pod.key if pod else "", pod.node if pod else "", onward))
    proof = _prove(kernel, plan, state, ends, mode, paths, namespace) if with_proof else None
    step = ingress_step(plan, branches, host or ends.dst_ip, path)
    return Explanation(ends, mode, tuple(branches), tuple(_way_back(ends, paths)), proof,
                       ingress=step)


def ingress_step(plan: LabPlan, branches: list[Branch], host: str, path: str
             ) -> IngressStep | None:
    """When the connection reaches an ingress-nginx pod: the location nginx chooses."""
    controllers = {p.key: p for p in controller_pods(plan, "nginx")}
    for b in branches:
        pod = controllers.get(b.endpoint)
        if b.path.verdict != "accept" or pod is None:
            continue
        server, loc = choose(routes(plan, "nginx"), host, path)
        up = loc.upstream
        return IngressStep(pod.key, server.host, loc.path, loc.path_type, loc.ingress,
                           up.name if up else "", tuple(f"{ip}:{port}" for ip, port in
                                                        (up.servers if up else ())))
    return None


def _way_back(ends: Ends, paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        if p.verdict == "drop":
            line = f"no reply: {ends.node} drops the packet ({p.hops[-1].chain})"
        elif p.verdict == "reject":
            line = (f"{ends.node} answers at once with ICMP port unreachable "
                    f"({p.hops[-1].chain}): the client sees 'connection refused'")
        elif p.dnat:
            ep = p.dnat
            line = (f"replies from {ep} pass {ends.node} again, whose conntrack turns their "
                    f"source back into {ends.dst_ip}:{ends.dport}")
            line += (f"; masqueraded on the way in, they come to {ends.node}'s address and go "
                     f"back to {ends.src_ip}" if p.masquerade else
                     f"; {ep} saw {ends.src_ip} as the source")
        elif p.masquerade:
            line = (f"no service rule rewrote its destination; masqueraded, it reaches "
                    f"{ends.dst_ip} from {ends.node}'s address, whose conntrack turns the "
                    f"replies back to {ends.src_ip}")
        else:
            line = f"no service rule rewrote it: replies come straight from {ends.dst_ip}"
        if line not in out:
            out.append(line)
    return out


def _prove(kernel: Kernel, plan: LabPlan, state, ends: Ends, mode: str, paths: list[Path],
           namespace: str) -> Proof:
    node = plan.node(ends.node)
    where = resolve_source(plan, ends.source, namespace, state)
    if ends.proto == "tcp":
        job = {"tcp": [ends.dst_ip, ends.dport]}
    else:
        job = {"argv": ["dig", f"@{ends.dst_ip}", "-p", str(ends.dport), "+tries=1",
                        "+time=1", "netlab-trace.invalid"]}
    replies: list = []

    def send() -> None:
        replies.extend(run_attempts(where, job, 1, 3.0))

    match = TraceMatch(ends.src_ip, ends.dst_ip, ends.dport, ends.proto)
    flavour = "" if mode == "nftables" else kernel.netfilter.flavour(node.netns)
    note = ""
    if flavour == "legacy":
        before = kernel.tracing.counters(node.netns, flavour)
        send()
        hops = prove.counter_hits(before, kernel.tracing.counters(node.netns, flavour))
        monitor = "counters"
        note = ("legacy iptables cannot trace in a namespace without a log backend: these "
                "are the rules whose packet counters moved (other traffic may add some)")
    else:
        monitor = "nft monitor trace" if mode == "nftables" else "xtables-monitor --trace"
        parse = prove.parse_nft if mode == "nftables" else prove.parse_xtables
        hops = parse(kernel.tracing.kernel_trace(
            node.netns, "nft" if mode == "nftables" else "xtables", match, ends.local, send))
    if mode == "ipvs":
        note = (note + "; " if note else "") + ("IPVS picks the real server after the "
                                                 "netfilter hooks: the kernel's trace ends "
                                                 "before it")
    dnat = prove.kernel_dnat(hops)
    attempt = replies[0] if replies else probes.Attempt(False, error="not sent")
    if ends.proto == "tcp":
        tcp = probes.parse_tcp(attempt)
        answered, said = tcp.connected, "connected" if tcp.connected else tcp.detail
    else:
        answered = attempt.ran and attempt.rc == 0
        said = "answered" if answered else (attempt.error or "no answer (UDP: nothing came "
                                                                "back)")
    if mode == "ipvs":
        agrees = bool(hops)
    else:
        agrees = prove.matching_path(paths, hops)[1] if hops else False
    return Proof(monitor, tuple(hops), dnat, answered, said.splitlines()[0] if said else "",
                 agrees, note)

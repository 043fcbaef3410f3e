"""An in-memory kernel: every interface of ``kernel/api.py`` over one world that can be dumped.

It applies the same operations the real kernel gets (iptables-restore text, ipset restore
text, IPVS operations, links, namespaces, processes) and refuses what the kernel would refuse:
a rule in a chain that does not exist, a jump to nothing, a chain deleted while referenced, an
entry for a set that does not exist, a namespace or link that already exists. Every change is
logged (``log``), the whole world can be dumped (``dump``, for comparing before and after) and a
failure can be injected at the Nth change (``fail_at``), as knftables' Fake does for kube-proxy.
"""

from __future__ import annotations

import copy
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from netlab.errors import NetlabError
from netlab.kernel.api import Kernel, PodAttachment
from netlab.model.sync import IpvsOp, Key, VirtualServer
from netlab.model.trace import Route, TraceMatch

NETNS_DIR = "/run/netns"
BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}
BUILTIN_TARGETS = {"ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "SNAT", "MASQUERADE", "MARK"}


class FakeKernelError(NetlabError):
    """What the real kernel (or tool) would have refused, or an injected failure."""


@dataclass
class Link:
    kind: str
    up: bool = False
    master: str = ""
    mtu: int = 1500
    addresses: set[str] = field(default_factory=set)
    peer: tuple[str, str] | None = None  # (netns, ifname) of a veth's other end
    info: str = ""


@dataclass
class Netns:
    links: dict[str, Link] = field(default_factory=lambda: {"lo": Link("loopback")})
    routes: set[str] = field(default_factory=set)
    neigh: set[str] = field(default_factory=set)
    fdb: set[str] = field(default_factory=set)
    sysctls: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    ipsets: dict[str, set[str]] = field(default_factory=dict)
    ipset_types: dict[str, str] = field(default_factory=dict)  # set -> hash:ip,port, ...
    ipvs: dict[Key, VirtualServer] = field(default_factory=dict)
    # "family name" -> chain -> its rules
    nft_tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def dump(self) -> dict:
        return {
            "links": {n: {"kind": lk.kind, "up": lk.up, "master": lk.master, "mtu": lk.mtu,
                          "addresses": sorted(lk.addresses), "peer": lk.peer, "info": lk.info}
                      for n, lk in sorted(self.links.items())},
            "routes": sorted(self.routes), "neigh": sorted(self.neigh), "fdb": sorted(self.fdb),
            "sysctls": dict(sorted(self.sysctls.items())),
            "iptables": {t: {c: list(r) for c, r in sorted(chains.items())}
                         for t, chains in sorted(self.tables.items())},
            "ipsets": {n: sorted(e) for n, e in sorted(self.ipsets.items())},
            "ipvs": [(vs.key, vs.scheduler, vs.persistent_s, vs.real_servers)
                     for _k, vs in sorted(self.ipvs.items())],
            **({"nft": sorted(self.nft_tables)} if self.nft_tables else {}),
        }


@dataclass
class Proc:
    pid: int
    start: int
    request: dict
    alive: bool = True


class World:
    """The fake kernel's state, shared by its interfaces."""

    def __init__(self, sysctl_defaults: dict[str, str] | None = None) -> None:
        self.sysctl_defaults = dict(sysctl_defaults or {})  # what a new namespace holds
        self.netns: dict[str, Netns] = {}
        self.uts: dict[str, str] = {}  # path -> hostname
        self.procs: dict[int, Proc] = {}
        self.next_pid = 1000
        self.log: list[tuple[str, str, str]] = []  # (what, where, detail), changes only
        self.changes = 0
        self.fail_at_change: int | None = None
        self.fail_if: Callable[[str, str, str], bool] | None = None
        self.cleared: list[tuple[str, str, str]] = []  # conntrack entries cleared
        self.cgroups: set[str] = set()
        self.exits: dict[str, str] = {}  # a container's exit file -> what its shim wrote
        self.stubborn: set[int] = set()  # processes that ignore SIGTERM

    def change(self, what: str, where: str, detail: str = "") -> None:
        """Count and log one change; raise the injected failure when it is due."""
        self.changes += 1
        if (self.fail_at_change is not None and self.changes >= self.fail_at_change) or \
                (self.fail_if is not None and self.fail_if(what, where, detail)):
            self.fail_at_change, self.fail_if = None, None
            raise FakeKernelError(f"injected failure at change {self.changes}: {what} "
                                  f"{where} {detail}".strip())
        self.log.append((what, where, detail))

    def note(self, what: str, where: str, detail: str = "") -> None:
        """Log something that is no change to the kernel and cannot fail (a signal)."""
        self.log.append((what, where, detail))

    def ns(self, name: str) -> Netns:
        if name not in self.netns:
            raise FakeKernelError(f"no network namespace {name}")
        return self.netns[name]

    def ns_of_path(self, path: str) -> str:
        return os.path.basename(path) if path.startswith(NETNS_DIR + "/") else ""


class FakeNamespaces:
    def __init__(self, world: World) -> None:
        self.w = world

    def create_netns(self, name: str) -> None:
        if name in self.w.netns:
            raise FileExistsError(f"{NETNS_DIR}/{name}")
        self.w.change("netns add", name)
        self.w.netns[name] = Netns(sysctls=dict(self.w.sysctl_defaults))

    def create_uts(self, path: str, hostname: str) -> None:
        if path in self.w.uts:
            raise FileExistsError(path)
        self.w.change("uts add", path, hostname)
        self.w.uts[path] = hostname

    def remove(self, path: str) -> bool:
        name = self.w.ns_of_path(path)
        if name:
            if name not in self.w.netns:
                return False
            self.w.change("netns del", name)
            for ifname in list(self.w.netns[name].links):
                _delete_link(self.w, name, ifname)
            del self.w.netns[name]
            return True
        if path not in self.w.uts:
            return False
        self.w.change("uts del", path)
        del self.w.uts[path]
        return True

    def exists(self, path: str) -> bool:
        name = self.w.ns_of_path(path)
        return name in self.w.netns if name else path in self.w.uts


def _delete_link(w: World, netns: str, ifname: str) -> None:
    link = w.netns[netns].links.pop(ifname, None)
    for port in w.netns[netns].links.values():  # a bridge's ports are let go
        if port.master == ifname:
            port.master = ""
    if link and link.peer and link.peer[0] in w.netns:
        w.netns[link.peer[0]].links.pop(link.peer[1], None)


class FakeLinkHandle:
    def __init__(self, world: World, netns: str) -> None:
        self.w, self.name = world, netns
        self.ns = world.ns(netns)

    def __enter__(self) -> FakeLinkHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def _link(self, ifname: str) -> Link:
        if ifname not in self.ns.links:
            raise LookupError(f"no interface {ifname} in {self.name}")
        return self.ns.links[ifname]

    def _new(self, ifname: str, link: Link) -> None:
        if ifname in self.ns.links:
            raise FakeKernelError(f"{ifname} exists in {self.name}")
        self.w.change("link add", self.name, f"{link.kind} {ifname}")
        self.ns.links[ifname] = link

    def up(self, ifname: str) -> None:
        self.w.change("link up", self.name, ifname)
        self._link(ifname).up = True

    def down(self, ifname: str) -> None:
        self.w.change("link down", self.name, ifname)
        self._link(ifname).up = False

    def ensure_bridge(self, ifname: str) -> None:
        if ifname in self.ns.links:
            if self.ns.links[ifname].kind != "bridge":
                raise RuntimeError(f"{ifname} in {self.name} exists but is not a bridge")
        else:
            self._new(ifname, Link("bridge"))
        self.up(ifname)

    def ensure_dummy(self, ifname: str) -> None:
        if ifname not in self.ns.links:
            self._new(ifname, Link("dummy"))

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        self.w.change("addr add", self.name, f"{address}/{prefixlen} {ifname}")
        self._link(ifname).addresses.add(f"{address}/{prefixlen}")

    def add_route(self, dst: str, gateway: str = "", dev: str = "",
                  onlink: bool = False) -> None:
        route = f"{dst}" + (f" via {gateway}" if gateway else "") + (f" dev {dev}" if dev else "")
        self.w.change("route add", self.name, route)
        self.ns.routes.add(route)

    def add_veth_to(self, ifname: str, peer_netns: str, peer_ifname: str,
                    master: str = "") -> None:
        peer = self.w.ns(peer_netns)
        if peer_ifname in peer.links:
            raise FakeKernelError(f"{peer_ifname} exists in {peer_netns}")
        if master:
            self._link(master)
        self._new(ifname, Link("veth", True, master, peer=(peer_netns, peer_ifname)))
        peer.links[peer_ifname] = Link("veth", peer=(self.name, ifname))

    def add_vxlan(self, ifname: str, vni: int, local: str, dev: str, port: int,
                  mac: str) -> None:
        self._link(dev)
        self._new(ifname, Link("vxlan", info=f"vni {vni} local {local} dev {dev} port {port} "
                                             f"mac {mac}"))

    def set_mtu(self, ifname: str, mtu: int) -> None:
        self.w.change("link mtu", self.name, f"{ifname} {mtu}")
        self._link(ifname).mtu = mtu

    def add_neigh(self, ifname: str, dst: str, lladdr: str) -> None:
        self.w.change("neigh replace", self.name, f"{dst} {lladdr} {ifname}")
        self.ns.neigh.add(f"{dst} lladdr {lladdr} dev {ifname}")

    def add_fdb(self, ifname: str, lladdr: str, dst: str) -> None:
        self.w.change("fdb append", self.name, f"{lladdr} {dst} {ifname}")
        self.ns.fdb.add(f"{lladdr} dst {dst} dev {ifname}")

    def set_master(self, ifname: str, master: str) -> None:
        self._link(master)
        link = self._link(ifname)
        if link.master != master:
            self.w.change("link master", self.name, f"{ifname} {master}")
            link.master = master

    def delete_link(self, ifname: str) -> None:
        if ifname in self.ns.links:
            self.w.change("link del", self.name, ifname)
            _delete_link(self.w, self.name, ifname)

    def set_host_addresses(self, ifname: str, ips: set[str]) -> None:
        link = self._link(ifname)
        want = {f"{ip}/32" for ip in ips}
        if link.addresses != want:
            self.w.change("addr set", self.name, f"{ifname} {' '.join(sorted(want))}")
            link.addresses = want

    def link_names(self) -> list[str]:
        return list(self.ns.links)


class FakeLinks:
    def __init__(self, world: World) -> None:
        self.w = world

    def open(self, netns: str) -> FakeLinkHandle:
        return FakeLinkHandle(self.w, netns)


class FakePodNetwork:
    def __init__(self, world: World) -> None:
        self.w = world

    def add(self, pod: PodAttachment) -> None:
        node = self.w.ns(pod.node_netns)
        if pod.bridge not in node.links:
            raise FakeKernelError(f"no bridge {pod.bridge} in {pod.node_netns}")
        FakeNamespaces(self.w).create_netns(pod.netns)
        FakeNamespaces(self.w).create_uts(pod.uts, pod.hostname)
        with FakeLinkHandle(self.w, pod.node_netns) as links:
            links.add_veth_to(pod.host_veth, pod.netns, "eth0", master=pod.bridge)
        with FakeLinkHandle(self.w, pod.netns) as links:
            links.up("lo")
            links.add_address("eth0", pod.ip, pod.prefixlen)
            links.up("eth0")
            links.add_route("0.0.0.0/0", gateway=pod.gateway)

    def delete(self, pod: PodAttachment) -> None:
        if pod.node_netns in self.w.netns:
            with FakeLinkHandle(self.w, pod.node_netns) as links:
                links.delete_link(pod.host_veth)
        FakeNamespaces(self.w).remove(f"{NETNS_DIR}/{pod.netns}")
        FakeNamespaces(self.w).remove(pod.uts)

    def check(self, pod: PodAttachment) -> list[str]:
        if pod.netns not in self.w.netns:
            return [f"network namespace {pod.netns} is gone"]
        problems = []
        if pod.host_veth not in self.w.ns(pod.node_netns).links:
            problems.append(f"{pod.host_veth} is gone from {pod.node_netns}")
        eth0 = self.w.ns(pod.netns).links.get("eth0")
        if eth0 is None:
            problems.append(f"eth0 is gone from {pod.netns}")
        elif pod.ip and f"{pod.ip}/{pod.prefixlen}" not in eth0.addresses:
            problems.append(f"eth0 in {pod.netns} does not hold {pod.ip}")
        return problems

    def close(self) -> None:
        pass


class FakeSysctls:
    def __init__(self, world: World) -> None:
        self.w = world

    def set(self, netns: str, values: dict[str, str]) -> None:
        ns = self.w.ns(netns)
        self.w.change("sysctl", netns, " ".join(f"{k}={v}" for k, v in values.items()))
        ns.sysctls.update(values)

    def get(self, netns: str, key: str) -> str | None:
        return self.w.ns(netns).sysctls.get(key)


class FakeNetfilter:
    """iptables-restore semantics: without --noflush every table named is replaced; with it, a
    declared user chain is created or flushed, other chains keep their rules."""

    def __init__(self, world: World) -> None:
        self.w = world

    def flavour(self, netns: str) -> str:
        self.w.ns(netns)
        return "nft"

    def restore(self, netns: str, flavour: str, text: str, *, noflush: bool = True) -> None:
        ns = self.w.ns(netns)
        tables = copy.deepcopy(ns.tables)  # atomic: all of it or nothing
        table: dict[str, list[str]] | None = None
        name = ""
        for n, line in enumerate(text.splitlines(), start=1):
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                name = line[1:]
                if name not in BUILTIN_CHAINS:
                    raise FakeKernelError(f"iptables-restore: unknown table {name}, line {n}")
                if not noflush or name not in tables:
                    tables[name] = {c: [] for c in BUILTIN_CHAINS[name]}
                table = tables[name]
            elif line == "COMMIT":
                table = None
            elif table is None:
                raise FakeKernelError(f"iptables-restore: line {n} outside a table")
            elif line.startswith(":"):
                chain = line[1:].split()[0]
                if chain not in BUILTIN_CHAINS[name]:
                    table[chain] = []
            elif line.startswith("-A "):
                args = shlex.split(line)
                if args[1] not in table:
                    raise FakeKernelError(f"iptables-restore: chain {args[1]} does not exist, "
                                          f"line {n}")
                table[args[1]].append(line.split(" ", 2)[2] if len(args) > 2 else "")
            elif line.startswith("-X "):
                table.pop(line.split()[1], None)
            else:
                raise FakeKernelError(f"iptables-restore: cannot parse line {n}: {line}")
        for tname, chains in tables.items():
            for chain, rules in chains.items():
                for rule in rules:
                    args = shlex.split(rule)
                    if "-j" in args:
                        target = args[args.index("-j") + 1]
                        if target not in BUILTIN_TARGETS and target not in chains:
                            raise FakeKernelError(f"iptables-restore: {tname}/{chain} jumps "
                                                  f"to missing chain {target}")
        self.w.change("iptables-restore" + (" --noflush" if noflush else ""), netns, text)
        ns.tables = tables

    def nft(self, netns: str, text: str) -> None:
        """nft -f: the tables it adds, flushes or deletes and their chains' rules (the rules
        as text; sets and maps are not modelled)."""
        ns = self.w.ns(netns)
        tables = copy.deepcopy(ns.nft_tables)  # atomic: all of it or nothing
        for line in text.splitlines():
            words = line.split()
            name = " ".join(words[2:4])
            if words[:2] == ["add", "table"]:
                tables.setdefault(name, {})
            elif words[:2] == ["delete", "table"] or words[:2] == ["delete", "chain"]:
                if name not in tables:
                    raise FakeKernelError(f"nft: no table {name}")
                if words[1] == "table":
                    del tables[name]
                else:
                    tables[name].pop(words[4], None)
            elif words[:2] == ["flush", "table"] and name in tables:
                tables[name] = {chain: [] for chain in tables[name]}
            elif words[:2] in (["add", "chain"], ["flush", "chain"]) and name in tables:
                rules = tables[name].setdefault(words[4], [])
                if words[0] == "flush":
                    rules.clear()
            elif words[:2] == ["add", "rule"] and name in tables:
                tables[name].setdefault(words[4], []).append(" ".join(words[5:]))
        self.w.change("nft -f", netns, text)
        ns.nft_tables = tables

    def nft_list_table(self, netns: str, family: str, table: str) -> str | None:
        chains = self.w.ns(netns).nft_tables.get(f"{family} {table}")
        if chains is None:
            return None
        body = "".join(f"\tchain {c} {{\n" + "".join(f"\t\t{r}\n" for r in rules) + "\t}\n"
                       for c, rules in chains.items())
        return f"table {family} {table} {{\n{body}}}\n"

    def nft_list_chain(self, netns: str, family: str, table: str, chain: str) -> str | None:
        rules = self.w.ns(netns).nft_tables.get(f"{family} {table}", {}).get(chain)
        if rules is None:
            return None
        body = "".join(f"\t\t{rule}\n" for rule in rules)
        return f"table {family} {table} {{\n\tchain {chain} {{\n{body}\t}}\n}}\n"

    def save(self, netns: str, flavour: str, table: str = "") -> str:
        ns = self.w.ns(netns)
        out = []
        for tname in ([table] if table else sorted(ns.tables)):
            chains = ns.tables.get(tname, {})
            builtin = BUILTIN_CHAINS[tname]
            out.append(f"*{tname}")
            out += [f":{c} ACCEPT [0:0]" for c in builtin]
            out += [f":{c} - [0:0]" for c in sorted(chains) if c not in builtin]
            for c in [*builtin, *sorted(x for x in chains if x not in builtin)]:
                out += [f"-A {c} {r}".rstrip() for r in chains.get(c, [])]
            out.append("COMMIT")
        return "\n".join(out) + "\n"

    def canary_present(self, netns: str, flavour: str) -> bool:
        tables = self.w.ns(netns).tables
        return all("KUBE-PROXY-CANARY" in tables.get(t, {}) for t in ("mangle", "nat", "filter"))


class FakeIpsets:
    def __init__(self, world: World) -> None:
        self.w = world

    def restore(self, netns: str, text: str) -> None:
        ns = self.w.ns(netns)
        sets, types = copy.deepcopy(ns.ipsets), dict(ns.ipset_types)
        for n, line in enumerate(text.splitlines(), start=1):
            words = line.split()
            if not words:
                continue
            op, name = words[0], words[1]
            if op == "create":
                if name in sets and "-exist" not in words:
                    raise FakeKernelError(f"ipset restore: set {name} exists, line {n}")
                sets.setdefault(name, set())
                types[name] = words[2]
            elif name not in sets:
                raise FakeKernelError(f"ipset restore: set {name} does not exist, line {n}")
            elif op == "flush":
                sets[name].clear()
            elif op == "add":
                sets[name].add(words[2])
            elif op == "del":
                sets[name].discard(words[2])
            elif op == "destroy":
                del sets[name]
            else:
                raise FakeKernelError(f"ipset restore: cannot parse line {n}: {line}")
        self.w.change("ipset restore", netns, text)
        ns.ipsets, ns.ipset_types = sets, types

    def destroy_all(self, netns: str) -> None:
        self.w.change("ipset destroy", netns)
        self.w.ns(netns).ipsets.clear()

    def save(self, netns: str) -> str:
        ns = self.w.ns(netns)
        out = []
        for name, members in sorted(ns.ipsets.items()):
            out += [f"create {name} {ns.ipset_types[name]}"] + [
                f"add {name} {m}" for m in sorted(members)]
        return "\n".join(out) + "\n"


class FakeIpvs:
    def __init__(self, world: World) -> None:
        self.w = world

    def dump(self, netns: str, keys: Iterable[Key] | None = None) -> dict[Key, VirtualServer]:
        table = self.w.ns(netns).ipvs
        if keys is None:
            return dict(table)
        return {k: table[k] for k in keys if k in table}

    def apply(self, netns: str, ops: Sequence[IpvsOp]) -> None:
        table = self.w.ns(netns).ipvs
        for op in ops:
            self.w.change("ipvs", netns, str(op))
            vs = table.get(op.key)
            if op.action == "add-service":
                if vs:
                    raise FakeKernelError(f"ipvs: {op.key} exists")
                table[op.key] = VirtualServer(*op.key, op.scheduler, op.persistent_s, ())
            elif vs is None:
                raise FakeKernelError(f"ipvs: no virtual server {op.key}")
            elif op.action == "set-service":
                table[op.key] = VirtualServer(*op.key, op.scheduler, op.persistent_s,
                                              vs.real_servers)
            elif op.action == "del-service":
                del table[op.key]
            elif op.action == "add-dest":
                if op.dest in vs.real_servers:
                    raise FakeKernelError(f"ipvs: {op.dest} exists in {op.key}")
                table[op.key] = VirtualServer(*op.key, vs.scheduler, vs.persistent_s,
                                              tuple(sorted((*vs.real_servers, op.dest))))
            elif op.action == "del-dest":
                table[op.key] = VirtualServer(*op.key, vs.scheduler, vs.persistent_s,
                                              tuple(r for r in vs.real_servers if r != op.dest))


class FakeConntrack:
    def __init__(self, world: World) -> None:
        self.w = world

    def clear_udp(self, netns: str, service_ip: str, endpoint_ip: str) -> None:
        self.w.cleared.append((netns, service_ip, endpoint_ip))

    def clear_udp_node_port(self, netns: str, node_port: int, endpoint_ip: str) -> None:
        self.w.cleared.append((netns, str(node_port), endpoint_ip))


class FakeLauncher:
    def __init__(self, world: World) -> None:
        self.w = world
        self._replies: dict[int, tuple[int, int] | str] = {}
        self._next = 0

    def __enter__(self) -> FakeLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, request: dict) -> int:
        self._next += 1
        netns = self.w.ns_of_path(request.get("netns", ""))
        if netns and netns not in self.w.netns:
            self._replies[self._next] = f"setns: no namespace {netns}"
            return self._next
        try:
            self.w.change("start", netns, request.get("log", ""))
        except FakeKernelError as exc:
            self._replies[self._next] = str(exc)
            return self._next
        pid = self.w.next_pid
        self.w.next_pid += 1
        self.w.procs[pid] = Proc(pid, pid * 7, dict(request))
        self.w.exits.pop((request.get("sandbox") or {}).get("exit", ""), None)
        self._replies[self._next] = (pid, pid * 7)
        return self._next

    def result(self, ticket: int) -> tuple[int, int]:
        reply = self._replies.pop(ticket)
        if isinstance(reply, str):
            raise NetlabError(reply)
        return reply

    def start(self, request: dict) -> tuple[int, int]:
        return self.result(self.submit(request))


class FakeProcesses:
    def __init__(self, world: World) -> None:
        self.w = world

    def launcher(self, argv: Sequence[str]) -> FakeLauncher:
        return FakeLauncher(self.w)

    def stop(self, procs: Iterable[tuple[int, int]], grace_s: float = 2.0) -> int:
        for pid, start in procs:
            if self.alive(pid, start):
                self.w.change("kill", "", self.w.procs[pid].request.get("log", str(pid)))
                self._ended(self.w.procs[pid], "killed 15")
        return 0

    def terminate(self, procs: Iterable[tuple[int, int]]) -> None:
        """Fake processes end on SIGTERM, but those a test made stubborn."""
        for pid, start in procs:
            if self.alive(pid, start) and pid not in self.w.stubborn:
                self.w.note("term", "", self.w.procs[pid].request.get("log", str(pid)))
                self._ended(self.w.procs[pid], "exited 0")

    def alive(self, pid: int, start: int) -> bool:
        p = self.w.procs.get(pid)
        return bool(p and p.alive and p.start == start)

    def in_namespaces(self, paths: Sequence[str]) -> list[tuple[int, int]]:
        wanted = set(paths)
        return [(p.pid, p.start) for p in self.w.procs.values()
                if p.alive and p.request.get("netns") in wanted]

    def spawn(self, argv: Sequence[str], log_path: str, cgroup: str = "") -> tuple[int, int]:
        pid = self.w.next_pid
        self.w.next_pid += 1
        self.w.procs[pid] = Proc(pid, pid * 7, {"argv": list(argv), "log": log_path,
                                                "cgroup": cgroup})
        return pid, pid * 7

    def environ(self, pid: int) -> dict[str, str]:
        p = self.w.procs.get(pid)
        return dict(p.request.get("env", {})) if p and p.alive else {}

    def exit_status(self, path: str) -> str:
        return self.w.exits.get(path, "")

    def ignore_term(self, pid: int) -> None:
        """Test helper: the process ignores SIGTERM (as a container's PID 1 without a
        handler does)."""
        self.w.stubborn.add(pid)

    def crash(self, pid: int, code: int = 1) -> None:
        """Test helper: the process exits on its own, with CODE."""
        self._ended(self.w.procs[pid], f"exited {code}")

    def _ended(self, p: Proc, how: str) -> None:
        p.alive = False
        box = p.request.get("sandbox") or {}
        if box.get("exit"):
            self.w.exits[box["exit"]] = how


class FakeCgroups:
    """cgroups as paths; a process is in the cgroup its request named."""

    def __init__(self, world: World) -> None:
        self.w = world

    def lab_path(self, lab: str) -> str:
        return f"/sys/fs/cgroup/netlab/{lab}"

    def create(self, path: str) -> None:
        if path not in self.w.cgroups:
            self.w.change("cgroup add", path)
            self.w.cgroups.add(path)

    def _inside(self, path: str) -> list[Proc]:
        return [p for p in self.w.procs.values() if p.alive and
                (p.request.get("cgroup", "") + "/").startswith(path + "/")]

    def kill(self, path: str) -> None:
        for p in self._inside(path):
            FakeProcesses(self.w)._ended(p, "killed 9")

    def remove(self, path: str) -> bool:
        if path not in self.w.cgroups:
            return False
        self.w.change("cgroup del", path)
        self.kill(path)
        self.w.cgroups -= {c for c in self.w.cgroups if (c + "/").startswith(path + "/")}
        return True

    def join(self, path: str, pid: int) -> None:
        self.w.procs[pid].request["cgroup"] = path


class FakeSandboxes:
    def __init__(self, world: World) -> None:
        self.w = world

    def make_template(self, path: str) -> None:
        FakeNamespaces(self.w).create_uts(path, "(mount namespace template)")


class FakeTracing:
    """Addresses from the links; routes out of eth0; the kernel trace a test sets."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.output = ""  # what the monitor prints
        self.arp: dict[str, str] = {}  # address -> the MAC that answers ARP for it
        self.macs: dict[tuple[str, str], str] = {}  # (netns, link) -> its MAC

    def addresses(self, netns: str) -> set[str]:
        return {a.split("/")[0] for lk in self.w.ns(netns).links.values() for a in lk.addresses}

    def route(self, netns: str, dst: str) -> Route:
        return Route("eth0")

    def arp_answer(self, netns: str, dev: str, ip: str) -> str:
        return self.arp.get(ip, "")

    def mac(self, netns: str, dev: str) -> str:
        return self.macs.get((netns, dev), "")

    def kernel_trace(self, netns: str, monitor: str, match: TraceMatch, local: bool,
                     send: Callable[[], None]) -> str:
        self.w.change("trace", netns, f"{monitor} {match}")
        send()
        return self.output

    def counters(self, netns: str, flavour: str) -> str:
        return FakeNetfilter(self.w).save(netns, flavour)


class FakeKernel(Kernel):
    def __init__(self, sysctl_defaults: dict[str, str] | None = None) -> None:
        """SYSCTL_DEFAULTS: what every new namespace holds (as a real one holds values)."""
        self.world = w = World(sysctl_defaults)
        super().__init__(namespaces=FakeNamespaces(w), links=FakeLinks(w),
                         pods=FakePodNetwork(w), sysctls=FakeSysctls(w),
                         netfilter=FakeNetfilter(w), ipsets=FakeIpsets(w), ipvs=FakeIpvs(w),
                         conntrack=FakeConntrack(w), processes=FakeProcesses(w),
                         cgroups=FakeCgroups(w), sandboxes=FakeSandboxes(w),
                         tracing=FakeTracing(w))

    @property
    def log(self) -> list[tuple[str, str, str]]:
        return self.world.log

    def fail_at(self, change: int) -> None:
        """Make the CHANGE-th change from now fail (once)."""
        self.world.fail_at_change = self.world.changes + change

    def fail_when(self, predicate: Callable[[str, str, str], bool]) -> None:
        """Make the first change for which PREDICATE(what, where, detail) holds fail."""
        self.world.fail_if = predicate

    def dump(self) -> dict:
        """The whole world, comparable before and after (processes by what they run)."""
        return {
            "netns": {n: ns.dump() for n, ns in sorted(self.world.netns.items())},
            "uts": dict(sorted(self.world.uts.items())),
            "processes": sorted((p.request.get("netns", ""), p.request.get("log", ""))
                                for p in self.world.procs.values() if p.alive),
            "cgroups": sorted(self.world.cgroups),
        }

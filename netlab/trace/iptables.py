"""Walk a new connection through a node's iptables rules (and IPVS), as the kernel would.

Pure: the rules are ``iptables-save`` text, with ``ipset save`` text and the IPVS virtual
servers read back when the node runs in IPVS mode. The walk follows the hooks a packet meets:
nat PREROUTING, then filter INPUT (and IPVS, which picks a real server after it) or filter
FORWARD, then nat POSTROUTING; a packet the node sends itself meets nat and filter OUTPUT.
``-m statistic --probability`` forks the walk, so every endpoint comes out with its odds.
Reference: kube-proxy's ``pkg/proxy/iptables/proxier_test.go`` and the tracer of its
``pkg/proxy/nftables/helpers_test.go``, which walk rules the same way.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from netlab.model.sync import VirtualServer
from netlab.trace.path import (
    MASQ_BIT,
    Packet,
    Path,
    Result,
    State,
    TraceError,
    run_rules,
    through_hooks,
)

__all__ = ["Packet", "Path", "Tables", "TraceError", "parse", "run_chain", "trace"]

BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


@dataclass(frozen=True)
class Rule:
    args: tuple[str, ...]
    text: str  # as iptables-save prints it, for the reader

    @property
    def comment(self) -> str:
        a = self.args
        return next((a[i + 1] for i in range(len(a) - 1) if a[i] == "--comment"), "")


@dataclass
class Tables:
    chains: dict[str, dict[str, list[Rule]]] = field(default_factory=dict)  # table -> chain
    sets: dict[str, tuple[str, set[str]]] = field(default_factory=dict)  # ipset: type, members
    virtual: dict[tuple[str, int, str], VirtualServer] = field(default_factory=dict)


def parse(save: str, ipsets: str = "", virtual: Iterable[VirtualServer] = ()) -> Tables:
    """Tables from ``iptables-save`` (or iptables-restore) text, ``ipset save`` text and the
    IPVS virtual servers."""
    t = Tables()
    current: dict[str, list[Rule]] | None = None
    for line in save.splitlines():
        if line.startswith("*"):
            current = t.chains.setdefault(line[1:].strip(), {})
        elif current is None or not line.strip() or line.startswith("#"):
            continue
        elif line.startswith(":"):
            current.setdefault(line[1:].split()[0], [])
        elif line.startswith(("-A ", "-I ")):
            args = shlex.split(line)
            rule = Rule(tuple(args[2:]), line[len(args[0]) + len(args[1]) + 2:])
            chain = current.setdefault(args[1], [])
            chain.insert(0, rule) if args[0] == "-I" else chain.append(rule)
        elif line.startswith("-X "):
            current.pop(line.split()[1], None)
        elif line.startswith("-F "):
            current[line.split()[1]] = []
    for line in ipsets.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "create":
            t.sets[words[1]] = (words[2], set())
        elif len(words) >= 2 and words[0] == "flush" and words[1] in t.sets:
            t.sets[words[1]][1].clear()
        elif len(words) >= 3 and words[0] == "add":
            t.sets.setdefault(words[1], ("hash:ip", set()))[1].add(words[2])
    for vs in virtual:
        t.virtual[(vs.address, vs.port, vs.protocol.lower())] = vs
    return t


def trace(t: Tables, pkt: Packet, node_ips: Iterable[str]) -> list[Path]:
    """Every way a new connection PKT goes through the node, each with its odds."""
    start = State(pkt, frozenset(node_ips))
    first = [("nat", "OUTPUT"), ("filter", "OUTPUT")] if pkt.local else [("nat", "PREROUTING")]
    paths: list[Path] = []
    for s, v in _hooks(t, start, first):
        if v != "accept":
            paths.append(s.path(v))
            continue
        if pkt.local:
            after = _ipvs(t, s)
        elif s.daddr in s.node_ips:  # for the node itself: input, then IPVS may take it
            after = [(s2, v2) for s1, v1 in _hooks(t, s, [("filter", "INPUT")])
                     for s2, v2 in (_ipvs(t, s1) if v1 == "accept" else [(s1, v1)])]
        else:
            after = _hooks(t, s, [("filter", "FORWARD")])
        for s2, v2 in after:
            if v2 == "local":  # delivered to a socket of the node: no postrouting
                paths.append(s2.path("accept"))
            elif v2 != "accept":
                paths.append(s2.path(v2))
            else:
                paths += [s3.path(v3) for s3, v3 in _hooks(t, s2, [("nat", "POSTROUTING")])]
    return paths


def run_chain(t: Tables, table: str, chain: str, pkt: Packet,
              node_ips: Iterable[str] = ()) -> list[Path]:
    """The ways PKT leaves one chain (verdict "return": it fell off the end)."""
    return [s.path(v or "return") for s, v in _run(t, table, chain,
                                                    State(pkt, frozenset(node_ips)), 0)]


def hook(t: Tables, table: str, chain: str, state: State) -> Result | None:
    """STATE through base CHAIN of TABLE; None when the node has no such chain."""
    return _run(t, table, chain, state, 0) if chain in t.chains.get(table, {}) else None


def _hooks(t: Tables, state: State, chains: list[tuple[str, str]]) -> Result:
    return through_hooks(state, chains, lambda tc, s: hook(t, *tc, s))


def _ipvs(t: Tables, s: State) -> Result:
    """IPVS after filter INPUT: a virtual server for the destination picks a real server."""
    vs = t.virtual.get((s.daddr, s.dport, s.pkt.proto))
    if vs is None:
        return [(s, "accept" if s.pkt.local else "local")]
    rule = f"{vs.protocol} {vs.address}:{vs.port} {vs.scheduler}" + (
        f" persistent {vs.persistent_s}" if vs.persistent_s else "")
    live = [(ip, port) for ip, port in vs.real_servers]
    if not live:
        return [(s.hop("IPVS", rule, "no real server: IPVS answers port unreachable"),
                 "reject")]
    out = []
    for ip, port in live:
        picked = dataclasses.replace(s.fork(1 / len(live)), dnat=f"{ip}:{port}").hop(
            "IPVS", rule, f"{vs.scheduler} picked {ip}:{port} of {len(live)}")
        out.append((picked, "accept"))
    return out


def _run(t: Tables, table: str, chain: str, state: State, depth: int) -> Result:
    rules = t.chains.get(table, {}).get(chain)
    if rules is None:
        raise TraceError(f"a rule jumps to chain {chain}, which table {table} does not have")
    return run_rules(chain, rules, depth, state,
                     lambda rule, s: _rule(t, table, chain, rule, s, depth))


def _rule(t: Tables, table: str, chain: str, rule: Rule, s: State,
          depth: int) -> list[tuple[State, str]]:
    """Apply RULE to S: (state, outcome) pairs; outcome "next" (on to the next rule),
    "return" (leave the chain) or a terminal verdict. A random match forks."""
    a, i, odds, negate = rule.args, 0, 1.0, False
    target, target_at = "", len(a)
    while i < len(a):
        w = a[i]
        if w == "!":
            negate, i = True, i + 1
            continue
        if w in ("-j", "-g"):
            target, target_at = w, i
            break
        if w == "-m":
            i += 2  # the module's own options follow
            continue
        hit, used = _match(t, a, i, s, rule, chain)
        if w == "--probability":
            odds, hit = float(a[i + 1]), True
        if hit == negate:
            return [(s, "next")]
        negate, i = False, i + used
    out: list[tuple[State, str]] = []
    if odds < 1.0:  # --mode random: the rule may also not match
        out.append((s.fork(1 - odds), "next"))
        s = s.fork(odds)
    if not target:
        return out + [(s, "next")]
    return out + _target(t, table, chain, rule, a[target_at:], s, depth)


def _match(t: Tables, a: tuple[str, ...], i: int, s: State, rule: Rule,
           chain: str) -> tuple[bool, int]:
    """Does option a[i] (with its values) match S; how many words it took."""
    w = a[i]
    if w == "-s":
        return _in(s.pkt.src, a[i + 1]), 2
    if w == "-d":
        return _in(s.daddr, a[i + 1]), 2
    if w == "-p":
        return s.pkt.proto == a[i + 1], 2
    if w == "--dport":
        return s.dport == int(a[i + 1]), 2
    if w == "--dports":  # -m multiport: 80,443,8000:8080
        return any(_port_in(s.dport, p) for p in a[i + 1].split(",")), 2
    if w == "--comment":
        return True, 2
    if w == "--ctstate":
        states = a[i + 1].split(",")
        return "NEW" in states or ("DNAT" in states and bool(s.dnat)), 2
    if w in ("--dst-type", "--src-type"):
        addr = s.daddr if w == "--dst-type" else s.pkt.src
        local = addr in s.node_ips or (w == "--src-type" and s.pkt.local)
        return local == (a[i + 1] == "LOCAL"), 2
    if w == "--mark":
        value, _, mask = a[i + 1].partition("/")
        m = int(mask, 16) if mask else 0xFFFFFFFF
        return s.mark & m == int(value, 16), 2
    if w in ("--mode", "--probability"):
        return True, 2
    if w == "--match-set":
        return _in_set(t, a[i + 1], a[i + 2], s), 3
    if w == "--physdev-is-in":
        return s.pkt.bridged, 1
    if w == "--rcheck":  # ClientIP affinity: a new client has no earlier connection
        return False, 1
    if w in ("--set", "--rsource", "--reap"):
        return True, 1
    if w in ("--name", "--mask", "--seconds"):
        return True, 2
    raise TraceError(f"{chain}: the walker cannot read {rule.text!r} (at {w!r})")


def _target(t: Tables, table: str, chain: str, rule: Rule, a: tuple[str, ...], s: State,
            depth: int) -> list[tuple[State, str]]:
    kind, name = a[0], a[1]
    opts = dict(zip(a[2::2], a[3::2], strict=False))  # flags stand alone at the end
    if name == "MARK":
        if "--set-xmark" in opts:
            value, _, mask = opts["--set-xmark"].partition("/")
            m = int(mask, 16) if mask else 0xFFFFFFFF
            mark = (s.mark & ~m) ^ int(value, 16)
        elif "--or-mark" in opts:
            mark = s.mark | int(opts["--or-mark"], 16)
        elif "--xor-mark" in opts:
            mark = s.mark ^ int(opts["--xor-mark"], 16)
        else:
            raise TraceError(f"{chain}: the walker cannot read {rule.text!r}")
        s2 = dataclasses.replace(s, mark=mark)
        if mark & MASQ_BIT and not s.mark & MASQ_BIT:
            s2 = s2.hop(chain, rule.text, rule.comment, table)
        return [(s2, "next")]
    note = rule.comment
    if name == "DNAT":
        to = opts["--to-destination"]
        if ":" not in to:
            to = f"{to}:{s.dport}"
        return [(dataclasses.replace(s, dnat=to).hop(chain, rule.text, note, table), "accept")]
    if name == "MASQUERADE":
        masqueraded = dataclasses.replace(s, masquerade=True)
        return [(masqueraded.hop(chain, rule.text, note, table), "accept")]
    if name in ("ACCEPT", "DROP", "REJECT"):
        return [(s.hop(chain, rule.text, note, table), name.lower())]
    if name == "RETURN":
        return [(s.hop(chain, rule.text, note, table), "return")]
    if name in t.chains.get(table, {}):
        out = []
        for s2, v in _run(t, table, name, s.hop(chain, rule.text, note, table), depth + 1):
            if v:
                out.append((s2, v))
            else:  # the called chain ended: a jump goes on, a goto leaves this chain too
                out.append((s2, "next" if kind == "-j" else "return"))
        return out
    raise TraceError(f"{chain}: a rule jumps to {name}, which table {table} does not have")


def _port_in(port: int, spec: str) -> bool:
    low, _, high = spec.partition(":")
    return int(low) <= port <= int(high or low)


def _in(addr: str, cidr: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)


def _in_set(t: Tables, name: str, flags: str, s: State) -> bool:
    """``-m set --match-set NAME dst,dst``: the packet's fields, in the order the set's type
    names them (ip, port, net), against each member."""
    if name not in t.sets:
        raise TraceError(f"a rule matches ipset {name}, which the node does not have")
    kind, members = t.sets[name]
    parts = kind.split(":", 1)[1].split(",")
    for member in members:
        fields = member.split(",")
        if len(fields) != len(parts):
            continue
        if all(_field_matches(part, flag, value, s)
               for part, flag, value in zip(parts, flags.split(","), fields, strict=False)):
            return True
    return False


def _field_matches(part: str, flag: str, value: str, s: State) -> bool:
    if part in ("ip", "net"):
        return _in(s.daddr if flag == "dst" else s.pkt.src, value)
    if part == "port":
        port = s.dport if flag == "dst" else None
        if port is None:
            return False
        proto, _, number = value.rpartition(":")
        return int(number) == port and (not proto or proto == s.pkt.proto)
    return False

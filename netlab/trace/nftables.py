"""Walk a new connection through kube-proxy's ``ip kube-proxy`` table, as the kernel would.

Pure: the ruleset is text, either an nft transaction as netlab writes it (``add rule ip
kube-proxy CHAIN ...``, ``add element ...``) or the listing ``nft list table ip kube-proxy``
prints (blocks, ``elements = { ... }``, ``meta mark | 0x00004000``). The walk follows the hooks
in their priority order for a packet arriving at the node (prerouting, then input or forward,
then postrouting) or sent by the node itself (output, postrouting). A ``numgen`` verdict map
forks the walk: every endpoint comes out with its odds. Reference: kube-proxy's
``pkg/proxy/nftables/helpers_test.go`` (tracePacket), which walks its rules the same way.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
from dataclasses import dataclass, field

from netlab.proxy.nftables import TABLE
from netlab.trace import iptables
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

__all__ = ["Packet", "Path", "Ruleset", "TraceError", "parse", "trace"]
# a verdict map looked up by fields of the packet: ip daddr . meta l4proto . th dport vmap @m
VMAP_LOOKUP = re.compile(r"((?:ip daddr|ip saddr|meta l4proto)(?: \. (?:meta l4proto|th dport))*)"
                         r" vmap @(\S+)")
# base chains in the order a packet meets them (their priorities); a pair names a base chain
# of iptables (the pod network's own rules), which hooks in at the same priority as the
# kube-proxy chain before it: the kernel runs the one registered last first, the walk runs
# kube-proxy's first (which matters only when a hostPort is also a NodePort)
Base = str | tuple[str, str]
PREROUTING: tuple[Base, ...] = ("filter-prerouting-pre-dnat", "nat-prerouting",
                                ("nat", "PREROUTING"))
OUTPUT: tuple[Base, ...] = ("filter-output-pre-dnat", "nat-output", ("nat", "OUTPUT"),
                            "filter-output", ("filter", "OUTPUT"))
INPUT: tuple[Base, ...] = ("filter-input", ("filter", "INPUT"))
FORWARD: tuple[Base, ...] = ("filter-forward", ("filter", "FORWARD"))
POSTROUTING: tuple[Base, ...] = ("nat-postrouting", ("nat", "POSTROUTING"))
TERMINAL = ("accept", "drop", "reject")


@dataclass
class Ruleset:
    chains: dict[str, list[str]] = field(default_factory=dict)
    elements: dict[str, dict[str, str]] = field(default_factory=dict)  # set/map: key -> verdict


def parse(text: str) -> Ruleset:
    """A Ruleset from an nft transaction or an ``nft list table`` listing."""
    rs = Ruleset()
    if re.search(r"^\s*table \S+ \S+ \{", text, re.M):
        return _parse_listing(text, rs)
    prefix = f"add rule {TABLE} "
    for line in text.splitlines():
        if line.startswith(prefix):
            chain, _, rule = line[len(prefix):].partition(" ")
            rs.chains.setdefault(chain, []).append(rule)
        elif line.startswith((f"add chain {TABLE} ", f"flush chain {TABLE} ")):
            chain = line.split()[4]
            rs.chains.setdefault(chain, [])
            if line.startswith("flush"):
                rs.chains[chain] = []
        elif line.startswith(f"delete chain {TABLE} "):
            rs.chains.pop(line.split()[4], None)
        elif line.startswith((f"add element {TABLE} ", f"delete element {TABLE} ")):
            words = line.split(" ", 5)
            container, body = words[4], words[5].strip().strip("{}")
            for key, verdict in _elements(body):
                if line.startswith("add"):
                    rs.elements.setdefault(container, {})[key] = verdict
                else:
                    rs.elements.get(container, {}).pop(key, None)
        elif line.startswith((f"add map {TABLE} ", f"add set {TABLE} ")):
            rs.elements.setdefault(line.split()[4], {})
    return rs


def _elements(body: str) -> list[tuple[str, str]]:
    """``k1 comment "c" : v1, k2 : v2`` -> [(k1, v1), (k2, v2)]."""
    out = []
    for item in _split_top(body, ","):
        item = re.sub(r'\s+comment\s+"[^"]*"', "", item.strip())
        if not item:
            continue
        key, _, verdict = item.partition(" : ")
        out.append((" ".join(key.split()), verdict.strip()))
    return out


def _split_top(text: str, sep: str) -> list[str]:
    """Split TEXT at SEP outside braces and quotes."""
    out, depth, quoted, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "{":
            depth += 1
        elif not quoted and ch == "}":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _parse_listing(text: str, rs: Ruleset) -> Ruleset:
    block, name, collecting = "", "", None
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"(chain|map|set) (\S+) \{$", line)
        if m:
            block, name = m.groups()
            if block == "chain":
                rs.chains[name] = []
            else:
                rs.elements[name] = {}
            continue
        if collecting is not None:
            collecting.append(line)
            if line.endswith("}"):
                body = " ".join(collecting)
                body = body[body.index("{") + 1:body.rindex("}")]
                rs.elements[name].update(_elements(body))
                collecting = None
            continue
        if line.startswith("elements = {"):
            collecting = [line]
            if line.endswith("}"):
                rs.elements[name].update(_elements(line[line.index("{") + 1:-1]))
                collecting = None
            continue
        if block == "chain" and line and line != "}" and not line.startswith(
                ("type ", "comment ", "policy ")):
            rs.chains[name].append(line)
        if line == "}":
            block = ""
    return rs


def trace(rs: Ruleset, pkt: Packet, node_ips: frozenset[str] | set[str],
          cni: iptables.Tables | None = None) -> list[Path]:
    """Every way a new connection PKT goes through the node, each with its odds. CNI: the
    node's iptables rules (the pod network's masquerade and hostPorts), walked at their hooks
    beside kube-proxy's table."""
    start = State(pkt, frozenset(node_ips))
    paths: list[Path] = []
    for state, verdict in _hooks(rs, cni, start, OUTPUT if pkt.local else PREROUTING):
        if verdict != "accept":
            paths.append(state.path(verdict))
            continue
        # delivered to the node itself: the input hook, and no postrouting
        if not pkt.local and state.daddr in state.node_ips:
            paths += [s2.path(v2) for s2, v2 in _hooks(rs, cni, state, INPUT)]
            continue
        after = [(state, "accept")] if pkt.local else _hooks(rs, cni, state, FORWARD)
        for s2, v2 in after:
            if v2 != "accept":
                paths.append(s2.path(v2))
                continue
            paths += [s3.path(v3) for s3, v3 in _hooks(rs, cni, s2, POSTROUTING)]
    return paths


def _hooks(rs: Ruleset, cni: iptables.Tables | None, state: State,
           chains: tuple[Base, ...]) -> Result:
    return through_hooks(state, chains, lambda chain, s: _base(rs, cni, chain, s))


def _base(rs: Ruleset, cni: iptables.Tables | None, chain: Base, s: State) -> Result | None:
    if isinstance(chain, str):
        return _run(rs, chain, s, 0) if chain in rs.chains else None
    table, name = chain
    if cni is None or (table == "nat" and (s.masquerade if name == "POSTROUTING" else s.dnat)):
        return None  # once a nat chain has mapped the connection, the kernel runs no other
    return iptables.hook(cni, table, name, s)


def _run(rs: Ruleset, chain: str, state: State, depth: int) -> Result:
    if chain not in rs.chains:
        raise TraceError(f"a rule jumps to chain {chain}, which the table does not have")
    return run_rules(chain, rs.chains[chain], depth, state,
                     lambda rule, s: _rule(rs, chain, rule, s, depth))


def _rule(rs: Ruleset, chain: str, rule: str, s: State, depth: int) -> list[tuple[State, str]]:
    """Apply RULE to S: a list of (state, outcome); outcome is "next" (go on with the next
    rule), "return" (leave the chain), or a terminal verdict."""
    words = shlex.split(re.sub(r'\s+comment\s+"[^"]*"$', "", rule), posix=False)
    i = 0
    matched: list[str] = []
    while i < len(words):
        w = words[i]
        rest = " ".join(words[i:])
        if rest.startswith("ct state new"):
            i += 3
        elif w == "numgen":
            m = re.match(r"numgen random mod (\d+) vmap \{(.*)\}$", rest)
            if not m:
                raise TraceError(f"{chain}: cannot read {rule!r}")
            n, branches = int(m.group(1)), _elements(m.group(2))
            out = []
            for key, verdict in branches:
                forked = s.fork(1 / n).hop(
                    chain, rule, f"numgen picked {key} of {n}")
                out += _verdict(rs, verdict, forked, depth)
            return out
        elif m := VMAP_LOOKUP.match(rest):
            key = _key(m.group(1), s)
            verdict = rs.elements.get(m.group(2), {}).get(key)
            if verdict is None:
                return [(s, "next")]
            return _verdict(rs, verdict, s.hop(chain, rule, f"{m.group(2)}[{key}]"), depth)
        elif w == "ip" and words[i + 1] in ("saddr", "daddr"):
            value = s.pkt.src if words[i + 1] == "saddr" else s.daddr
            negate = words[i + 2] == "!="
            j = i + 3 if negate else i + 2
            target, j = _operand(words, j)
            hit = _in(rs, value, target)
            if hit == negate:
                return [(s, "next")]
            matched.append(" ".join(words[i:j]))
            i = j
        elif rest.startswith("fib saddr type local"):
            if s.pkt.src not in s.node_ips and not s.pkt.local:
                return [(s, "next")]
            i += 4
        elif rest.startswith("fib daddr type local"):
            if s.daddr not in s.node_ips:
                return [(s, "next")]
            i += 4
        elif re.match(r"(meta )?mark (and|&) 0x0*4000 == 0(x0+)?\b", rest):
            if s.mark & MASQ_BIT:
                return [(s, "next")]
            i += 6 if w == "meta" else 5
        elif re.match(r"(meta )?mark set (meta )?mark (or|\|) 0x0*4000", rest):
            s = dataclasses.replace(s, mark=s.mark | MASQ_BIT).hop(chain, rule)
            return [(s, "next")]
        elif re.match(r"(meta )?mark set (meta )?mark (xor|\^) 0x0*4000", rest):
            s = dataclasses.replace(s, mark=s.mark ^ MASQ_BIT)
            return [(s, "next")]
        elif w == "masquerade":
            return [(dataclasses.replace(s, masquerade=True).hop(chain, rule), "accept")]
        elif w == "update":  # ClientIP affinity remembers the source: no effect on this packet
            return [(s, "next")]
        elif rest.startswith("meta l4proto") and " dnat to " in rest:
            m = re.match(r"meta l4proto (\S+) dnat (?:ip )?to (\S+)", rest)
            if m.group(1) != s.pkt.proto:
                return [(s, "next")]
            return [(dataclasses.replace(s, dnat=m.group(2)).hop(chain, rule), "accept")]
        elif w in ("jump", "goto", "return", "accept", "drop", "reject"):
            note = ", ".join(matched)
            return _verdict(rs, rest, s.hop(chain, rule, note), depth)
        else:
            raise TraceError(f"{chain}: the walker cannot read {rule!r} (at {w!r})")
    return [(s, "next")]


def _verdict(rs: Ruleset, verdict: str, s: State, depth: int) -> list[tuple[State, str]]:
    kind, _, target = verdict.partition(" ")
    if kind in TERMINAL:
        return [(s, kind)]
    if kind == "return":
        return [(s, "return")]
    if kind not in ("jump", "goto"):
        raise TraceError(f"unknown verdict {verdict!r}")
    out = []
    for s2, v in _run(rs, target, s, depth + 1):
        if v:
            out.append((s2, v))
        else:  # the called chain ended: a jump goes on, a goto leaves this chain too
            out.append((s2, "next" if kind == "jump" else "return"))
    return out


def _operand(words: list[str], j: int) -> tuple[str, int]:
    if words[j] == "{":
        end = words.index("}", j)
        return " ".join(words[j:end + 1]), end + 1
    return words[j], j + 1


def _key(spec: str, s: State) -> str:
    values = {"ip daddr": s.daddr, "ip saddr": s.pkt.src, "meta l4proto": s.pkt.proto,
              "th dport": str(s.dport)}
    return " . ".join(values[" ".join(part.split())] for part in spec.split(" . "))


def _in(rs: Ruleset, value: str, target: str) -> bool:
    if target.startswith("@"):
        items = list(rs.elements.get(target[1:], {}))
    elif target.startswith("{"):
        items = [x.strip() for x in target.strip("{} ").split(",")]
    else:
        items = [target]
    addr = ipaddress.ip_address(value)
    return any(addr in ipaddress.ip_network(x, strict=False) for x in items if x)

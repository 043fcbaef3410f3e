"""What a packet walker answers, whatever the proxy mode: the packet, and every path it can
take through one node, each with its odds, the rules it met and what became of it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from netlab.proxy.core import MASQ_MARK

MASQ_BIT = int(MASQ_MARK, 16)
R = TypeVar("R")  # a rule, as a walker holds it
C = TypeVar("C")  # a base chain, as a walker names it


class TraceError(ValueError):
    """The rules hold something the walker does not understand (said with the rule)."""


@dataclass(frozen=True)
class Packet:
    """The first packet of a new connection, as it reaches the node."""

    src: str
    dst: str
    dport: int
    proto: str = "tcp"
    local: bool = False  # sent by the node itself (the output hook), not arriving at it
    bridged: bool = False  # arrived through a port of the node's bridge (from a local pod)


@dataclass(frozen=True)
class Hop:
    chain: str  # a chain, or "IPVS" for the virtual server's choice
    rule: str
    note: str = ""
    table: str = ""  # iptables' nat or filter ("" in nftables mode: all in ip kube-proxy)


@dataclass(frozen=True)
class Path:
    """One way the packet goes, with its odds."""

    odds: float
    hops: tuple[Hop, ...]
    verdict: str  # accept, drop or reject (return: it left the chain a test started in)
    dnat: str = ""  # ip:port, when a rule rewrote the destination
    masquerade: bool = False  # its source is rewritten to the node's address on the way out
    marked: bool = False  # it carries kube-proxy's masquerade mark (0x4000)

    @property
    def why_masqueraded(self) -> str:
        """The rule that asked for it: kube-proxy's mark (KUBE-MARK-MASQ, mark-for-masquerade)
        or a masquerade rule of its own (the CNI's), with the rule's comment when it has one."""
        if not self.masquerade:
            return ""
        marks = [h for h in self.hops if h.rule.endswith(("-j KUBE-MARK-MASQ",
                                                            "jump mark-for-masquerade"))
                 or "jump mark-for-masquerade comment" in h.rule]
        own = [h for h in self.hops if "MASQUERADE" in h.rule or h.rule.startswith("masq")]
        h = (marks or own or [None])[0]
        if h is None:
            return ""
        cond = re.sub(r'(-m comment )?--comment ("[^"]*"|\S+)|comment "[^"]*"', "",
                      h.rule.split(" -j ")[0]).strip()
        cond = "" if cond.startswith(("jump ", "-j ", "masquerade")) else \
            " ".join(cond.split(" jump ")[0].split())
        if set(cond.split()) <= set(h.note.replace(",", " ").split()):
            cond = ""  # the walker's note already names the matches (nftables)
        said = ", ".join(x for x in (h.note, cond) if x) or "every packet reaching it"
        return f"{h.chain}: {said}"

    def to_json(self) -> dict:
        return {"odds": round(self.odds, 6), "verdict": self.verdict, "dnat": self.dnat,
                "masquerade": self.masquerade, "whyMasqueraded": self.why_masqueraded,
                "hops": [dataclasses.asdict(h) for h in self.hops]}


@dataclass(frozen=True)
class State:
    """A packet part way through the node: where a walker is, forked at each random choice."""

    pkt: Packet
    node_ips: frozenset[str]
    odds: float = 1.0
    hops: tuple[Hop, ...] = ()
    dnat: str = ""
    mark: int = 0
    masquerade: bool = False

    def hop(self, chain: str, rule: str, note: str = "", table: str = "") -> State:
        return dataclasses.replace(self, hops=self.hops + (Hop(chain, rule, note, table),))

    def fork(self, odds: float) -> State:
        return dataclasses.replace(self, odds=self.odds * odds)

    @property
    def daddr(self) -> str:
        return self.dnat.rsplit(":", 1)[0] if self.dnat else self.pkt.dst

    @property
    def dport(self) -> int:
        return int(self.dnat.rsplit(":", 1)[1]) if self.dnat else self.pkt.dport

    def path(self, verdict: str) -> Path:
        return Path(self.odds, self.hops, verdict, self.dnat, self.masquerade,
                    bool(self.mark & MASQ_BIT))


# what running a chain gives: (state, "" when it fell off the end or returned, else a verdict)
Result = list[tuple[State, str]]
MAX_DEPTH = 32


def run_rules(chain: str, rules: Iterable[R], depth: int, state: State,
              apply: Callable[[R, State], list[tuple[State, str]]]) -> Result:
    """Run STATE through RULES in order, forking where APPLY forks: APPLY answers (state,
    outcome) pairs, outcome "next" (on to the next rule), "return" (leave the chain) or a
    terminal verdict. Both walkers run their chains so."""
    if depth > MAX_DEPTH:
        raise TraceError(f"chain {chain}: jumps nested too deep (a loop?)")
    pending: Result = [(state, "")]
    done: Result = []
    for rule in rules:
        nxt: Result = []
        for s, _ in pending:
            for s2, outcome in apply(rule, s):
                if outcome == "next":
                    nxt.append((s2, ""))
                else:
                    done.append((s2, "" if outcome == "return" else outcome))
        pending = nxt
        if not pending:
            break
    return done + pending


def through_hooks(state: State, chains: Iterable[C],
                  run: Callable[[C, State], Result]) -> Result:
    """STATE through base CHAINS in their order (RUN gives None for a chain the node lacks);
    a packet falling off a base chain meets its policy, accept."""
    results: Result = [(state, "accept")]
    for chain in chains:
        nxt: Result = []
        for s, v in results:
            ran = run(chain, s) if v == "accept" else None
            nxt += [(s, v)] if ran is None else [(s2, v2 or "accept") for s2, v2 in ran]
        results = nxt
    return results


def merged(paths: list[Path]) -> list[Path]:
    """Paths that end alike (same hops, verdict, destination) added up."""
    out: dict[tuple, Path] = {}
    for p in paths:
        key = (p.hops, p.verdict, p.dnat, p.masquerade, p.marked)
        out[key] = dataclasses.replace(p, odds=out[key].odds + p.odds) if key in out else p
    return list(out.values())

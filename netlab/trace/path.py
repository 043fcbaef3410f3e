"""What a packet walker answers, whatever the proxy mode: the packet, and every path it can
take through one node, each with its odds, the rules it met and what became of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from netlab.proxy.core import MASQ_MARK

MASQ_BIT = int(MASQ_MARK, 16)


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

    def to_json(self) -> dict:
        return {"odds": round(self.odds, 6), "verdict": self.verdict, "dnat": self.dnat,
                "masquerade": self.masquerade,
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


def merged(paths: list[Path]) -> list[Path]:
    """Paths that end alike (same hops, verdict, destination) added up."""
    out: dict[tuple, Path] = {}
    for p in paths:
        key = (p.hops, p.verdict, p.dnat, p.masquerade, p.marked)
        out[key] = dataclasses.replace(p, odds=out[key].odds + p.odds) if key in out else p
    return list(out.values())

"""Plain data of ``netlab trace``'s reads: a route the kernel takes, the connection traced."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    dev: str
    gateway: str = ""
    prefsrc: str = ""

    def to(self, dst: str) -> str:
        """As ``ip route get DST`` says it."""
        return f"{dst} via {self.gateway} dev {self.dev}" if self.gateway else \
            f"{dst} dev {self.dev}"


@dataclass(frozen=True)
class TraceMatch:
    """The packets to trace: one connection's, by addresses and port."""

    src: str
    dst: str
    dport: int
    proto: str = "tcp"

"""A sync as a value: what one node's proxy rules need from the kernel, decided purely by
``proxy/`` and applied by ``kernel/`` in one step per kind. Also what a sync leaves behind
(``NodeSyncState``), saved so that a restarted controller can go on with partial syncs."""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[str, int, str]  # (address, port, TCP|UDP): one IPVS virtual server


@dataclass(frozen=True)
class VirtualServer:
    address: str
    port: int
    protocol: str  # TCP | UDP
    scheduler: str
    persistent_s: int  # sessionAffinity ClientIP timeout; 0 = none
    real_servers: tuple[tuple[str, int], ...]  # masquerade, weight 1
    spn: str = ""
    service: str = ""  # namespace/name, the unit of change for partial syncs

    @property
    def key(self) -> Key:
        return self.address, self.port, self.protocol


@dataclass(frozen=True)
class IpvsOp:
    """One IPVS change: add/set/del a virtual service, add/del one of its real servers."""

    action: str  # add-service | set-service | del-service | add-dest | del-dest
    address: str
    port: int
    protocol: str
    scheduler: str = ""
    persistent_s: int = 0
    dest: tuple[str, int] = ("", 0)

    @property
    def key(self) -> Key:
        return self.address, self.port, self.protocol

    def __str__(self) -> str:
        what = f"{self.protocol} {self.address}:{self.port}"
        if self.action.endswith("dest"):
            return f"{self.action} {what} -> {self.dest[0]}:{self.dest[1]}"
        extra = f" {self.scheduler}" + (f" persistent {self.persistent_s}"
                                        if self.persistent_s else "")
        return f"{self.action} {what}" + ("" if self.action == "del-service" else extra)


@dataclass(frozen=True)
class NodeSync:
    """Everything one sync asks of one node, in the order it is applied."""

    node: str
    netns: str
    full: bool
    ipset: str = ""  # an `ipset restore` transaction ("": nothing to change)
    iptables: str = ""  # an iptables-restore input ("": the tables stay as they are)
    noflush: bool = True  # a partial sync keeps the chains it does not name
    addresses: tuple[str, ...] | None = None  # kube-ipvs0's addresses (None: not IPVS mode)
    ipvs: tuple[IpvsOp, ...] = ()
    conntrack: tuple[tuple[str, int, str], ...] = ()  # stale UDP: (service IP, node port, ep)
    nft: str = ""  # an nft -f transaction (nftables mode)
    nft_cleanup: str = ""  # run before it, on its own: stale chains an earlier sync flushed

    def describe(self) -> str:
        """The sync as text, for `netlab steps`, debugging and tests."""
        out = [f"# node {self.node}: {'full' if self.full else 'partial'} sync"]
        if self.ipset:
            out += ["## ipset restore", self.ipset.rstrip("\n")]
        if self.iptables:
            out += [f"## iptables-restore{' --noflush' if self.noflush else ''}",
                    self.iptables.rstrip("\n")]
        if self.nft_cleanup:
            out += ["## nft -f (cleanup)", self.nft_cleanup.rstrip("\n")]
        if self.nft:
            out += ["## nft -f", self.nft.rstrip("\n")]
        if self.addresses is not None:
            out += ["## kube-ipvs0 addresses", " ".join(self.addresses) or "(none)"]
        if self.ipvs:
            out += ["## ipvs", *map(str, self.ipvs)]
        if self.conntrack:
            out += ["## conntrack -D (stale UDP)",
                    *(f"{ip} {port or ''} -> {ep}".replace("  ", " ")
                      for ip, port, ep in self.conntrack)]
        return "\n".join(out) + "\n"


@dataclass
class NodeSyncState:
    """What the last sync left in one node."""

    chains: tuple[str, ...] = ()  # the service chains the node holds (iptables mode)
    top_digest: str = ""  # fingerprint of the top-level chains as last written
    portmap: str = ""  # fingerprint of the portmap plugin's hostPort rules as last written
    ipsets: dict[str, tuple[str, ...]] | None = None  # the sets' entries (IPVS mode)
    ipvs_keys: dict[str, tuple[Key, ...]] = field(default_factory=dict)  # service -> its VSs
    # nftables mode: per service, its chains, affinity sets and map elements in the table
    nft_owned: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] | None = None
    nft_stale: tuple[str, ...] = ()  # chains flushed by the last sync, deleted by the next

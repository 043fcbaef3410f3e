"""MetalLB's layer-2 speaker, one per node: answers ARP requests on the node's lab network
interface for the LoadBalancer addresses this node announces, with the node's MAC, as
MetalLB's speaker does with a raw socket; sends gratuitous ARP for an address it takes over.

Which addresses are this node's comes from the lab's saved state (re-read when it changes),
through the pure election in ``lb/allocate.py``, so every speaker agrees without talking.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import time

from netlab.state.watch import StateWatch

log = logging.getLogger("netlab.speaker")
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
RECHECK_S = 0.2
GRATUITOUS = 3  # gratuitous ARPs sent for an address this node takes over


def arp_frame(op: int, src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str,
              eth_dst: bytes) -> bytes:
    """An Ethernet frame holding an ARP request (op 1) or reply (op 2)."""
    eth = eth_dst + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, src_mac,
                      socket.inet_aton(src_ip), dst_mac, socket.inet_aton(dst_ip))
    return eth + arp


def parse_request(frame: bytes) -> tuple[bytes, str, str] | None:
    """(sender MAC, sender IP, target IP) of an ARP request, None for anything else."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    _ht, _pt, _hl, _pl, op, sha, spa, _tha, tpa = struct.unpack("!HHBBH6s4s6s4s",
                                                                 frame[14:42])
    if op != 1:
        return None
    return sha, socket.inet_ntoa(spa), socket.inet_ntoa(tpa)


class Announcer:
    """This node's addresses, from the saved state (when it changed)."""

    def __init__(self, state_path: str, node: str) -> None:
        self.watch, self.node = StateWatch(state_path), node
        self.mine: set[str] = set()

    def refresh(self) -> set[str]:
        """The addresses newly this node's."""
        from netlab.lb.allocate import assignments
        from netlab.model import LabPlan
        from netlab.model.codec import from_data

        state = self.watch.changed()
        if state is None:
            return set()
        plan = from_data(LabPlan, state["plan"])
        down = frozenset(state.get("nodes_down") or ())
        mine = {ip for ip, node in assignments(plan, down).items() if node == self.node}
        new = mine - self.mine
        if mine != self.mine:
            log.info("node %s announces %s", self.node, ", ".join(sorted(mine)) or "nothing")
        self.mine = mine
        return new


def bind(state_path: str, node: str, iface: str = "eth0") -> tuple[socket.socket, Announcer]:
    """The raw socket on IFACE (in the node's network namespace), and what to announce."""
    import netlab.lb.allocate  # noqa: F401  (loaded while the host's files are visible)
    import netlab.model.codec  # noqa: F401
    import netlab.plan.workloads  # noqa: F401

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((iface, ETH_P_ARP))
    announcer = Announcer(state_path, node)
    announcer.refresh()
    return sock, announcer


def serve(sock: socket.socket, announcer: Announcer) -> None:
    mac = sock.getsockname()[4]
    next_check = 0.0
    for ip in announcer.mine:
        _gratuitous(sock, mac, ip)
    while True:
        now = time.monotonic()
        if now >= next_check:
            next_check = now + RECHECK_S
            try:
                for ip in announcer.refresh():
                    _gratuitous(sock, mac, ip)
            except (OSError, ValueError, KeyError) as exc:  # a state being rewritten
                log.warning("cannot read the lab's state: %s", exc)
                announcer.watch.forget()
        ready, _, _ = select.select([sock], [], [], RECHECK_S)
        if not ready:
            continue
        frame = sock.recv(2048)
        req = parse_request(frame)
        if req is None:
            continue
        sha, spa, tpa = req
        if tpa in announcer.mine:
            sock.send(arp_frame(2, mac, tpa, sha, spa, sha))


def _gratuitous(sock: socket.socket, mac: bytes, ip: str) -> None:
    """Gratuitous ARP (a broadcast reply and request for IP from this MAC), so neighbours
    update their caches at once after a failover."""
    for _ in range(GRATUITOUS):
        sock.send(arp_frame(2, mac, ip, BROADCAST, ip, BROADCAST))
        sock.send(arp_frame(1, mac, ip, b"\x00" * 6, ip, BROADCAST))

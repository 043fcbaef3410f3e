"""IPVS virtual servers in a node's namespace, over generic netlink (pyroute2's IPVS).

Two operations only: read the table (all of it, or some virtual servers) and apply a list of
changes. What to change is decided by the proxy layer (``proxy/ipvs.py`` ``diff``). pyroute2
sockets stay in the namespace worker's thread, which is in the node's namespace for the whole
job.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

from netlab.kernel.ns import WORKER
from netlab.model.sync import IpvsOp, Key, VirtualServer

PROTOCOLS = {"TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP, "SCTP": 132}
IP_VS_SVC_F_PERSISTENT = 0x0001
MASQUERADE = 0  # IP_VS_CONN_F_MASQ


def _service(address: str, port: int, protocol: str, scheduler: str = "",
             persistent_s: int = 0):
    from pyroute2 import IPVSService

    if not scheduler:
        return IPVSService(addr=address, port=port, protocol=PROTOCOLS[protocol])
    flags = IP_VS_SVC_F_PERSISTENT if persistent_s else 0
    return IPVSService(addr=address, port=port, protocol=PROTOCOLS[protocol],
                       sched_name=scheduler, timeout=persistent_s,
                       flags={"flags": flags, "mask": 0xFFFF})


def dump(netns: str, keys: Iterable[Key] | None = None) -> dict[Key, VirtualServer]:
    """The virtual servers of NETNS (or only those of KEYS that exist)."""
    wanted = None if keys is None else list(keys)

    def job() -> dict[Key, VirtualServer]:
        from pyroute2 import IPVS, IPVSDest, IPVSService
        from pyroute2.netlink.exceptions import NetlinkError

        by_proto = {v: k for k, v in PROTOCOLS.items()}
        out: dict[Key, VirtualServer] = {}
        with IPVS() as ipvs:
            if wanted is None:
                services = [IPVSService.from_message(m) for m in ipvs.service("dump")]
            else:
                services = []
                for key in wanted:
                    try:
                        services += [IPVSService.from_message(m) for m in
                                     ipvs.service("get", service=_service(*key))]
                    except NetlinkError:  # not there
                        continue
            for svc in services:
                reals = tuple(sorted((d["addr"], d["port"]) for d in (
                    IPVSDest.from_message(m) for m in ipvs.dest("dump", service=svc))))
                vs = VirtualServer(svc["addr"], svc["port"],
                                   by_proto.get(svc["protocol"], "?"),
                                   svc.get("sched_name") or "", svc.get("timeout") or 0, reals)
                out[vs.key] = vs
        return out

    return WORKER.call_in(netns, job)


def apply(netns: str, ops: Sequence[IpvsOp]) -> None:
    """Apply OPS in order inside NETNS."""
    if not ops:
        return

    def job() -> None:
        from pyroute2 import IPVS, IPVSDest

        with IPVS() as ipvs:
            for op in ops:
                svc = _service(op.address, op.port, op.protocol, op.scheduler, op.persistent_s)
                if op.action == "add-service":
                    ipvs.service("add", service=svc)
                elif op.action == "set-service":
                    ipvs.service("set", service=svc)
                elif op.action == "del-service":
                    ipvs.service("del", service=svc)
                elif op.action == "add-dest":
                    ipvs.dest("add", service=svc, dest=IPVSDest(
                        addr=op.dest[0], port=op.dest[1], fwd_method=MASQUERADE, weight=1))
                elif op.action == "del-dest":
                    ipvs.dest("del", service=svc,
                              dest=IPVSDest(addr=op.dest[0], port=op.dest[1]))
                else:
                    raise ValueError(f"unknown IPVS operation {op.action}")

    WORKER.call_in(netns, job)

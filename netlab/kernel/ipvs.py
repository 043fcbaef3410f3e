"""IPVS virtual servers in a node's namespace, over generic netlink (pyroute2's IPVS).

The table is made to match what the renderer decided: services are added, changed or removed
and real servers added or removed, so a changed endpoint touches only its virtual service.
pyroute2 sockets stay in the namespace worker's thread, which is in the node's namespace for
the whole job.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from netlab.kernel.ns import WORKER
from netlab.proxy.ipvs import VirtualServer

PROTOCOLS = {"TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP}
IP_VS_SVC_F_PERSISTENT = 0x0001
MASQUERADE = 0  # IP_VS_CONN_F_MASQ


def _service(vs: VirtualServer):
    from pyroute2 import IPVSService

    flags = IP_VS_SVC_F_PERSISTENT if vs.persistent_s else 0
    return IPVSService(addr=vs.address, port=vs.port, protocol=PROTOCOLS[vs.protocol],
                       sched_name=vs.scheduler, timeout=vs.persistent_s,
                       flags={"flags": flags, "mask": 0xFFFF})


def sync(netns: str, desired: Sequence[VirtualServer],
         only: dict[tuple[str, int, str], VirtualServer | None] | None = None) -> dict[str, int]:
    """Make NETNS's IPVS table hold exactly DESIRED. Returns counts of what changed.

    ONLY (a partial sync) names the virtual servers to look at, each with what it should be
    (None: remove it); the rest of the table is neither read nor touched."""

    def job() -> dict[str, int]:
        from pyroute2 import IPVS, IPVSDest, IPVSService
        from pyroute2.netlink.exceptions import NetlinkError

        counts = {"services": 0, "servers": 0, "removed": 0}
        by_proto = {v: k for k, v in PROTOCOLS.items()}
        with IPVS() as ipvs:
            current = {}
            if only is None:
                services = [IPVSService.from_message(m) for m in ipvs.service("dump")]
            else:
                services = []
                for key in only:
                    probe = IPVSService(addr=key[0], port=key[1], protocol=PROTOCOLS[key[2]])
                    try:
                        services += [IPVSService.from_message(m)
                                     for m in ipvs.service("get", service=probe)]
                    except NetlinkError:  # not there yet
                        continue
            for svc in services:
                key = (svc["addr"], svc["port"], by_proto.get(svc["protocol"], "?"))
                dests = {(d["addr"], d["port"]) for d in
                         (IPVSDest.from_message(m) for m in ipvs.dest("dump", service=svc))}
                current[key] = (svc, dests)
            if only is not None:
                desired_now = [vs for vs in only.values() if vs is not None]
            else:
                desired_now = list(desired)
            wanted_keys = set()
            for vs in desired_now:
                wanted_keys.add(vs.key)
                svc = _service(vs)
                have: set = set()
                if vs.key not in current:
                    ipvs.service("add", service=svc)
                    counts["services"] += 1
                else:
                    old, have = current[vs.key]
                    if old.get("sched_name") != vs.scheduler or \
                            old.get("timeout", 0) != vs.persistent_s:
                        ipvs.service("set", service=svc)
                        counts["services"] += 1
                wanted = set(vs.real_servers)
                for addr, port in sorted(wanted - have):
                    ipvs.dest("add", service=svc, dest=IPVSDest(
                        addr=addr, port=port, fwd_method=MASQUERADE, weight=1))
                    counts["servers"] += 1
                for addr, port in sorted(have - wanted):
                    ipvs.dest("del", service=svc, dest=IPVSDest(addr=addr, port=port))
                    counts["servers"] += 1
            stale = set(current) - wanted_keys
            if only is not None:
                stale &= {k for k, vs in only.items() if vs is None}
            for key in stale:
                ipvs.service("del", service=current[key][0])
                counts["removed"] += 1
        return counts

    return WORKER.call_in(netns, job)

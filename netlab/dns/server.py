"""The cluster DNS server: answers from the lab's zone over UDP and TCP port 53.

It runs as a pod (``kube-system/coredns-...``, the built-in ``dns`` app) behind the ``kube-dns``
Service, and rebuilds its zone whenever the lab's saved state changes, so it follows the
controller's live view (endpoints, readiness, applied changes). dnspython does the wire format.
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from netlab.dns.zone import TTL, Zone, build_zone
from netlab.model import LabPlan
from netlab.model.codec import from_data
from netlab.state.watch import StateWatch

RECHECK_S = 0.2


class ZoneSource:
    """The zone, rebuilt when the lab's state file changes (checked at most every 0.2 s)."""

    def __init__(self, state_path: str) -> None:
        self.watch = StateWatch(state_path)
        self.lock = threading.Lock()
        self.zone: Zone | None = None
        self.checked = 0.0

    def get(self) -> Zone:
        with self.lock:
            now = time.monotonic()
            if self.zone is None or now - self.checked > RECHECK_S:
                self.checked = now
                state = self.watch.changed()
                if state is not None:
                    self.zone = build_zone(from_data(LabPlan, state["plan"]))
            return self.zone  # type: ignore[return-value]


CACHE_ENTRIES = 20000


def answer(zone: Zone, wire: bytes) -> bytes:
    """The response to the query WIRE. Queries that differ only in their ID share an answer,
    cached with the zone (a new zone, after any change in the lab, starts an empty cache)."""
    key = wire[2:]
    cached = zone.cache.get(key)
    if cached is not None:
        return wire[:2] + cached
    out = _answer(zone, wire)
    if len(zone.cache) < CACHE_ENTRIES:
        zone.cache[key] = out[2:]
    return out


def _answer(zone: Zone, wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    q = query.question[0]
    name = q.name.to_text()
    rtype = dns.rdatatype.to_text(q.rdtype)
    rcode, records = zone.lookup(name, rtype)
    if zone.in_cluster(name.lower()):
        response.flags |= dns.flags.AA
    for owner, rt, rdata in records:
        response.answer.append(dns.rrset.from_text(owner, TTL, "IN", rt, rdata))
    if rcode != "NOERROR" or not records:
        soa = zone.records.get((zone.domain, "SOA"))
        if soa and zone.in_cluster(name.lower()):
            response.authority.append(dns.rrset.from_text(zone.domain, TTL, "IN", "SOA", soa[0]))
    response.set_rcode(dns.rcode.from_text(rcode))
    return response.to_wire()


def warm_up() -> None:
    """Load dnspython's record classes now: it imports them on first use, and a sandboxed
    server cannot (netlab's packages may live where the container does not see, /tmp for
    one); a record it cannot load would be read as generic rdata and the query dropped."""
    import dns.rdata

    for rtype in ("A", "CNAME", "SRV", "PTR", "TXT", "SOA", "NS", "AAAA"):
        dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.from_text(rtype))


def bind(state_path: str, port: int = 53) -> tuple:
    """Open the UDP and TCP listeners (so the launcher can report the pod ready)."""
    warm_up()
    source = ZoneSource(state_path)
    source.get()

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            try:
                sock.sendto(answer(source.get(), data), self.client_address)
            except Exception:  # a malformed query gets no answer, as with any server
                return

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn = self.request
            conn.settimeout(5)
            try:
                while True:
                    head = conn.recv(2)
                    if len(head) < 2:
                        return
                    (size,) = struct.unpack("!H", head)
                    data = b""
                    while len(data) < size:
                        chunk = conn.recv(size - len(data))
                        if not chunk:
                            return
                        data += chunk
                    out = answer(source.get(), data)
                    conn.sendall(struct.pack("!H", len(out)) + out)
            except (OSError, ValueError):
                return

    class TcpServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    # UDP is answered in one thread: a lookup is faster than starting a thread per query
    udp = socketserver.UDPServer(("0.0.0.0", port), Udp)
    tcp = TcpServer(("0.0.0.0", port), Tcp)
    udp.zone_source = source  # a sandboxed server reads the state file at another path
    return udp, tcp


def run(udp, tcp) -> None:
    threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 3600},
                     daemon=True).start()
    udp.serve_forever(poll_interval=3600)

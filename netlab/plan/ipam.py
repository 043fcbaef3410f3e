"""Pod address allocation, the way the CNI host-local plugin does it.

Each node owns one slice (a /24 by default) of the pod CIDR; the gateway (.1) sits on the node's
bridge. Addresses are handed out in order after the last one reserved, wrapping around,
skipping those in use; a released address is not reused before the range has wrapped. The
allocator is plain data so the lab can persist it and never hand out an address twice.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


def node_subnets(pod_cidr: str, count: int, mask: int = 24) -> list[ipaddress.IPv4Network]:
    net = ipaddress.ip_network(pod_cidr)
    subnets = net.subnets(new_prefix=mask) if net.prefixlen < mask else iter([net])
    out = []
    for _ in range(count):
        out.append(next(subnets))
    return out


class RangeFull(Exception):
    pass


@dataclass
class HostLocal:
    subnet: str
    last_reserved: str = ""
    allocated: dict[str, str] = field(default_factory=dict)  # ip -> owner (ns/pod)

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def _range(self) -> tuple[int, int]:
        net = ipaddress.ip_network(self.subnet)
        return int(net.network_address) + 2, int(net.broadcast_address) - 1

    def allocate(self, owner: str) -> str:
        for ip, who in self.allocated.items():
            if who == owner:
                return ip
        start, end = self._range()
        size = end - start + 1
        last = int(ipaddress.ip_address(self.last_reserved)) if self.last_reserved else end
        for step in range(1, size + 1):
            candidate = start + ((last - start + step) % size)
            ip = str(ipaddress.ip_address(candidate))
            if ip not in self.allocated:
                self.allocated[ip] = owner
                self.last_reserved = ip
                return ip
        raise RangeFull(f"no free address left in {self.subnet}")

    def rename(self, owner: str, new: str) -> None:
        """OWNER's address is held by NEW from now on (a terminating pod's, while a pod of
        the same name may get another)."""
        for ip, who in list(self.allocated.items()):
            if who == owner:
                self.allocated[ip] = new

    def release(self, owner: str) -> None:
        for ip in [ip for ip, who in self.allocated.items() if who == owner]:
            del self.allocated[ip]

    def to_dict(self) -> dict:
        return {"subnet": self.subnet, "lastReserved": self.last_reserved,
                "allocated": dict(self.allocated)}

    @classmethod
    def from_dict(cls, d: dict) -> HostLocal:
        return cls(d["subnet"], d.get("lastReserved", ""), dict(d.get("allocated", {})))


def allocate_node_port(port_range: tuple[int, int], key: str, used: set[int]) -> int:
    """A node port for KEY (namespace/name:port/protocol), stable across runs, not in USED."""
    import hashlib

    low, high = port_range
    size = high - low + 1
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % size
    for step in range(size):
        port = low + (start + step) % size
        if port not in used:
            return port
    raise RangeFull(f"the node port range {low}-{high} is full")


def allocate_cluster_ip(service_cidr: str, key: str, used: set[str]) -> str:
    """A ClusterIP for service KEY (namespace/name), stable across runs.

    Kubernetes picks at random from the upper part of the range; netlab derives the start from
    a hash of the name so that the same scenario gets the same addresses every time. The first
    address (the ``kubernetes`` service) and the tenth (``kube-dns``) are reserved.
    """
    import hashlib

    net = ipaddress.ip_network(service_cidr)
    first = int(net.network_address)
    size = net.num_addresses
    reserved = {first, first + 1, first + 10, first + size - 1}
    # Dynamic band: the upper part of the range, as in KEP-3070.
    band_start = min(max(16, size // 16), 256) if size > 64 else 16
    band = size - band_start - 1
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % band
    for step in range(size):
        off = band_start + (start + step) % band if step < band else step % size
        candidate = first + off
        ip = str(ipaddress.ip_address(candidate))
        if candidate not in reserved and ip not in used:
            return ip
    raise RangeFull(f"serviceCIDR {service_cidr} is full")

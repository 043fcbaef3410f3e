"""Links, addresses, routes and sysctls inside one network namespace, over netlink (pyroute2).

``Netns`` holds one rtnetlink socket opened inside the namespace by the namespace worker thread;
the process itself never changes namespace.
"""

from __future__ import annotations

import errno
import os
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netlab.errors import KernelFeatureError, script
from netlab.kernel.ns import WORKER, netns_path

LINK_KINDS_MODULES = {"veth": "veth", "bridge": "bridge", "vxlan": "vxlan", "dummy": "dummy"}


def _feature(kind: str, exc: NetlinkError) -> Exception:
    if exc.code in (errno.EOPNOTSUPP, errno.ENOTSUP) or "Unknown device type" in str(exc):
        mod = LINK_KINDS_MODULES.get(kind, kind)
        return KernelFeatureError(f"the kernel cannot create {kind} interfaces (load the "
                                  f"module: modprobe -a {mod}; a kernel without it: "
                                  f"{script('vm-run')} --setup netlab ...)")
    return exc


class Netns:
    """Netlink operations inside network namespace NAME."""

    def __init__(self, name: str) -> None:
        self.name = name
        sock = WORKER.socket_in(name, socket.AF_NETLINK, socket.SOCK_DGRAM, 0)
        self.ipr = IPRoute(fileno=sock.detach())
        self._index: dict[str, int] = {"lo": 1}  # lo is index 1 in every network namespace

    def close(self) -> None:
        self.ipr.close()

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups ------------------------------------------------------------------------

    def index(self, ifname: str) -> int:
        if ifname not in self._index:
            found = self.ipr.link_lookup(ifname=ifname)
            if not found:
                raise LookupError(f"no interface {ifname} in {self.name}")
            self._index[ifname] = found[0]
        return self._index[ifname]

    def link_kind(self, ifname: str) -> str | None:
        try:
            link = self.ipr.get_links(self.index(ifname))[0]
        except LookupError:
            return None
        info = link.get_attr("IFLA_LINKINFO")
        return info.get_attr("IFLA_INFO_KIND") if info else None

    # -- links --------------------------------------------------------------------------

    def up(self, ifname: str) -> None:
        self.ipr.link("set", index=self.index(ifname), state="up")

    def down(self, ifname: str) -> None:
        self.ipr.link("set", index=self.index(ifname), state="down")

    def ensure_bridge(self, ifname: str) -> None:
        try:
            self.ipr.link("add", ifname=ifname, kind="bridge")
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise _feature("bridge", exc) from None
            kind = self.link_kind(ifname)
            if kind != "bridge":
                raise RuntimeError(f"{ifname} in {self.name} exists but is a {kind}, "
                                   "not a bridge") from None
        self.up(ifname)

    def ensure_dummy(self, ifname: str) -> None:
        """A dummy interface, left down (kube-proxy's kube-ipvs0 only holds addresses)."""
        try:
            self.ipr.link("add", ifname=ifname, kind="dummy")
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise _feature("dummy", exc) from None

    def set_host_addresses(self, ifname: str, ips: set[str]) -> None:
        """Make IFNAME hold exactly IPS, each as a /32."""
        index = self.index(ifname)
        have = {a.get_attr("IFA_ADDRESS") for a in self.ipr.get_addr(index=index, family=2)}
        for ip in sorted(ips - have):
            self.ipr.addr("add", index=index, address=ip, prefixlen=32)
        for ip in sorted(have - ips):
            self.ipr.addr("del", index=index, address=ip, prefixlen=32)

    def add_veth_to(self, ifname: str, peer_netns: str, peer_ifname: str,
                    master: str = "", hairpin: bool = False, index: int = 0,
                    peer_index: int = 0) -> None:
        """Create veth IFNAME here with its peer already in PEER_NETNS (never moved later).

        Giving the interface indexes up front saves looking them up afterwards."""
        fd = os.open(netns_path(peer_netns), os.O_RDONLY)
        try:
            kwargs: dict = {"master": self.index(master)} if master else {}
            peer: dict = {"ifname": peer_ifname, "net_ns_fd": fd}
            if index:
                kwargs["index"] = index
            if peer_index:
                peer["index"] = peer_index
            self.ipr.link("add", ifname=ifname, kind="veth", state="up", peer=peer, **kwargs)
            if index:
                self._index[ifname] = index
        except NetlinkError as exc:
            raise _feature("veth", exc) from None
        finally:
            os.close(fd)
        if hairpin:
            self.ipr.brport("set", index=self.index(ifname), mode=1)

    def set_mtu(self, ifname: str, mtu: int) -> None:
        self.ipr.link("set", index=self.index(ifname), mtu=mtu)

    def add_vxlan(self, ifname: str, vni: int, local: str, dev: str, port: int = 8472,
                  mac: str = "") -> None:
        try:
            self.ipr.link("add", ifname=ifname, kind="vxlan", vxlan_id=vni, vxlan_local=local,
                          vxlan_link=self.index(dev), vxlan_port=port, vxlan_learning=0,
                          address=mac or None)
        except NetlinkError as exc:
            raise _feature("vxlan", exc) from None

    def set_master(self, ifname: str, master: str) -> None:
        """Make IFNAME a port of bridge MASTER (a bridge made anew, say)."""
        self.ipr.link("set", index=self.index(ifname), master=self.index(master))

    def delete_link(self, ifname: str) -> None:
        """Delete IFNAME; already gone is fine."""
        try:
            self.ipr.link("del", index=self.index(ifname))
        except (LookupError, NetlinkError):
            pass
        self._index.pop(ifname, None)

    # -- addresses, routes, neighbours ---------------------------------------------------

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        try:
            self.ipr.addr("add", index=self.index(ifname), address=address, prefixlen=prefixlen)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    def add_route(self, dst: str, gateway: str = "", dev: str = "", onlink: bool = False) -> None:
        # proto boot is what `ip route add` and flannel use (ip route does not print it)
        kwargs: dict = {"dst": dst, "proto": 3}
        if gateway:
            kwargs["gateway"] = gateway
        if dev:
            kwargs["oif"] = self.index(dev)
        if onlink:
            kwargs["flags"] = ["onlink"]
        try:
            self.ipr.route("add", **kwargs)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    def add_neigh(self, ifname: str, dst: str, lladdr: str) -> None:
        self.ipr.neigh("replace", dst=dst, lladdr=lladdr, ifindex=self.index(ifname),
                       state="permanent")

    def add_fdb(self, ifname: str, lladdr: str, dst: str) -> None:
        self.ipr.fdb("append", ifindex=self.index(ifname), lladdr=lladdr, dst=dst)

    # -- reads ---------------------------------------------------------------------------

    def addresses(self, ifname: str) -> set[str]:
        """IFNAME's IPv4 addresses as ip/prefix."""
        return {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in self.ipr.get_addr(index=self.index(ifname), family=2)}

    def link_names(self) -> list[str]:
        return [link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()]


def get_sysctl(netns: str, key: str) -> str | None:
    def job() -> str | None:
        try:
            with open("/proc/sys/" + key.replace(".", "/")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    return WORKER.call_in(netns, job)


def set_sysctls(netns: str, values: dict[str, str]) -> None:
    """Write /proc/sys/net/... values inside NETNS (net sysctls are per namespace)."""

    def job() -> None:
        for key, value in values.items():
            try:
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(value)
            except FileNotFoundError:  # the preflight checks them all; a module was unloaded
                raise KernelFeatureError(f"this kernel does not offer the sysctl {key} in "
                                         f"{netns} (a module it needs is not loaded)") from None

    WORKER.call_in(netns, job)


def host_routes() -> list[str]:
    """Destinations of the root namespace's IPv4 routes (read only)."""
    with IPRoute() as ipr:
        out = []
        for table in (254, 255):
            for r in ipr.get_routes(family=socket.AF_INET, table=table):
                dst = r.get_attr("RTA_DST") or "0.0.0.0"
                out.append(f"{dst}/{r['dst_len']}")
        return out

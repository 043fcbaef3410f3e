"""The kernel seam: one small interface per kernel concern.

The lifecycle code receives a ``Kernel`` and never reaches the kernel any other way.
``kernel.real()`` gives the implementations in this folder (netlink, iptables-restore, ipset,
IPVS over generic netlink, processes); ``kernel.fake.FakeKernel`` gives one in-memory world
that implements every interface, applies the same operations and can be dumped, so the
lifecycle and the controller are tested without root (as knftables' Fake is for kube-proxy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from netlab.model.sync import IpvsOp, Key, VirtualServer
from netlab.model.trace import Route, TraceMatch

Pid = tuple[int, int]  # (pid, start time): one process for its whole life


class Namespaces(Protocol):
    def create_netns(self, name: str) -> None:
        """Create network namespace NAME (/run/netns/NAME); FileExistsError if it exists."""

    def create_uts(self, path: str, hostname: str) -> None:
        """A UTS namespace with HOSTNAME, kept alive by a bind mount at PATH."""

    def remove(self, path: str) -> bool:
        """Unmount and delete a namespace file; False when it was already gone."""

    def exists(self, path: str) -> bool: ...


class LinkHandle(Protocol):
    """Links, addresses, routes and neighbours of one network namespace."""

    def up(self, ifname: str) -> None: ...
    def down(self, ifname: str) -> None: ...
    def ensure_bridge(self, ifname: str) -> None: ...
    def ensure_dummy(self, ifname: str) -> None: ...
    def add_address(self, ifname: str, address: str, prefixlen: int) -> None: ...
    def add_route(self, dst: str, gateway: str = "", dev: str = "",
                  onlink: bool = False) -> None: ...
    def add_veth_to(self, ifname: str, peer_netns: str, peer_ifname: str,
                    master: str = "") -> None: ...
    def add_vxlan(self, ifname: str, vni: int, local: str, dev: str, port: int,
                  mac: str) -> None: ...
    def set_mtu(self, ifname: str, mtu: int) -> None: ...
    def add_neigh(self, ifname: str, dst: str, lladdr: str) -> None: ...
    def add_fdb(self, ifname: str, lladdr: str, dst: str) -> None: ...
    def delete_link(self, ifname: str) -> None: ...
    def set_master(self, ifname: str, master: str) -> None: ...
    def set_host_addresses(self, ifname: str, ips: set[str]) -> None: ...
    def link_names(self) -> list[str]: ...
    def close(self) -> None: ...
    def __enter__(self) -> LinkHandle: ...
    def __exit__(self, *exc: object) -> None: ...


class Links(Protocol):
    def open(self, netns: str) -> LinkHandle: ...


@dataclass(frozen=True)
class PodAttachment:
    """What one pod needs from its node's network, all decided by the plan: a CNI ADD."""

    node_netns: str
    netns: str
    uts: str  # path of the pod's UTS namespace file
    hostname: str
    host_veth: str  # the node's end, a port of BRIDGE
    ip: str
    prefixlen: int
    gateway: str
    bridge: str = "cni0"
    mtu: int = 0
    veth_index: int = 0  # a known interface index saves a lookup (0: let the kernel choose)


class PodNetwork(Protocol):
    """A CNI plugin's kernel side: ADD, DEL and CHECK of one pod."""

    def add(self, pod: PodAttachment) -> None:
        """Namespaces, veth into the node's bridge, address, default route.
        FileExistsError when the pod's namespace already exists."""

    def delete(self, pod: PodAttachment) -> None:
        """Remove the veth and the namespaces; already gone is success."""

    def check(self, pod: PodAttachment) -> list[str]:
        """What is missing or wrong (empty: the pod is wired as planned)."""

    def close(self) -> None: ...


class Sysctls(Protocol):
    def set(self, netns: str, values: dict[str, str]) -> None: ...
    def get(self, netns: str, key: str) -> str | None: ...


class Netfilter(Protocol):
    def flavour(self, netns: str) -> str:
        """nft or legacy, chosen as kube-proxy's iptables wrapper chooses."""

    def restore(self, netns: str, flavour: str, text: str, *, noflush: bool = True) -> None:
        """One atomic iptables-restore transaction."""

    def save(self, netns: str, flavour: str, table: str = "") -> str: ...
    def canary_present(self, netns: str, flavour: str) -> bool: ...

    def nft(self, netns: str, text: str) -> None:
        """One atomic nft transaction (nft -f -)."""

    def nft_list_chain(self, netns: str, family: str, table: str, chain: str) -> str | None:
        """``nft list chain``: the chain as nft prints it; None when the table or chain is
        gone."""

    def nft_list_table(self, netns: str, family: str, table: str) -> str | None:
        """``nft list table``: None when the table is gone."""


class Ipsets(Protocol):
    def restore(self, netns: str, text: str) -> None: ...
    def destroy_all(self, netns: str) -> None: ...
    def save(self, netns: str) -> str: ...


class Ipvs(Protocol):
    def dump(self, netns: str, keys: Iterable[Key] | None = None) -> dict[Key, VirtualServer]:
        """The virtual servers (all, or only KEYS) with their real servers."""

    def apply(self, netns: str, ops: Sequence[IpvsOp]) -> None: ...


class Conntrack(Protocol):
    def clear_udp(self, netns: str, service_ip: str, endpoint_ip: str) -> None: ...
    def clear_udp_node_port(self, netns: str, node_port: int, endpoint_ip: str) -> None: ...


class Cgroups(Protocol):
    """cgroup v2 membership: a lab's processes live in its own subtree."""

    def lab_path(self, lab: str) -> str: ...
    def create(self, path: str) -> None: ...

    def kill(self, path: str) -> None:
        """SIGKILL every process in PATH and below, at once (whatever forked or unshared)."""

    def remove(self, path: str) -> bool:
        """Kill, wait until empty, remove (netlab's own cgroups only); False if gone."""

    def join(self, path: str, pid: int) -> None: ...


class Sandboxes(Protocol):
    def make_template(self, path: str) -> None:
        """A lab's template mount namespace, kept alive by a bind mount at PATH (removed
        like any namespace file)."""


class Launcher(Protocol):
    """Starts containers and built-in apps; requests are pipelined."""

    def submit(self, request: dict) -> int: ...
    def result(self, ticket: int) -> Pid: ...
    def start(self, request: dict) -> Pid: ...
    def __enter__(self) -> Launcher: ...
    def __exit__(self, *exc: object) -> None: ...


class Processes(Protocol):
    def launcher(self, argv: Sequence[str]) -> AbstractContextManager[Launcher]:
        """A launcher process started with ARGV (``python -m netlab.apps.runner``)."""

    def stop(self, procs: Iterable[Pid], grace_s: float = 2.0) -> int:
        """SIGTERM, then SIGKILL what is left; only processes that are still the same."""

    def terminate(self, procs: Iterable[Pid]) -> None:
        """SIGTERM, and return (a container's PID 1 ignores it unless it handles it)."""

    def alive(self, pid: int, start: int) -> bool: ...

    def in_namespaces(self, paths: Sequence[str]) -> list[Pid]:
        """Processes living in any of the network namespaces at PATHS."""

    def spawn(self, argv: Sequence[str], log_path: str, cgroup: str = "") -> Pid:
        """Start a detached process (its own session) writing to LOG_PATH, in CGROUP."""

    def environ(self, pid: int) -> dict[str, str]:
        """The environment a process started with (empty when it is gone)."""

    def exit_status(self, path: str) -> str:
        """How a container ended, as its shim wrote it at PATH: "exited N", "killed S", or
        "" (not reported: it runs, or it was killed with its shim)."""


class Tracing(Protocol):
    """What ``netlab trace`` reads in a namespace, and the kernel's own trace."""

    def addresses(self, netns: str) -> set[str]: ...
    def route(self, netns: str, dst: str) -> Route: ...

    def arp_answer(self, netns: str, dev: str, ip: str) -> str:
        """The MAC that answers an ARP request for IP sent out of DEV now ("": none)."""

    def mac(self, netns: str, dev: str) -> str: ...

    def kernel_trace(self, netns: str, monitor: str, match: TraceMatch, local: bool,
                     send: Callable[[], None]) -> str:
        """What MONITOR (nft: ``nft monitor trace``; xtables: ``xtables-monitor --trace``)
        prints while SEND makes the connection MATCH, traced by netlab's own table."""

    def counters(self, netns: str, flavour: str) -> str:
        """``iptables-save -c``."""


@dataclass
class Kernel:
    namespaces: Namespaces
    links: Links
    pods: PodNetwork
    sysctls: Sysctls
    netfilter: Netfilter
    ipsets: Ipsets
    ipvs: Ipvs
    conntrack: Conntrack
    processes: Processes
    cgroups: Cgroups
    sandboxes: Sandboxes
    tracing: Tracing


def real() -> Kernel:
    """The kernel of this machine."""
    from netlab.kernel import real as impl

    return impl.kernel()

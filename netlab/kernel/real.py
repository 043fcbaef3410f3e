"""The real implementations of the kernel seam (``kernel/api.py``), for this machine."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Sequence

from netlab.kernel import (
    cgroups,
    conntrack,
    ipset,
    ipvs,
    netfilter,
    process,
    rtnl,
    sandbox,
    tracing,
)
from netlab.kernel.api import Kernel, PodAttachment
from netlab.kernel.links import Netns, get_sysctl, set_sysctls
from netlab.kernel.ns import WORKER, netns_path, remove_nsfile
from netlab.model.sync import IpvsOp, Key, VirtualServer
from netlab.model.trace import Route, TraceMatch

POD_ETH0_INDEX = 2  # the first interface after lo in a new namespace


class RealNamespaces:
    def create_netns(self, name: str) -> None:
        WORKER.create_netns(name)

    def create_uts(self, path: str, hostname: str) -> None:
        WORKER.create_uts(path, hostname)

    def remove(self, path: str) -> bool:
        return remove_nsfile(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


class RealLinks:
    def open(self, netns: str) -> Netns:
        return Netns(netns)


class RealPodNetwork:
    """A CNI ADD in two netlink datagrams: the veth (created with its peer already in the
    pod's namespace, as a bridge port with hairpin on) from the node's socket, then the pod's
    address and route from a socket opened in the new namespace. One raw socket per node is
    kept open for the whole ``up``."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[socket.socket, int]] = {}

    def _node(self, netns: str, bridge: str) -> tuple[socket.socket, int]:
        if netns not in self._nodes:
            with Netns(netns) as ns:
                index = ns.index(bridge)
            sock = WORKER.socket_in(netns, socket.AF_NETLINK, socket.SOCK_RAW)
            self._nodes[netns] = (rtnl.raw_socket(sock), index)
        return self._nodes[netns]

    def add(self, pod: PodAttachment) -> None:
        node_sock, bridge = self._node(pod.node_netns, pod.bridge)
        pod_sock = WORKER.create_pod_namespaces(pod.netns, pod.uts, pod.hostname)
        fd = os.open(netns_path(pod.netns), os.O_RDONLY)
        try:
            rtnl.send(node_sock, rtnl.Batch()
                      .veth(pod.host_veth, pod.veth_index, bridge, fd, "eth0", POD_ETH0_INDEX,
                            pod.mtu)
                      .pod_port(pod.veth_index), pod.node_netns)
        finally:
            os.close(fd)
        with rtnl.raw_socket(pod_sock):
            rtnl.send(pod_sock, rtnl.Batch()
                      .link_up(1)
                      .address(POD_ETH0_INDEX, pod.ip, pod.prefixlen)
                      .link_up(POD_ETH0_INDEX)
                      .route(pod.gateway), pod.netns)

    def delete(self, pod: PodAttachment) -> None:
        """The veth is deleted explicitly: a namespace's devices are destroyed
        asynchronously, and a pod re-created under the same name needs the name at once."""
        if os.path.exists(netns_path(pod.node_netns)):
            with Netns(pod.node_netns) as ns:
                ns.delete_link(pod.host_veth)
        remove_nsfile(netns_path(pod.netns))
        remove_nsfile(pod.uts)

    def check(self, pod: PodAttachment) -> list[str]:
        problems = []
        if not os.path.exists(netns_path(pod.netns)):
            return [f"network namespace {pod.netns} is gone"]
        with Netns(pod.node_netns) as node:
            if pod.host_veth not in node.link_names():
                problems.append(f"{pod.host_veth} is gone from {pod.node_netns}")
        with Netns(pod.netns) as ns:
            if "eth0" not in ns.link_names():
                problems.append(f"eth0 is gone from {pod.netns}")
            elif pod.ip and f"{pod.ip}/{pod.prefixlen}" not in ns.addresses("eth0"):
                problems.append(f"eth0 in {pod.netns} does not hold {pod.ip}")
        return problems

    def close(self) -> None:
        for sock, _ in self._nodes.values():
            sock.close()
        self._nodes.clear()


class RealSysctls:
    def set(self, netns: str, values: dict[str, str]) -> None:
        set_sysctls(netns, values)

    def get(self, netns: str, key: str) -> str | None:
        return get_sysctl(netns, key)


class RealNetfilter:
    def flavour(self, netns: str) -> str:
        return netfilter.detect_flavour(netns)

    def restore(self, netns: str, flavour: str, text: str, *, noflush: bool = True) -> None:
        netfilter.restore(netns, flavour, text, noflush=noflush)

    def save(self, netns: str, flavour: str, table: str = "") -> str:
        return netfilter.save(netns, flavour, table)

    def canary_present(self, netns: str, flavour: str) -> bool:
        return netfilter.canary_present(netns, flavour)

    def nft(self, netns: str, text: str) -> None:
        netfilter.nft(netns, text)

    def nft_list_chain(self, netns: str, family: str, table: str, chain: str) -> str | None:
        return netfilter.nft_list_chain(netns, family, table, chain)

    def nft_list_table(self, netns: str, family: str, table: str) -> str | None:
        return netfilter.nft_list_table(netns, family, table)


class RealIpsets:
    def restore(self, netns: str, text: str) -> None:
        ipset.restore(netns, text)

    def save(self, netns: str) -> str:
        return ipset.save(netns)

    def destroy_all(self, netns: str) -> None:
        ipset.destroy_all(netns)


class RealIpvs:
    def dump(self, netns: str, keys: Iterable[Key] | None = None) -> dict[Key, VirtualServer]:
        return ipvs.dump(netns, keys)

    def apply(self, netns: str, ops: Sequence[IpvsOp]) -> None:
        ipvs.apply(netns, ops)


class RealConntrack:
    def clear_udp(self, netns: str, service_ip: str, endpoint_ip: str) -> None:
        conntrack.clear_udp(netns, service_ip, endpoint_ip)

    def clear_udp_node_port(self, netns: str, node_port: int, endpoint_ip: str) -> None:
        conntrack.clear_udp_node_port(netns, node_port, endpoint_ip)


class RealProcesses:
    def launcher(self, argv: Sequence[str]) -> process.Launcher:
        return process.Launcher(argv)

    def stop(self, procs: Iterable[tuple[int, int]], grace_s: float = 2.0) -> int:
        return process.stop(procs, grace_s)

    def terminate(self, procs: Iterable[tuple[int, int]]) -> None:
        process.stop(procs, grace_s=0.0, kill=False)

    def alive(self, pid: int, start: int) -> bool:
        return process.is_same_process(pid, start)

    def in_namespaces(self, paths: Sequence[str]) -> list[tuple[int, int]]:
        inodes = {i for i in (process.ns_inode(p) for p in paths) if i}
        return [(pid, process.start_time(pid)) for pid in process.pids_in_netns(inodes)]

    def spawn(self, argv: Sequence[str], log_path: str, cgroup: str = "") -> tuple[int, int]:
        pid, start = process.spawn(list(argv), log_path)
        if cgroup:
            cgroups.join(cgroup, pid)
        return pid, start

    def environ(self, pid: int) -> dict[str, str]:
        return process.environ(pid)

    def exit_status(self, path: str) -> str:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                return f.read(64).strip()
        except OSError:
            return ""


class RealCgroups:
    def lab_path(self, lab: str) -> str:
        return cgroups.lab_path(lab)

    def create(self, path: str) -> None:
        cgroups.create(path)

    def kill(self, path: str) -> None:
        cgroups.kill(path)

    def remove(self, path: str) -> bool:
        return cgroups.remove(path)

    def join(self, path: str, pid: int) -> None:
        cgroups.join(path, pid)


class RealSandboxes:
    def make_template(self, path: str) -> None:
        """A helper process builds the template in its own new mount namespace; this one
        (in the host's mount namespace) binds it at PATH; then the helper ends."""
        import subprocess
        import sys

        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        helper = subprocess.Popen([sys.executable, "-m", "netlab.kernel.sandbox", "template"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            if helper.stdout.readline().strip() != "ready":
                raise OSError(f"the sandbox template helper failed (exit {helper.wait()})")
            sandbox.mount(f"/proc/{helper.pid}/ns/mnt", path, None, sandbox.MS_BIND)
        except BaseException:
            remove_nsfile(path)
            raise
        finally:
            helper.stdin.close()
            helper.wait()


class RealTracing:
    def addresses(self, netns: str) -> set[str]:
        return tracing.addresses(netns)

    def route(self, netns: str, dst: str) -> Route:
        return tracing.route(netns, dst)

    def arp_answer(self, netns: str, dev: str, ip: str) -> str:
        return tracing.arp_answer(netns, dev, ip)

    def mac(self, netns: str, dev: str) -> str:
        return tracing.mac(netns, dev)

    def kernel_trace(self, netns: str, monitor: str, match: TraceMatch, local: bool,
                     send: Callable[[], None]) -> str:
        return tracing.kernel_trace(netns, monitor, match, local, send)

    def counters(self, netns: str, flavour: str) -> str:
        return tracing.counters(netns, flavour)


def kernel() -> Kernel:
    return Kernel(namespaces=RealNamespaces(), links=RealLinks(), pods=RealPodNetwork(),
                  sysctls=RealSysctls(), netfilter=RealNetfilter(), ipsets=RealIpsets(),
                  ipvs=RealIpvs(), conntrack=RealConntrack(), processes=RealProcesses(),
                  cgroups=RealCgroups(), sandboxes=RealSandboxes(), tracing=RealTracing())

"""Build and tear down labs: the plan from ``plan/`` applied by ``kernel/``, journalled first.

``up`` writes a journal line before every namespace and after every process it creates; ``down``
reads only the journal and the kernel, so it works after ``up`` was killed at any point and after
the scenario file is gone, and it removes exactly what the lab created.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from netlab.dns.resolv import hosts_file, kube_dns_ip, resolv_conf, service_env
from netlab.errors import KernelFeatureError, NetlabError, NotRootError, UsageError, setup_command
from netlab.kernel import conntrack, features, ipset, netfilter, process, rtnl
from netlab.kernel import ipvs as ipvs_kernel
from netlab.kernel.links import Netns, host_routes, set_sysctls
from netlab.kernel.ns import WORKER, netns_path, remove_nsfile
from netlab.kernel.run import require_tool
from netlab.model import LabPlan, LabSpec, PodInfo, Scenario
from netlab.model.codec import from_data, to_data
from netlab.plan import cni, naming
from netlab.plan import kernel as kernel_needs
from netlab.plan.build import plan_lab
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.ipam import HostLocal
from netlab.proxy import core, iptables
from netlab.proxy import ipvs as ipvs_proxy
from netlab.scenario import validate_host_overlap
from netlab.state import LabDir

log = logging.getLogger("netlab")
Progress = Callable[[str, int, int], None]  # (step, done, total)

VXLAN_DEV, VXLAN_VNI, VXLAN_PORT, VXLAN_MTU = "flannel.1", 1, 8472, 1450
POD_ETH0_INDEX = 2  # the first interface after lo in a new namespace


def host_veth_index(pod_ip: str, node_cidr: str) -> int:
    """A pod's veth index in its node: unique because the pod's address is unique there."""
    net = ipaddress.ip_network(node_cidr)
    return 1000 + int(ipaddress.ip_address(pod_ip)) - int(net.network_address)


def _noop(step: str, done: int, total: int) -> None:
    pass


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError()


def preflight() -> None:
    require_root()
    for tool in ("nsenter", "iptables", "iptables-restore", "iptables-save"):
        require_tool(tool)
    if not os.path.exists("/proc/self/ns/net"):
        raise UsageError("this kernel has no network namespaces (CONFIG_NET_NS)")


@dataclass
class Running:
    pid: int
    start: int


def container_request(lab: LabPlan, pod: PodInfo, c, ld: LabDir) -> dict:
    """What the launcher runs for container C of POD (pure apart from the log path)."""
    links = service_env(lab.services, pod.namespace) if pod.spec.enable_service_links else {}
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOSTNAME": pod.name, "HOME": "/root", **links, **dict(c.env)}
    req = {"netns": netns_path(pod.netns), "uts": pod.uts, "etc": pod_etc_dir(ld, pod),
           "log": ld.log_path(f"{pod.namespace}.{pod.name}.{c.name}"), "env": env}
    if c.command or c.args:
        return dict(req, app="exec", argv=list(c.command) + list(c.args))
    image = lab.spec.image_app(c.image)
    app = image.app if image else "web"
    if app == "idle":
        return dict(req, app="idle")
    if app == "dns":
        return dict(req, app="dns", state=ld.state_path)
    tcp = [p.container_port for p in c.ports if p.protocol == "TCP"]
    udp = [p.container_port for p in c.ports if p.protocol == "UDP"]
    if not tcp and not udp:
        tcp = list(image.ports) if image and image.ports else list(c.probe_ports) or [80]
    return dict(req, app="web", tcp=tcp, udp=udp, ips=[pod.ip])


def pod_etc_dir(ld: LabDir, pod: PodInfo) -> str:
    return f"{ld.path}/etc/{pod.namespace}.{pod.name}"


def write_pod_files(ld: LabDir, plan: LabPlan, pod: PodInfo, host_resolv: str) -> None:
    """The pod's resolv.conf (by its dnsPolicy) and kubelet-style hosts file."""
    etc = pod_etc_dir(ld, pod)
    os.makedirs(etc, exist_ok=True)
    dns_ip = kube_dns_ip(plan.spec.service_cidr) if plan.spec.cluster_dns else ""
    with open(f"{etc}/resolv.conf", "w", encoding="utf-8") as f:
        f.write(resolv_conf(pod, plan.spec.cluster_domain, dns_ip, host_resolv))
    with open(f"{etc}/hosts", "w", encoding="utf-8") as f:
        f.write(hosts_file(pod, plan.spec.cluster_domain))


def read_host_resolv() -> str:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


class Lab:
    """A lab being built (``up``) or inspected; all kernel changes go through here."""

    def __init__(self, plan: LabPlan, ld: LabDir, progress: Progress = _noop) -> None:
        self.plan, self.ld, self.progress = plan, ld, progress
        self.flavour = "nft"
        self.processes: dict[str, dict[str, dict]] = {}  # pod key -> container -> info
        self.chains: dict[str, frozenset[str]] = {}  # node -> service chains it holds
        self.top_digests: dict[str, str] = {}  # node -> fingerprint of its top-level chains
        self.ipsets: dict[str, dict[str, tuple[str, ...]]] = {}  # node -> its sets' entries
        self.ipvs_keys: dict[str, dict[str, set]] = {}  # node -> service -> its virtual servers
        self.system: dict[str, dict] = {}  # client apps and health check servers
        self.events: dict[str, list[dict]] = {}  # pod key -> kubelet-style events
        self._host_resolv: str | None = None
        self.created = time.time()

    # -- namespaces --------------------------------------------------------------------------

    def _netns(self, name: str, journalled: bool = False) -> None:
        if not journalled:
            self.ld.record({"kind": "netns", "name": name})
        try:
            WORKER.create_netns(name)
        except FileExistsError:
            self.ld.record({"kind": "revoke", "name": name})
            raise NetlabError(f"network namespace {name} already exists and is not this "
                              "lab's; remove it or rename the lab") from None

    def _uts(self, path: str, hostname: str, journalled: bool = False) -> None:
        if not journalled:
            self.ld.record({"kind": "uts", "path": path})
        WORKER.create_uts(path, hostname)

    def _host_uts(self, name: str) -> str:
        return f"{self.ld.path}/uts/{name}"

    # -- building ----------------------------------------------------------------------------

    def build(self) -> None:
        # The launcher's interpreter starts while the networks are being wired.
        with process.Launcher() as launcher:
            self._build_networks()
            self._setup_nodes()
            self.save()  # the cluster DNS pod reads its zone from the saved state
            system = self._submit_clients(launcher)
            self._start_pods(self.plan.pods, launcher)
            self.sync_rules()
            system += self._submit_health_servers(launcher)
            self._collect_system(launcher, system)

    def _build_networks(self) -> None:
        plan = self.plan
        self.progress("lab network", 0, 1)
        self._netns(plan.lan_netns)
        lan_net = ipaddress.ip_network(plan.spec.node_cidr)
        with Netns(plan.lan_netns) as lan:
            lan.up("lo")
            lan.ensure_bridge(plan.lan_bridge)
            lan.add_address(plan.lan_bridge, plan.lan_gateway, lan_net.prefixlen)
            hosts = [(n.name, n.netns, n.lan_veth, n.lan_ip) for n in plan.nodes] + \
                    [(c.name, c.netns, c.lan_veth, c.lan_ip) for c in plan.clients]
            for i, (name, netns, port, ip) in enumerate(hosts):
                self.progress("nodes and clients", i, len(hosts))
                self._netns(netns)
                self._uts(self._host_uts(name), name)
                lan.add_veth_to(port, netns, "eth0", master=plan.lan_bridge)
                with Netns(netns) as ns:
                    ns.up("lo")
                    ns.add_address("eth0", ip, lan_net.prefixlen)
                    ns.up("eth0")
                    ns.add_route("0.0.0.0/0", gateway=plan.lan_gateway)

    def _setup_nodes(self) -> None:
        plan = self.plan
        vxlan = plan.spec.routing == "vxlan"
        ipvs_mode = plan.spec.proxy_mode == "ipvs"
        for node in plan.nodes:
            set_sysctls(node.netns, kernel_needs.node_sysctls(plan.spec))
            subnet = ipaddress.ip_network(node.pod_cidr)
            with Netns(node.netns) as ns:
                if ipvs_mode:
                    ns.ensure_dummy(ipvs_proxy.DUMMY_DEVICE)
                ns.ensure_bridge("cni0")
                ns.add_address("cni0", node.gateway, subnet.prefixlen)
                if vxlan:
                    ns.add_vxlan(VXLAN_DEV, VXLAN_VNI, node.lan_ip, "eth0", VXLAN_PORT,
                                 node.vtep_mac)
                    ns.ipr.link("set", index=ns.index(VXLAN_DEV), mtu=VXLAN_MTU)
                    ns.add_address(VXLAN_DEV, str(subnet.network_address), 32)
                    ns.up(VXLAN_DEV)
                for other in plan.nodes:
                    if other.name == node.name:
                        continue
                    if vxlan:
                        vtep_ip = str(ipaddress.ip_network(other.pod_cidr).network_address)
                        ns.add_neigh(VXLAN_DEV, vtep_ip, other.vtep_mac)
                        ns.add_fdb(VXLAN_DEV, other.vtep_mac, other.lan_ip)
                        ns.add_route(other.pod_cidr, gateway=vtep_ip, dev=VXLAN_DEV, onlink=True)
                    else:
                        ns.add_route(other.pod_cidr, gateway=other.lan_ip, dev="eth0")
        self.flavour = netfilter.detect_flavour(plan.nodes[0].netns)

    def _start_pods(self, pods: tuple[PodInfo, ...], launcher: process.Launcher) -> None:
        """Wire every pod and hand its containers to the launcher, which starts them while
        the next pods are being wired."""
        nodes = {n.name: n for n in self.plan.nodes}
        tickets: list = []
        node_socks: dict[str, tuple[socket.socket, int]] = {}
        try:
            for done, pod in enumerate(pods):
                self.progress("pods", done, len(pods))
                node = nodes[pod.node]
                if pod.node not in node_socks:
                    with Netns(node.netns) as ns:
                        bridge = ns.index("cni0")
                    sock = WORKER.socket_in(node.netns, socket.AF_NETLINK, socket.SOCK_RAW)
                    node_socks[pod.node] = (rtnl.raw_socket(sock), bridge)
                self.event(pod.key, "Normal", "Scheduled",
                           f"Successfully assigned {pod.key} to {pod.node}")
                if not pod.spec.host_network:
                    self._wire_pod(pod, node, *node_socks[pod.node])
                tickets += self._submit_containers(launcher, pod)
        finally:
            for sock, _ in node_socks.values():
                sock.close()
        self.progress("pods", len(pods), len(pods))
        self._collect_containers(launcher, tickets)

    def _wire_pod(self, pod: PodInfo, node, node_sock: socket.socket, bridge: int) -> None:
        """Namespaces, veth, address and default route of one pod: what a CNI ADD does."""
        mtu = VXLAN_MTU if self.plan.spec.routing == "vxlan" else 0
        prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
        self.ld.record({"kind": "netns", "name": pod.netns}, {"kind": "uts", "path": pod.uts})
        try:
            pod_sock = WORKER.create_pod_namespaces(pod.netns, pod.uts,
                                                    pod.spec.hostname or pod.name)
        except FileExistsError:
            raise NetlabError(f"namespace {pod.netns} or {pod.uts} already exists and is not "
                              "this lab's") from None
        # Known interface indexes save looking them up: eth0 is the pod's first interface
        # after lo, and the pod's address is unique on its node.
        veth_index = host_veth_index(pod.ip, node.pod_cidr)
        fd = os.open(netns_path(pod.netns), os.O_RDONLY)
        try:
            rtnl.send(node_sock, rtnl.Batch()
                      .veth(pod.host_veth, veth_index, bridge, fd, "eth0", POD_ETH0_INDEX, mtu)
                      .pod_port(veth_index), node.netns)
        finally:
            os.close(fd)
        with rtnl.raw_socket(pod_sock):
            rtnl.send(pod_sock, rtnl.Batch()
                      .link_up(1)
                      .address(POD_ETH0_INDEX, pod.ip, prefix)
                      .link_up(POD_ETH0_INDEX)
                      .route(node.gateway), pod.netns)

    def _submit_clients(self, launcher: process.Launcher) -> list:
        """Client hosts that stand in for outside servers run the web app."""
        tickets = []
        for c in self.plan.clients:
            if c.app == "web":
                req = {"netns": netns_path(c.netns), "uts": self._host_uts(c.name),
                       "log": self.ld.log_path(f"client.{c.name}"), "env": {"HOSTNAME": c.name},
                       "app": "web", "tcp": list(c.ports), "udp": [], "ips": [c.lan_ip]}
                tickets.append((f"client/{c.name}", launcher.submit(req)))
        return tickets

    def _submit_health_servers(self, launcher: process.Launcher) -> list:
        """kube-proxy's health check server on each node, for every LoadBalancer Service with
        externalTrafficPolicy Local: it reports the node's local endpoints."""
        tickets = []
        for info in self.plan.services:
            svc = info.service
            if not svc.health_check_node_port:
                continue
            for node in self.plan.nodes:
                local = {addr.ip for se in self.plan.endpoints
                         if (se.namespace, se.name) == (svc.namespace, svc.name)
                         for _n, _p, addr, _num in se.entries
                         if addr.ready and addr.node == node.name}
                req = {"netns": netns_path(node.netns), "uts": self._host_uts(node.name),
                       "log": self.ld.log_path(f"healthz.{node.name}.{svc.namespace}."
                                               f"{svc.name}"), "env": {},
                       "app": "healthz", "port": svc.health_check_node_port,
                       "namespace": svc.namespace, "name": svc.name, "count": len(local)}
                tickets.append((f"healthz/{node.name}/{info.key}", launcher.submit(req)))
        return tickets

    def _collect_system(self, launcher: process.Launcher, tickets: list) -> None:
        records = []
        for what, ticket in tickets:
            pid, start = launcher.result(ticket)  # these must run: failure fails the build
            records.append({"kind": "proc", "pid": pid, "start": start, "system": what})
            self.system[what] = {"pid": pid, "start": start}
        if records:
            self.ld.record(*records)

    def _submit_containers(self, launcher: process.Launcher, pod: PodInfo) -> list:
        uts = pod.uts or self._host_uts(pod.node)
        pod = replace(pod, uts=uts)
        if self._host_resolv is None:
            self._host_resolv = read_host_resolv()
        write_pod_files(self.ld, self.plan, pod, self._host_resolv)
        return [(pod.key, c.name, launcher.submit(container_request(self.plan, pod, c, self.ld)))
                for c in pod.spec.containers]

    def _collect_containers(self, launcher: process.Launcher, tickets: list) -> None:
        """Wait for every container; record the processes (the netns scan of ``down`` finds
        any that were started but not yet recorded when ``up`` was killed)."""
        records = []
        for key, name, ticket in tickets:
            states = self.processes.setdefault(key, {})
            try:
                pid, start = launcher.result(ticket)
            except NetlabError as exc:
                log.warning("lab %s: pod %s container %s failed to start: %s",
                            self.plan.spec.name, key, name, exc)
                states[name] = {"state": "failed", "reason": str(exc), "started": time.time()}
                continue
            records.append({"kind": "proc", "pid": pid, "start": start, "pod": key,
                            "container": name})
            states[name] = {"state": "running", "pid": pid, "start": start,
                            "started": time.time()}
            self.event(key, "Normal", "Started", f"Started container {name}")
        if records:
            self.ld.record(*records)

    @classmethod
    def restore(cls, plan: LabPlan, ld: LabDir, state: dict) -> Lab:
        """The Lab of a running lab, from its saved state (for the controller process)."""
        lab = cls(plan, ld)
        lab.created = state["created"]
        lab.flavour = state.get("flavour", "nft")
        lab.processes = state.get("processes", {})
        lab.system = state.get("system", {})
        lab.chains = {k: frozenset(v) for k, v in state.get("chains", {}).items()}
        lab.events = state.get("events", {})
        return lab

    def event(self, key: str, type_: str, reason: str, message: str) -> None:
        """Record an event for pod KEY; repeats are counted, as Kubernetes aggregates them."""
        events = self.events.setdefault(key, [])
        now = time.time()
        for e in events:
            if (e["type"], e["reason"], e["message"]) == (type_, reason, message):
                e["count"], e["last"] = e["count"] + 1, now
                return
        events.append({"type": type_, "reason": reason, "message": message, "count": 1,
                       "first": now, "last": now})
        del events[:-20]

    def restart_container(self, launcher: process.Launcher, pod: PodInfo, c) -> None:
        """Stop container C of POD (if it still runs) and start it again; count the restart."""
        st = self.processes.setdefault(pod.key, {}).get(c.name, {})
        if st.get("pid"):
            process.stop([(st["pid"], st["start"])], grace_s=1.0)
        restarts = st.get("restarts", 0) + 1
        uts = pod.uts or self._host_uts(pod.node)
        req = container_request(self.plan, replace(pod, uts=uts), c, self.ld)
        try:
            pid, start = launcher.start(req)
        except NetlabError as exc:
            self.processes[pod.key][c.name] = {"state": "failed", "reason": str(exc),
                                               "restarts": restarts, "started": time.time()}
            return
        self.ld.record({"kind": "proc", "pid": pid, "start": start, "pod": pod.key,
                        "container": c.name})
        self.processes[pod.key][c.name] = {"state": "running", "pid": pid, "start": start,
                                           "restarts": restarts, "started": time.time()}

    def remove_pods(self, pods: list[PodInfo]) -> None:
        """Stop the pods' containers, delete their veths and remove their namespaces.

        The veth is deleted explicitly: a namespace's devices are destroyed asynchronously,
        and a pod re-created under the same name needs the name free at once (CNI DEL)."""
        procs = [(st["pid"], st["start"]) for pod in pods
                 for st in self.processes.get(pod.key, {}).values() if st.get("pid")]
        process.stop(procs)
        by_node: dict[str, list[PodInfo]] = {}
        for pod in pods:
            self.processes.pop(pod.key, None)
            if not pod.spec.host_network:
                by_node.setdefault(pod.node, []).append(pod)
        for node_name, node_pods in by_node.items():
            with Netns(self.plan.node(node_name).netns) as ns:
                for pod in node_pods:
                    ns.delete_link(pod.host_veth)
                    remove_nsfile(netns_path(pod.netns))
                    remove_nsfile(pod.uts)

    def switch_proxy_mode(self, old: str) -> None:
        """Leave nothing of the OLD proxy mode in the nodes; the next sync (full) writes the
        new mode's rules over whole tables."""
        self.top_digests.clear()
        self.ipsets.clear()
        self.ipvs_keys.clear()
        self.chains.clear()
        new = self.plan.spec.proxy_mode
        for node in self.plan.nodes:
            if new == "ipvs":
                set_sysctls(node.netns, kernel_needs.proxy_sysctls(self.plan.spec))
                with Netns(node.netns) as ns:
                    ns.ensure_dummy(ipvs_proxy.DUMMY_DEVICE)
            elif old == "ipvs":
                ipvs_kernel.sync(node.netns, [])
                with Netns(node.netns) as ns:
                    ns.delete_link(ipvs_proxy.DUMMY_DEVICE)
        if old == "ipvs":
            # the tables first (their rules reference the sets), then the sets
            self.sync_rules()
            for node in self.plan.nodes:
                ipset.destroy_all(node.netns)

    def stop_health_servers(self) -> None:
        names = [k for k in self.system if k.startswith("healthz/")]
        process.stop([(self.system[k]["pid"], self.system[k]["start"]) for k in names])
        for k in names:
            del self.system[k]

    def pod_running(self, key: str) -> bool:
        states = self.processes.get(key, {})
        return bool(states) and all(s["state"] == "running" for s in states.values())

    # -- rules ---------------------------------------------------------------------------------

    def sync_rules(self, changed: set[str] | None = None,
                   readiness: dict[str, bool] | None = None) -> None:
        """Program every node like kube-proxy's syncProxyRules, one iptables-restore each.

        A full sync (CHANGED is None) rewrites the node's filter, nat and mangle tables whole:
        netlab is the only writer of a node's tables (it plays kubelet, the CNI plugin and
        kube-proxy), and iptables-nft 1.8.9's --noflush path slows down with the square of the
        number of chains (2.4 s for 2000 services, 11.9 s for 4000, against 0.6 s and 1.2 s
        replacing the tables). A partial sync rewrites only CHANGED services' chains with
        --noflush, as kube-proxy does."""
        plan = self.plan
        ready = readiness if readiness is not None else \
            {p.key: self.pod_running(p.key) and not any(c.readiness for c in p.spec.containers)
             for p in plan.pods}
        endpoints = compute_endpoints(plan.services, plan.pods, ready, plan.manifests)
        stale_udp = stale_udp_endpoints(plan.services, plan.endpoints, endpoints)
        self.plan = replace(plan, endpoints=endpoints)
        ports = core.service_ports(plan.services, endpoints)
        if plan.spec.proxy_mode == "ipvs":
            self._sync_ipvs(ports, stale_udp, changed)
            return
        for i, node in enumerate(plan.nodes):
            self.progress("service rules", i, len(plan.nodes))
            cfg = core.ProxyConfig(cluster_cidr=plan.spec.pod_cidr, node_name=node.name,
                                       node_ip=node.lan_ip)
            rendered = iptables.render(ports, cfg, self.chains.get(node.name, ()), changed)
            if changed is None:
                body = iptables.merge_tables(
                    iptables.render_bootstrap(),
                    cni.render_masquerade(plan.spec.pod_cidr, node.pod_cidr), rendered.text)
                netfilter.restore(node.netns, self.flavour, body, noflush=False)
            else:
                netfilter.restore(node.netns, self.flavour,
                                  rendered.partial_text(self.top_digests.get(node.name, "")))
            self.chains[node.name] = rendered.chains
            self.top_digests[node.name] = rendered.top_digest
            for vip, node_port, ip in stale_udp:
                conntrack.clear_udp(node.netns, vip, ip)
                if node_port:
                    conntrack.clear_udp_node_port(node.netns, node_port, ip)

    def _sync_ipvs(self, ports, stale_udp, changed: set[str] | None = None) -> None:
        """kube-proxy's IPVS mode on every node: one ipset restore, the few iptables rules
        (rewritten only when they change), the addresses on kube-ipvs0, and the virtual
        servers made to match (only changed ones are touched)."""
        plan = self.plan
        for i, node in enumerate(plan.nodes):
            self.progress("service rules", i, len(plan.nodes))
            cfg = core.ProxyConfig(cluster_cidr=plan.spec.pod_cidr, node_name=node.name,
                                       node_ip=node.lan_ip)
            sync = ipvs_proxy.render(ports, cfg, (node.lan_ip, node.gateway),
                                     plan.spec.ipvs_scheduler, plan.spec.ipvs_vip_filter)
            ipset.restore(node.netns, sync.ipset_restore(self.ipsets.get(node.name)))
            self.ipsets[node.name] = sync.ipsets
            body = iptables.merge_tables(
                ipvs_proxy.render_bootstrap(plan.spec.ipvs_vip_filter),
                cni.render_masquerade(plan.spec.pod_cidr, node.pod_cidr), sync.iptables)
            digest = hashlib.sha256(body.encode()).hexdigest()
            if self.top_digests.get(node.name) != digest:
                netfilter.restore(node.netns, self.flavour, body, noflush=False)
                self.top_digests[node.name] = digest
            with Netns(node.netns) as ns:
                ns.set_host_addresses(ipvs_proxy.DUMMY_DEVICE, set(sync.addresses))
            before = self.ipvs_keys.get(node.name)
            if changed is None or before is None:
                ipvs_kernel.sync(node.netns, sync.virtual_servers)
            else:  # partial: only the changed services' virtual servers, gone ones removed
                only = {k: None for svc in changed for k in before.get(svc, ())}
                only.update({vs.key: vs for vs in sync.virtual_servers if vs.service in changed})
                ipvs_kernel.sync(node.netns, (), only)
            keys: dict[str, set] = {}
            for vs in sync.virtual_servers:
                keys.setdefault(vs.service, set()).add(vs.key)
            self.ipvs_keys[node.name] = keys
            for vip, node_port, ip in stale_udp:
                conntrack.clear_udp(node.netns, vip, ip)
                if node_port:
                    conntrack.clear_udp_node_port(node.netns, node_port, ip)

    # -- state ---------------------------------------------------------------------------------

    def save(self, **extra: object) -> None:
        self.ld.save_state({
            "version": 1, "created": self.created, "flavour": self.flavour,
            "plan": to_data(self.plan), "processes": self.processes, "system": self.system,
            "chains": {k: sorted(v) for k, v in self.chains.items()}, "events": self.events,
            **extra,
        })


def load(lab: str) -> tuple[LabPlan, dict]:
    ld = LabDir(lab)
    state = ld.load_state()
    if state is None:
        if ld.exists():
            raise NetlabError(f"lab '{lab}' is not fully up (its build did not finish); "
                              f"run: netlab down {lab}")
        raise UsageError(f"lab '{lab}' is not up")
    return from_data(LabPlan, state["plan"]), state


def stale_udp_endpoints(services, before, after) -> list[tuple[str, int, str]]:
    """(service address, node port, endpoint IP) for UDP endpoints that went away: their
    conntrack entries must be cleared (kube-proxy's ClearEntriesForNAT)."""
    def udp(eps) -> dict[tuple[str, str, str], set[str]]:
        out: dict = {}
        for se in eps:
            for port_name, proto, addr, _n in se.entries:
                if proto == "UDP" and addr.ready:
                    out.setdefault((se.namespace, se.name, port_name), set()).add(addr.ip)
        return out

    old, new = udp(before), udp(after)
    by_key = {(i.service.namespace, i.service.name): i for i in services}
    stale = []
    for (ns, name, port_name), ips in old.items():
        info = by_key.get((ns, name))
        if info is None or info.cluster_ip in ("", "None"):
            continue
        port = next((p for p in info.service.ports if p.name == port_name
                     and p.protocol == "UDP"), None)
        for ip in sorted(ips - new.get((ns, name, port_name), set())):
            for vip in (info.cluster_ip, *info.service.external_ips,
                        *info.service.load_balancer_ips):
                stale.append((vip, port.node_port if port else 0, ip))
    return stale


def wait_probed(lab: str, extra_s: float = 10.0) -> bool:
    """Wait until every container with a readiness probe has had its first verdict from the
    lab's controller (like kubectl rollout status), at most the probes' own initial delay
    and period plus EXTRA_S. Returns False if the deadline passed first."""
    plan, _ = load(lab)
    probed = [(p.key, c.name, c.readiness) for p in plan.pods for c in p.spec.containers
              if c.readiness is not None]
    if not probed:
        return True
    deadline = time.monotonic() + extra_s + max(r.initial_delay + r.period * r.success_threshold
                                                for _k, _c, r in probed)
    ld = LabDir(lab)
    while time.monotonic() < deadline:
        procs = (ld.load_state() or {}).get("processes", {})
        if all("ready" in procs.get(key, {}).get(name, {}) for key, name, _r in probed):
            return True
        time.sleep(0.1)
    return False


def live_processes(state: dict) -> dict:
    """The saved container states, with running containers whose process is gone marked as
    exited (until a controller restarts containers, this is how a crash shows)."""
    out: dict = {}
    for key, containers in state.get("processes", {}).items():
        out[key] = {}
        for name, st in containers.items():
            st = dict(st)
            if st.get("state") == "running" and \
                    not process.is_same_process(st.get("pid", 0), st.get("start", 0)):
                st.update(state="failed", reason="the container process exited")
            out[key][name] = st
    return out


def check_kernel(spec: LabSpec) -> None:
    """Refuse, before any change, a lab this kernel cannot run: every module it needs must be
    in the kernel now (not merely on disk) and every sysctl netlab will write must exist."""
    if spec.proxy_mode not in ("iptables", "ipvs"):
        raise UsageError(f"proxyMode {spec.proxy_mode} is not implemented yet; use iptables "
                         "or ipvs")
    release = platform.release()
    states = {m: features.module_state(m, release)
              for m in kernel_needs.required_modules(spec)}
    unexplained = []
    for key in kernel_needs.node_sysctls(spec):
        module = kernel_needs.module_of_sysctl(key)
        if not features.sysctl_exists(key) and states.get(module, features.PRESENT) == \
                features.PRESENT:
            unexplained.append((key, module))
    text = features.problem(states, unexplained, release, setup_command())
    if text:
        raise KernelFeatureError(text)


def up(scenario: Scenario, progress: Progress = _noop) -> LabPlan:
    """Build the lab of SCENARIO. On any failure, everything created so far is removed."""
    preflight()
    check_kernel(scenario.lab)
    name = scenario.lab.name
    validate_host_overlap(scenario.lab, host_routes())
    ld = LabDir(name)
    if ld.exists():
        raise UsageError(f"lab '{name}' is already up (netlab down {name} to remove it)")
    plan, ipam = plan_lab(scenario)
    for ns in [plan.lan_netns, *(n.netns for n in plan.nodes), *(c.netns for c in plan.clients),
               *(p.netns for p in plan.pods if not p.spec.host_network)]:
        if os.path.exists(netns_path(ns)):
            raise UsageError(f"network namespace {ns} already exists and is not this lab's; "
                             "nothing was created")
    ld.create()
    ld.lock()
    lab = Lab(plan, ld, progress)
    try:
        lab.build()
        lab.save(ipam=ipam, sources=list(scenario.sources),
                 documents=list(scenario.documents))
        start_daemon(ld)
    except BaseException:
        ld.close()
        teardown(name, force_locked=True)
        raise
    ld.close()
    return lab.plan


def change(lab_name: str, edit: Callable[[list[dict]], list[dict]],
           progress: Progress = _noop) -> tuple[LabPlan, LabPlan]:
    """Change a running lab: EDIT turns its documents into the new ones, which are validated
    like a scenario file; pods that are gone are removed, new ones built, ClusterIPs, node
    ports and pod addresses of what stays are kept, and every node gets a full sync."""
    from netlab.plan.build import desired_pods, with_cluster_dns
    from netlab.scenario.loader import Doc, build_scenario

    require_root()
    ld = LabDir(lab_name)
    plan, state = load(lab_name)
    if "documents" not in state:
        raise UsageError(f"lab '{lab_name}' keeps no documents to change; down it and up it")
    docs = edit([dict(d) for d in state["documents"]])
    sc = build_scenario([Doc(d["file"], d["index"], d["body"]) for d in docs],
                        sources=tuple(state.get("sources", ())))
    switching = sc.lab.proxy_mode != plan.spec.proxy_mode
    if replace(sc.lab, proxy_mode=plan.spec.proxy_mode, ipvs_scheduler=plan.spec.ipvs_scheduler,
               strict_arp=plan.spec.strict_arp, ipvs_vip_filter=plan.spec.ipvs_vip_filter) \
            != plan.spec:
        raise UsageError("only the proxy settings of the Lab (proxyMode, ipvs) can change in a "
                         f"running lab; for the rest: netlab down {lab_name}, then up")
    check_kernel(sc.lab)
    wanted = {f"{ns}/{name}": (labels, spec) for ns, name, labels, spec, _o, _h
              in desired_pods(with_cluster_dns(sc))}
    removed = [p for p in plan.pods if wanted.get(p.key) != (p.labels, p.spec)]
    ipam = {node: HostLocal.from_dict(d) for node, d in state.get("ipam", {}).items()}
    for pod in removed:
        if pod.node in ipam:
            ipam[pod.node].release(pod.key)
    staying = {(s.namespace, s.name) for s in sc.services}
    released = set(state.get("released_cluster_ips", [])) | {
        i.cluster_ip for i in plan.services if i.cluster_ip not in ("", "None")
        and (i.service.namespace, i.service.name) not in staying}
    new_plan, new_ipam = plan_lab(sc, {k: v.to_dict() for k, v in ipam.items()}, plan,
                                  frozenset(released))
    stay = {p.key for p in plan.pods} - {p.key for p in removed}
    added = tuple(p for p in new_plan.pods if p.key not in stay)
    ld.lock(wait_s=10)
    try:
        process.stop([(e["pid"], e["start"]) for e in ld.entries()
                      if e.get("system") == "controller"])
        lab = Lab.restore(plan, ld, state)
        lab.progress = progress
        lab.remove_pods(removed)
        lab.stop_health_servers()
        # the sync compares against the endpoints as they were, to find stale UDP entries
        lab.plan = replace(new_plan, endpoints=plan.endpoints)
        if switching:
            lab.switch_proxy_mode(plan.spec.proxy_mode)
        with process.Launcher() as launcher:
            lab._start_pods(added, launcher)
            lab.sync_rules()
            lab._collect_system(launcher, lab._submit_health_servers(launcher))
        lab.save(ipam=new_ipam, sources=state.get("sources", []), documents=docs,
                 released_cluster_ips=sorted(released))
    finally:
        start_daemon(ld)
        ld.close()
    return plan, new_plan


def start_daemon(ld: LabDir) -> None:
    """Start the lab's controller process (detached), journalled like every process."""
    log_file = open(ld.log_path("controller"), "ab")  # noqa: SIM115
    with log_file:
        proc = subprocess.Popen([sys.executable, "-m", "netlab.daemon", ld.lab],
                                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                start_new_session=True)
    ld.record({"kind": "proc", "pid": proc.pid, "start": process.start_time(proc.pid),
               "system": "controller"})


def teardown(lab: str, *, force_locked: bool = False) -> dict[str, int]:
    """Remove everything lab LAB created, from its journal. Already gone counts as done."""
    ld = LabDir(lab)
    counts = {"processes": 0, "namespaces": 0}
    if not ld.exists():
        return counts
    # The controller first, so that it does not restart containers while they are stopped.
    process.stop([(e["pid"], e["start"]) for e in ld.entries()
                  if e.get("system") == "controller"])
    if not force_locked:
        ld.lock()
    entries = ld.entries()
    revoked = {e["name"] for e in entries if e.get("kind") == "revoke"}
    prefix = naming.lab_netns_prefix(lab)
    netns_names = [e["name"] for e in entries if e.get("kind") == "netns"
                   and e["name"] not in revoked and e["name"].startswith(prefix)]
    uts_paths = [e["path"] for e in entries if e.get("kind") == "uts"
                 and e["path"].startswith(ld.path + "/")]
    procs = [(e["pid"], e["start"]) for e in entries if e.get("kind") == "proc"]
    # Processes inside the lab's namespaces are the lab's too, even one started between a
    # fork and its journal line, or by `netlab exec`.
    inodes = {i for i in (process.ns_inode(netns_path(n)) for n in netns_names) if i}
    procs += [(pid, process.start_time(pid)) for pid in process.pids_in_netns(inodes)]
    counts["processes"] = len({p for p, _ in procs if process.is_same_process(p, _)})
    process.stop(procs)
    for name in reversed(netns_names):
        if remove_nsfile(netns_path(name)):
            counts["namespaces"] += 1
    for path in uts_paths:
        remove_nsfile(path)
    ld.remove()
    return counts

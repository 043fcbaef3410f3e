"""Pods as a CNI runtime sees them: ADD (namespaces, veth, address, route, then the
containers), DEL (containers stopped, veth and namespaces removed) and CHECK (is the pod still
wired as planned). Namespaces are journalled before they are created, processes right after.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import replace

from netlab.dns.resolv import hosts_file, kube_dns_ip, resolv_conf, service_env
from netlab.errors import NetlabError
from netlab.kernel.api import Launcher, PodAttachment
from netlab.kernel.ns import netns_path
from netlab.lifecycle.network import VXLAN_MTU
from netlab.lifecycle.runtime import Runtime
from netlab.model import Container, LabPlan, PodInfo
from netlab.model.state import ContainerState
from netlab.plan.naming import host_veth_index, pod_file, pod_hostname
from netlab.state import LabDir

log = logging.getLogger("netlab")


def attachment(plan: LabPlan, pod: PodInfo) -> PodAttachment:
    """What POD needs from its node's network (pure)."""
    node = plan.node(pod.node)
    return PodAttachment(
        node_netns=node.netns, netns=pod.netns, uts=pod.uts,
        hostname=pod_hostname(pod.spec.hostname or pod.name), host_veth=pod.host_veth, ip=pod.ip,
        prefixlen=ipaddress.ip_network(node.pod_cidr).prefixlen, gateway=node.gateway,
        mtu=VXLAN_MTU if plan.spec.routing == "vxlan" else 0,
        veth_index=host_veth_index(pod.ip, node.pod_cidr))


def pod_etc_dir(ld: LabDir, pod: PodInfo) -> str:
    return f"{ld.path}/etc/{pod_file(pod.namespace, pod.name)}"


def read_host_resolv() -> str:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def write_pod_files(ld: LabDir, plan: LabPlan, pod: PodInfo, host_resolv: str) -> None:
    """The pod's resolv.conf (by its dnsPolicy) and kubelet-style hosts file."""
    etc = pod_etc_dir(ld, pod)
    os.makedirs(etc, exist_ok=True)
    dns_ip = kube_dns_ip(plan.spec.service_cidr) if plan.spec.cluster_dns else ""
    with open(f"{etc}/resolv.conf", "w", encoding="utf-8") as f:
        f.write(resolv_conf(pod, plan.spec.cluster_domain, dns_ip, host_resolv))
    with open(f"{etc}/hosts", "w", encoding="utf-8") as f:
        f.write(hosts_file(pod, plan.spec.cluster_domain))


def container_request(plan: LabPlan, pod: PodInfo, c: Container, ld: LabDir) -> dict:
    """What the launcher runs for container C of POD (pure apart from the paths)."""
    links = service_env(plan.services, pod.namespace) if pod.spec.enable_service_links else {}
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOSTNAME": pod_hostname(pod.spec.hostname or pod.name), "HOME": "/root", **links,
           **dict(c.env)}
    req = {"netns": netns_path(pod.netns), "uts": pod.uts, "etc": pod_etc_dir(ld, pod),
           "log": f"{ld.path}/logs/{pod_file(pod.namespace, pod.name, c.name, keep='.log')}",
           "env": env}
    if c.command or c.args:
        return dict(req, app="exec", argv=list(c.command) + list(c.args))
    image = plan.spec.image_app(c.image)
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


def with_uts(rt: Runtime, pod: PodInfo) -> PodInfo:
    """A hostNetwork pod runs in its node's UTS namespace."""
    return pod if pod.uts else replace(pod, uts=rt.host_uts(pod.node))


def add(rt: Runtime, pods: Sequence[PodInfo], launcher: Launcher,
        on_added=None) -> None:
    """CNI ADD of every pod, then its containers; the launcher starts them while the next pods
    are wired. ON_ADDED(pod) is called once a pod's namespaces exist (before its containers
    run), for a caller that must be able to undo it."""
    host_resolv = read_host_resolv()
    tickets: list = []
    try:
        for done, pod in enumerate(pods):
            rt.progress("pods", done, len(pods))
            rt.event(pod.key, "Normal", "Scheduled",
                     f"Successfully assigned {pod.key} to {pod.node}")
            if not pod.spec.host_network:
                rt.ld.record({"kind": "netns", "name": pod.netns, "pod": pod.key,
                              "node": pod.node, "veth": pod.host_veth, "uts": pod.uts},
                             {"kind": "uts", "path": pod.uts})
                if on_added:
                    on_added(pod)
                try:
                    rt.kernel.pods.add(attachment(rt.plan, pod))
                except FileExistsError:
                    raise NetlabError(f"namespace {pod.netns} or {pod.uts} already exists and "
                                      "is not this lab's") from None
            elif on_added:
                on_added(pod)
            pod = with_uts(rt, pod)
            write_pod_files(rt.ld, rt.plan, pod, host_resolv)
            tickets += [(pod.key, c.name, launcher.submit(container_request(rt.plan, pod, c,
                                                                            rt.ld)))
                        for c in pod.spec.containers]
    finally:
        rt.kernel.pods.close()
        _collect(rt, launcher, tickets)
    rt.progress("pods", len(pods), len(pods))


def _collect(rt: Runtime, launcher: Launcher, tickets: list) -> None:
    """Wait for every container; record the processes (``down`` also finds any that started
    but were not recorded, by the namespaces they live in)."""
    records = []
    for key, name, ticket in tickets:
        states = rt.state.processes.setdefault(key, {})
        try:
            pid, start = launcher.result(ticket)
        except NetlabError as exc:
            log.warning("lab %s: pod %s container %s failed to start: %s",
                        rt.plan.spec.name, key, name, exc)
            states[name] = ContainerState("failed", reason=str(exc), started=rt.clock())
            continue
        records.append({"kind": "proc", "pid": pid, "start": start, "pod": key,
                        "container": name})
        states[name] = ContainerState("running", pid, start, rt.clock())
        rt.event(key, "Normal", "Started", f"Started container {name}")
    if records:
        rt.ld.record(*records)


def delete(rt: Runtime, pods: Sequence[PodInfo]) -> None:
    """CNI DEL: stop the pods' containers, then remove their veths and namespaces. Already
    gone is success."""
    procs = [(st.pid, st.start) for pod in pods
             for st in rt.state.processes.get(pod.key, {}).values() if st.pid]
    rt.kernel.processes.stop(procs)
    for pod in pods:
        rt.state.processes.pop(pod.key, None)
        if not pod.spec.host_network:
            rt.kernel.pods.delete(attachment(rt.plan, pod))


def check(rt: Runtime, pod: PodInfo) -> list[str]:
    """CNI CHECK: what is missing from a pod's wiring (empty when all is as planned)."""
    if pod.spec.host_network:
        return []
    return rt.kernel.pods.check(attachment(rt.plan, pod))


def restart_container(rt: Runtime, launcher: Launcher, pod: PodInfo, c: Container) -> None:
    """Stop container C of POD (if it still runs) and start it again; count the restart."""
    old = rt.state.processes.setdefault(pod.key, {}).get(c.name) or ContainerState()
    if old.pid:
        rt.kernel.processes.stop([(old.pid, old.start)], grace_s=1.0)
    restarts = old.restarts + 1
    req = container_request(rt.plan, with_uts(rt, pod), c, rt.ld)
    try:
        pid, start = launcher.start(req)
    except NetlabError as exc:
        rt.state.processes[pod.key][c.name] = ContainerState(
            "failed", reason=str(exc), restarts=restarts, started=rt.clock())
        return
    rt.ld.record({"kind": "proc", "pid": pid, "start": start, "pod": pod.key,
                  "container": c.name})
    rt.state.processes[pod.key][c.name] = ContainerState("running", pid, start, rt.clock(),
                                                         restarts)

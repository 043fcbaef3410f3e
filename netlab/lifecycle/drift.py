"""Drift: what was changed by hand in a running lab, found and put back the way the kubelet
and the CNI plugin would. A node's cni0 that vanished is made again with its pods' ports; a
pod whose network namespace or veth vanished is killed and re-created ("Pod sandbox
changed"), keeping its node and address; a lab process that died (kube-proxy's servers, the
API server, a MetalLB speaker, a client's app) is started again, as systemd or a DaemonSet
would. Flushed rules are the periodic full sync's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab.kernel.api import Launcher
from netlab.kernel.ns import netns_path
from netlab.lifecycle import pods, system
from netlab.lifecycle.runtime import Runtime
from netlab.model import PodInfo
from netlab.plan import kernel as kernel_needs

BRIDGE = "cni0"


@dataclass
class Drift:
    bridges: list[str] = field(default_factory=list)  # nodes whose cni0 vanished
    sandboxes: dict[str, str] = field(default_factory=dict)  # pod key -> what vanished
    processes: list[str] = field(default_factory=list)  # the lab's own processes that died

    def __bool__(self) -> bool:
        return bool(self.bridges or self.sandboxes or self.processes)


def find(rt: Runtime) -> Drift:
    """One link dump per node and one stat per pod."""
    drift = Drift()
    by_node: dict[str, list[PodInfo]] = {}
    for pod in rt.plan.pods:
        if not pod.spec.host_network:
            by_node.setdefault(pod.node, []).append(pod)
    for node in rt.plan.nodes:
        with rt.kernel.links.open(node.netns) as links:
            names = set(links.link_names())
        if BRIDGE not in names:
            drift.bridges.append(node.name)
        for pod in by_node.get(node.name, []):
            if not rt.kernel.namespaces.exists(netns_path(pod.netns)):
                drift.sandboxes[pod.key] = f"its network namespace {pod.netns} is gone"
            elif pod.host_veth not in names:
                drift.sandboxes[pod.key] = f"its veth {pod.host_veth} is gone from " \
                                           f"{node.name}"
    drift.processes = sorted(what for what, proc in rt.state.system.items()
                             if not rt.kernel.processes.alive(proc.pid, proc.start))
    return drift


def repair(rt: Runtime, launcher: Launcher, drift: Drift) -> list[str]:
    """Put back what DRIFT found; what was done, in words (also as events)."""
    done = []
    for name in drift.bridges:
        node = rt.plan.node(name)
        ports = [p.host_veth for p in rt.plan.pods if p.node == name and
                 not p.spec.host_network and p.key not in drift.sandboxes]
        rt.kernel.sysctls.set(node.netns, kernel_needs.node_sysctls(rt.plan.spec))
        with rt.kernel.links.open(node.netns) as links:
            links.ensure_bridge(BRIDGE)
            links.add_address(BRIDGE, node.gateway, int(node.pod_cidr.split("/")[1]))
            present = set(links.link_names())
            for port in ports:
                if port in present:
                    links.set_master(port, BRIDGE)
        message = f"{BRIDGE} vanished from {name}: made it again, with the ports of " \
                  f"{len(ports)} pod(s)"
        rt.event(f"node/{name}", "Warning", "BridgeMissing", message)
        done.append(message)
    broken = [p for p in rt.plan.pods if p.key in drift.sandboxes]
    if broken:
        before = {p.key: dict(rt.state.processes.get(p.key, {})) for p in broken}
        for pod in broken:
            rt.event(pod.key, "Warning", "SandboxChanged",
                     f"Pod sandbox changed ({drift.sandboxes[pod.key]}), it will be killed "
                     "and re-created.")
        pods.delete(rt, broken)
        pods.add(rt, broken, launcher, scheduled=False)
        for pod in broken:  # the containers restarted, as the kubelet counts it
            for name, st in rt.state.processes.get(pod.key, {}).items():
                old = before[pod.key].get(name)
                if old is not None:
                    st.restarts = old.restarts + 1
        done.append("re-created " + ", ".join(f"{p.key} ({drift.sandboxes[p.key]})"
                                              for p in broken))
    if drift.processes:
        for what in drift.processes:
            del rt.state.system[what]
        system.collect(rt, launcher, system.submit(rt, launcher, only=set(drift.processes)))
        nodes = [n.name for n in rt.plan.nodes]
        for what in drift.processes:
            node = what.rsplit("/", 1)[-1]
            rt.event(f"node/{node if node in nodes else nodes[0]}", "Warning",
                     "ProcessRestarted", f"{what} had died: started again")
        done.append("started again: " + ", ".join(drift.processes))
    return done

"""The lab's own processes besides containers: client hosts that stand in for outside
servers, and kube-proxy's health check server on each node (for LoadBalancer Services with
externalTrafficPolicy Local). They must run: a failure fails the build."""

from __future__ import annotations

from netlab.kernel.api import Launcher
from netlab.kernel.ns import netns_path
from netlab.lifecycle.runtime import Runtime
from netlab.model.state import Proc


def submit_clients(rt: Runtime, launcher: Launcher) -> list:
    tickets = []
    for c in rt.plan.clients:
        if c.app == "web":
            req = {"netns": netns_path(c.netns), "uts": rt.host_uts(c.name),
                   "log": rt.ld.log_path(f"client.{c.name}"), "env": {"HOSTNAME": c.name},
                   "cgroup": rt.paths.system_cgroup,
                   "app": "web", "tcp": list(c.ports), "udp": [], "ips": [c.lan_ip]}
            tickets.append((f"client/{c.name}", launcher.submit(req)))
    return tickets


def submit_health_servers(rt: Runtime, launcher: Launcher) -> list:
    """One per node and Service: it reports the node's local ready endpoints."""
    tickets = []
    plan = rt.plan
    for info in plan.services:
        svc = info.service
        if not svc.health_check_node_port:
            continue
        for node in plan.nodes:
            local = {addr.ip for se in plan.endpoints
                     if (se.namespace, se.name) == (svc.namespace, svc.name)
                     for _n, _p, addr, _num in se.entries
                     if addr.ready and addr.node == node.name}
            req = {"netns": netns_path(node.netns), "uts": rt.host_uts(node.name),
                   "log": rt.ld.log_path(f"healthz.{node.name}.{svc.namespace}.{svc.name}"),
                   "env": {}, "cgroup": rt.paths.system_cgroup,
                   "app": "healthz", "port": svc.health_check_node_port,
                   "namespace": svc.namespace, "name": svc.name, "count": len(local)}
            tickets.append((f"healthz/{node.name}/{info.key}", launcher.submit(req)))
    return tickets


def collect(rt: Runtime, launcher: Launcher, tickets: list) -> None:
    records = []
    for what, ticket in tickets:
        pid, start = launcher.result(ticket)  # these must run: failure fails the build
        records.append({"kind": "proc", "pid": pid, "start": start, "system": what})
        rt.state.system[what] = Proc(pid, start)
    if records:
        rt.ld.record(*records)


def stop_health_servers(rt: Runtime) -> None:
    names = [k for k in rt.state.system if k.startswith("healthz/")]
    rt.kernel.processes.stop([(rt.state.system[k].pid, rt.state.system[k].start)
                              for k in names])
    for k in names:
        del rt.state.system[k]


def start_health_servers(rt: Runtime, launcher: Launcher) -> None:
    collect(rt, launcher, submit_health_servers(rt, launcher))

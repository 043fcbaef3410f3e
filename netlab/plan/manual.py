"""The lab as the commands a person types by hand: one ``ip`` (or iptables) command per step.

Used two ways: ``netlab steps`` prints them for the lesson that builds a pod network by hand
(the manual CNI steps), and ``scripts/bench-build`` runs them as the baseline netlab is measured
against. Pure: plan in, argv lists out.
"""

from __future__ import annotations

import ipaddress
import shlex
import sys
from dataclasses import dataclass

from netlab.model import LabPlan
from netlab.plan.naming import lab_dir


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    why: str = ""
    background: bool = False  # a long-running process (a container)

    def shell(self) -> str:
        return shlex.join(self.argv) + (" &" if self.background else "")


def _ip(ns: str, *args: str) -> tuple[str, ...]:
    return ("ip", "-n", ns, *args)


def _host(steps: list[Step], ns: str, uts_path: str, hostname: str, what: str) -> None:
    steps.append(Step(("ip", "netns", "add", ns), f"network namespace for {what}"))
    steps.append(Step(("touch", uts_path)))
    steps.append(Step(("unshare", f"--uts={uts_path}", "hostname", hostname),
                      f"{what}'s own hostname (UTS namespace)"))
    steps.append(Step(_ip(ns, "link", "set", "lo", "up")))


def manual_steps(plan: LabPlan, rules: dict[str, list[str]] | None = None,
                 python: str = sys.executable) -> list[Step]:
    """Every step of building PLAN by hand. RULES maps node names to iptables argv tails."""
    s: list[Step] = []
    lan, br = plan.lan_netns, plan.lan_bridge
    prefix = ipaddress.ip_network(plan.spec.node_cidr).prefixlen
    uts = f"{lab_dir(plan.spec.name)}/uts"
    s.append(Step(("mkdir", "-p", uts)))
    s.append(Step(("ip", "netns", "add", lan), "the lab network (the LAN the nodes share)"))
    s.append(Step(_ip(lan, "link", "set", "lo", "up")))
    s.append(Step(_ip(lan, "link", "add", br, "type", "bridge")))
    s.append(Step(_ip(lan, "addr", "add", f"{plan.lan_gateway}/{prefix}", "dev", br)))
    s.append(Step(_ip(lan, "link", "set", br, "up")))
    hosts = [(n.name, n.netns, n.lan_veth, n.lan_ip) for n in plan.nodes] + \
            [(c.name, c.netns, c.lan_veth, c.lan_ip) for c in plan.clients]
    for name, ns, port, ip in hosts:
        _host(s, ns, f"{uts}/{name}", name, name)
        s.append(Step(_ip(lan, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                          "netns", ns), f"{name}'s cable to the lab network"))
        s.append(Step(_ip(lan, "link", "set", port, "master", br, "up")))
        s.append(Step(_ip(ns, "addr", "add", f"{ip}/{prefix}", "dev", "eth0")))
        s.append(Step(_ip(ns, "link", "set", "eth0", "up")))
        s.append(Step(_ip(ns, "route", "add", "default", "via", plan.lan_gateway)))
    for node in plan.nodes:
        ns = node.netns
        plen = ipaddress.ip_network(node.pod_cidr).prefixlen
        s.append(Step(("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"),
                      f"{node.name} routes packets for its pods"))
        s.append(Step(_ip(ns, "link", "add", "cni0", "type", "bridge"),
                      f"{node.name}'s pod bridge, holding the pods' gateway"))
        s.append(Step(_ip(ns, "addr", "add", f"{node.gateway}/{plen}", "dev", "cni0")))
        s.append(Step(_ip(ns, "link", "set", "cni0", "up")))
        for other in plan.nodes:
            if other.name != node.name:
                s.append(Step(_ip(ns, "route", "add", other.pod_cidr, "via", other.lan_ip),
                              f"{other.name}'s pods are reached through {other.name}"))
    nodes = {n.name: n for n in plan.nodes}
    for pod in plan.pods:
        node = nodes[pod.node]
        plen = ipaddress.ip_network(node.pod_cidr).prefixlen
        if not pod.spec.host_network:
            _host(s, pod.netns, pod.uts, pod.spec.hostname or pod.name, f"pod {pod.name}")
            s.append(Step(_ip(node.netns, "link", "add", pod.host_veth, "type", "veth", "peer",
                              "name", "eth0", "netns", pod.netns),
                          f"pod {pod.name}: a veth pair, one end in the pod"))
            s.append(Step(_ip(node.netns, "link", "set", pod.host_veth, "master", "cni0", "up")))
            s.append(Step(_ip(pod.netns, "addr", "add", f"{pod.ip}/{plen}", "dev", "eth0")))
            s.append(Step(_ip(pod.netns, "link", "set", "eth0", "up")))
            s.append(Step(_ip(pod.netns, "route", "add", "default", "via", node.gateway)))
        for c in pod.spec.containers:
            argv = list(c.command) + list(c.args) if c.runs_command else \
                [python, "-m", "netlab.apps.web", *map(str, web_ports(c))]
            pod_uts = pod.uts or f"{uts}/{pod.node}"
            s.append(Step(("nsenter", f"--net=/run/netns/{pod.netns}", f"--uts={pod_uts}",
                           "--", *argv),
                          f"container {c.name} of {pod.name}", background=True))
    for node in plan.nodes:
        for rule in (rules or {}).get(node.name, []):
            s.append(Step(("ip", "netns", "exec", node.netns, "iptables", *shlex.split(rule))))
    return s


def web_ports(c) -> list[int]:
    """The TCP ports the built-in web app of container C listens on."""
    return [p.container_port for p in c.ports if p.protocol == "TCP"] or [80]


def iptables_commands(restore_text: str) -> list[str]:
    """iptables-restore input as one iptables command line per chain or rule."""
    out, table, declared = [], "filter", set()
    for line in restore_text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            if (table, chain) not in declared:
                declared.add((table, chain))
                out.append(f"-t {table} -N {chain}")
        elif line.startswith(("-A ", "-X ")):
            out.append(f"-t {table} {line}")
    return out

"""Benchmark helpers: a lab of N pods, and the same lab built by hand (one command per step)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from netlab.kernel.ns import WORKER, netns_path, remove_nsfile
from netlab.model import LabPlan, LabSpec, NodeInfo
from netlab.plan.manual import iptables_commands, manual_steps, web_ports
from netlab.plan.naming import lab_dir
from netlab.proxy import core, iptables


def bench_scenario(name: str, pods: int, nodes: int = 3) -> str:
    node_list = ", ".join(f"node{i + 1}" for i in range(nodes))
    return f"""
apiVersion: netlab/v1
kind: Lab
metadata: {{name: {name}}}
spec: {{nodes: [{node_list}], maxPods: {max(pods, 1)}, nodeCIDRMaskSize: 22}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {pods}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: nginx, ports: [{{containerPort: 8000}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8000}}]}}
"""


def wait_listening(netns: str, port: int, deadline: float) -> None:
    """Wait until something accepts TCP connections on PORT inside NETNS."""
    while True:
        s = WORKER.socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} in {netns}") from None
            time.sleep(0.005)
        finally:
            s.close()


class ByHand:
    """Builds a planned lab with one command per step, as a person would."""

    def __init__(self, plan: LabPlan) -> None:
        self.plan = plan
        self.procs: list[subprocess.Popen] = []

    def rules(self) -> dict[str, list[str]]:
        ports = core.service_ports(self.plan.services, self.plan.endpoints)
        out = {}
        for n in self.plan.nodes:
            cfg = core.ProxyConfig(self.plan.spec.pod_cidr, n.name, n.lan_ip)
            text = iptables.render_bootstrap() + iptables.render(ports, cfg).text
            out[n.name] = iptables_commands(text)
        return out

    def up(self) -> None:
        for step in manual_steps(self.plan, self.rules()):
            if step.background:
                self.procs.append(subprocess.Popen(step.argv, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL,
                                                   start_new_session=True))
            else:
                r = subprocess.run(step.argv, capture_output=True, text=True, check=False)
                if r.returncode != 0:
                    raise RuntimeError(f"{step.shell()}: {r.stderr.strip()}")
        deadline = time.monotonic() + 120
        for pod in self.plan.pods:
            for c in pod.spec.containers:
                if not c.runs_command:  # a built-in web app: wait until it listens
                    for port in web_ports(c):
                        wait_listening(pod.netns, port, deadline)

    def down(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait()
        names = [p.netns for p in self.plan.pods if not p.spec.host_network] + \
            [n.netns for n in self.plan.nodes] + [c.netns for c in self.plan.clients] + \
            [self.plan.lan_netns]
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        uts = f"{lab_dir(self.plan.spec.name)}/uts"
        for entry in os.listdir(uts) if os.path.isdir(uts) else []:
            remove_nsfile(os.path.join(uts, entry))
        subprocess.run(["rm", "-rf", lab_dir(self.plan.spec.name)], check=False)

    def leftovers(self) -> list[str]:
        names = [p.netns for p in self.plan.pods] + [self.plan.lan_netns]
        return [n for n in names if os.path.exists(netns_path(n))]


def synthetic_ports(services: int, endpoints: int = 3) -> list:
    """S ClusterIP service ports with E endpoints each, spread over two nodes."""
    import ipaddress

    out = []
    base_vip = int(ipaddress.ip_address("10.96.0.0"))
    base_pod = int(ipaddress.ip_address("10.244.0.0"))
    for i in range(services):
        eps = tuple(sorted((core.Endpoint(
            f"{ipaddress.ip_address(base_pod + 2 + (i * endpoints + j) % 60000)}:8080",
            "node1" if j % 2 == 0 else "node2") for j in range(endpoints)),
            key=lambda e: e.addr))
        out.append(core.ServicePortView(
            spn=f"bench/svc{i}:http", service=f"bench/svc{i}", protocol="tcp",
            cluster_ip=str(ipaddress.ip_address(base_vip + 16 + i)), port=80, endpoints=eps))
    return out


def bench_node(netns: str, mode: str) -> tuple[LabSpec, NodeInfo]:
    """The lab and the one node (in NETNS) whose rules the sync benchmarks write."""
    spec = LabSpec(name="bench", proxy_mode=mode)
    return spec, NodeInfo("node1", 0, netns, "172.18.0.2", "lanbench", "10.244.0.0/24",
                          "10.244.0.1", "0e:00:00:00:00:01")


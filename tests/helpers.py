"""Shared test helpers: scenario text builders, and netlab's iptables walker started in one
chain as kube-proxy's tests start theirs."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from netlab.scenario.loader import build_scenario, parse_documents
from netlab.trace import iptables as iptables_walk
from netlab.trace.path import Packet as WalkPacket

LAB = """
apiVersion: netlab/v1
kind: Lab
metadata: {{name: {name}}}
spec:
  nodes: {nodes}
  clients: {clients}
  routing: {routing}
  clusterDNS: {dns}{mode}
"""


def lab_doc(name: str = "t", nodes=("node1",), clients=(), routing: str = "host-gw",
            dns: bool = False, mode: str = "") -> str:
    """A Lab document; cluster DNS is off unless asked for, so tests that are not about DNS
    see exactly their own objects."""
    return LAB.format(name=name, nodes=list(nodes), clients=list(clients), routing=routing,
                      dns="true" if dns else "false",
                      mode=f"\n  proxyMode: {mode}" if mode else "")


def deployment(name: str = "web", replicas: int = 3, port: int = 8000, port_name: str = "",
               labels: str = "") -> str:
    pname = f", name: {port_name}" if port_name else ""
    return textwrap.dedent(f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}{labels}}}}}
            spec:
              containers: [{{name: web, image: nginx, ports: [{{containerPort: {port}{pname}}}]}}]
        """)


def pod(name: str, node: str = "", extra: str = "", command: str = "") -> str:
    cmd = f", command: {command}" if command else ""
    lines = ["apiVersion: v1", "kind: Pod", f"metadata: {{name: {name}, labels: {{app: {name}}}}}",
             "spec:"]
    if node:
        lines.append(f"  nodeName: {node}")
    lines.append(f"  containers: [{{name: c, image: nginx{cmd}}}]")
    return "\n".join(lines) + "\n" + extra


def service(name: str = "web-svc-cip", app: str = "web", port: int = 80,
            target: object = 8000, proto: str = "TCP", cluster_ip: str = "") -> str:
    cip = f", clusterIP: {cluster_ip}" if cluster_ip else ""
    return textwrap.dedent(f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}}}
        spec: {{selector: {{app: {app}}}, ports: [{{port: {port}, targetPort: {target},
                protocol: {proto}}}]{cip}}}
        """)


def scenario(*docs: str, file: str = "lab.yaml"):
    return build_scenario(parse_documents("\n---\n".join(docs), file), sources=(file,))


# -- walking iptables-restore text: netlab's own walker, started in one chain ------------------


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    proto: str
    dport: int


@dataclass(frozen=True)
class Outcome:
    verdict: str  # DNAT ip:port, REJECT, DROP, ACCEPT, RETURN (fell through)
    masquerade: bool  # marked for masquerade
    path: tuple[str, ...]  # the chains it went through


def parse_rules(text: str) -> dict[str, dict[str, list[list[str]]]]:
    return {table: {chain: [list(r.args) for r in rules] for chain, rules in chains.items()}
            for table, chains in iptables_walk.parse(text).chains.items()}


def trace(text: str, pkt: Packet, start: str = "KUBE-SERVICES", table: str = "nat",
          local_ips: set[str] | None = None) -> list[Outcome]:
    """Every outcome a packet can have when it enters START (random matches branch both ways)."""
    walked = iptables_walk.run_chain(iptables_walk.parse(text), table, start,
                                     WalkPacket(pkt.src, pkt.dst, pkt.dport, pkt.proto),
                                     local_ips or ())
    return [Outcome(f"DNAT {p.dnat}" if p.dnat and p.verdict == "accept" else p.verdict.upper(),
                    p.marked, (start, *(h.chain for h in p.hops))) for p in walked]


def jump_targets_exist(text: str) -> list[str]:
    """Jumps whose target chain is neither declared nor built in."""
    builtin = {"ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "SNAT", "MASQUERADE", "MARK"}
    missing = []
    for table, chains in parse_rules(text).items():
        for chain, rules in chains.items():
            for rule in rules:
                if "-j" in rule:
                    target = rule[rule.index("-j") + 1]
                    if target not in builtin and target not in chains:
                        missing.append(f"{table}/{chain} -> {target}")
    return missing


WORD = re.compile(r"\S+")

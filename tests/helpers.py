"""Shared test helpers: scenario text builders and a small iptables-restore tracer."""

from __future__ import annotations

import ipaddress
import re
import shlex
import textwrap
from dataclasses import dataclass

from netlab.scenario.loader import build_scenario, parse_documents

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


# -- a small interpreter of iptables-restore text, for walking chains --------------------------


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    proto: str
    dport: int


@dataclass(frozen=True)
class Outcome:
    verdict: str  # DNAT ip:port, REJECT, DROP, ACCEPT, RETURN (fell through)
    masquerade: bool
    path: tuple[str, ...]


def parse_rules(text: str) -> dict[str, dict[str, list[list[str]]]]:
    tables: dict[str, dict[str, list[list[str]]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {})
        elif line.startswith(":"):
            current.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            args = shlex.split(line)
            current.setdefault(args[1], []).append(args[2:])
        elif line.startswith("-X "):
            current.pop(line.split()[1], None)
    return tables


def _in(addr: str, cidr: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)


def _matches(rule: list[str], pkt: Packet, local_ips: set[str], mark: bool) -> bool | None:
    """True/False, or None for a random (statistic) match that may go either way."""
    i, maybe = 0, False
    while i < len(rule):
        neg = rule[i] == "!"
        if neg:
            i += 1
        opt = rule[i]
        if opt in ("-j", "--to-destination", "--or-mark", "--xor-mark"):
            break
        if opt == "-m":
            mod = rule[i + 1]
            i += 2
            if mod == "statistic":
                i += 4  # --mode random --probability P
                maybe = True
            elif mod == "comment":
                i += 2
            elif mod == "addrtype":
                which = pkt.dst if rule[i] == "--dst-type" else pkt.src
                i += 2
                if which not in local_ips:
                    return False
            elif mod == "mark":
                want = True
                if rule[i] == "!":
                    want, i = False, i + 1
                i += 2
                if mark != want:
                    return False
            elif mod == "recent":
                # --set always matches; --rcheck needs an earlier packet (none in a trace)
                if "--rcheck" in rule[i:i + 4]:
                    return False
                i = rule.index("--set", i) + 1
            continue
        value = rule[i + 1]
        i += 2
        if opt == "-s":
            ok = _in(pkt.src, value)
        elif opt == "-d":
            ok = _in(pkt.dst, value)
        elif opt == "-p":
            ok = pkt.proto == value
        elif opt == "--dport":
            ok = pkt.dport == int(value)
        else:
            raise AssertionError(f"tracer does not know {opt} in {rule}")
        if ok == neg:
            return False
    return None if maybe else True


def trace(text: str, pkt: Packet, start: str = "KUBE-SERVICES", table: str = "nat",
          local_ips: set[str] | None = None) -> list[Outcome]:
    """Every outcome a packet can have when it enters START (random matches branch both ways)."""
    chains = parse_rules(text)[table]
    local_ips = local_ips or set()
    out: list[Outcome] = []

    def walk(chain: str, idx: int, mark: bool, path: tuple[str, ...], stack: tuple) -> None:
        rules = chains[chain]
        while idx < len(rules):
            rule = rules[idx]
            m = _matches(rule, pkt, local_ips, mark)
            if m is False:
                idx += 1
                continue
            if m is None:  # could also not match
                walk(chain, idx + 1, mark, path, stack)
            target = rule[rule.index("-j") + 1] if "-j" in rule else None
            if target is None:
                idx += 1
                continue
            if target == "MARK":
                mark = "--or-mark" in rule
                idx += 1
                continue
            if target == "DNAT":
                out.append(Outcome("DNAT " + rule[rule.index("--to-destination") + 1], mark,
                                   path + (chain,)))
                return
            if target in ("REJECT", "DROP", "ACCEPT"):
                out.append(Outcome(target, mark, path + (chain,)))
                return
            if target == "RETURN":
                break
            assert target in chains, f"{chain} jumps to missing chain {target}"
            if target == "KUBE-MARK-MASQ":
                mark = True
                idx += 1
                continue
            walk(target, 0, mark, path + (chain,), stack + ((chain, idx + 1),))
            return
        if stack:
            (parent, pidx), rest = stack[-1], stack[:-1]
            walk(parent, pidx, mark, path, rest)
        else:
            out.append(Outcome("RETURN", mark, path + (chain,)))

    walk(start, 0, False, (), ())
    return out


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

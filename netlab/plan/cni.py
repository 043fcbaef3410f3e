"""What the pod network plugin (flannel-style) adds to a node's netfilter tables. Pure.

Pod traffic leaving the cluster is masqueraded to the node address, as flannel's FLANNEL-POSTRTG
chain does; pod-to-pod traffic keeps its source address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from netlab.model import PodInfo

CHAIN = "FLANNEL-POSTRTG"
COMMENT = '"flanneld masq"'


def render_masquerade(pod_cidr: str, node_subnet: str, mark: str = "0x4000") -> str:
    c = f"-m comment --comment {COMMENT}"
    return "\n".join([
        "*nat",
        f":{CHAIN} - [0:0]",
        f"-A POSTROUTING {c} -j {CHAIN}",
        f"-A {CHAIN} -m mark --mark {mark}/{mark} {c} -j RETURN",
        f"-A {CHAIN} -s {node_subnet} -d {pod_cidr} {c} -j RETURN",
        f"-A {CHAIN} -s {pod_cidr} -d {node_subnet} {c} -j RETURN",
        f"-A {CHAIN} ! -s {pod_cidr} -d {node_subnet} {c} -j RETURN",
        f"-A {CHAIN} -s {pod_cidr} ! -d 224.0.0.0/4 {c} -j MASQUERADE --random-fully",
        f"-A {CHAIN} ! -s {pod_cidr} -d {pod_cidr} {c} -j MASQUERADE --random-fully",
        "COMMIT", "",
    ])


# The portmap plugin's chains (containernetworking/plugins portmap, iptables backend)
NETWORK = "cbr0"  # flannel's network name in its conflist
SETMARK, MASQ_MARK = "CNI-HOSTPORT-SETMARK", "0x2000/0x2000"


def container_id(pod: PodInfo) -> str:
    """The sandbox ID the runtime would hand to CNI: stable for the pod."""
    return hashlib.sha256(pod.uid.encode()).hexdigest()


def portmap_chain(pod: PodInfo) -> str:
    """CNI-DN-<21 hex>: the plugin's FormatChainName("DN-") of network name + container ID,
    28 characters as iptables allows."""
    digest = hashlib.sha512((NETWORK + container_id(pod)).encode()).hexdigest()
    return "CNI-DN-" + digest[: 28 - len("CNI-DN-")]


def host_ports(pod: PodInfo) -> list[tuple[int, int, str]]:
    """(hostPort, containerPort, protocol) of a pod's containers (hostNetwork pods have none
    to forward: they listen on the node)."""
    if pod.spec.host_network:
        return []
    return [(p.host_port, p.container_port, p.protocol.lower()) for c in pod.spec.containers
            for p in c.ports if p.host_port]


def render_portmap(pods: Iterable[PodInfo]) -> str:
    """The nat rules the portmap plugin keeps in a node for its pods' hostPorts: DNAT of
    local-destination traffic to the pod, and masquerade for hairpin and localhost."""
    mapped = sorted((p for p in pods if host_ports(p)), key=lambda p: p.key)
    if not mapped:
        return ""
    out = ["*nat", ":CNI-HOSTPORT-DNAT - [0:0]", f":{SETMARK} - [0:0]",
           ":CNI-HOSTPORT-MASQ - [0:0]"]
    out += [f":{portmap_chain(p)} - [0:0]" for p in mapped]
    out += ["-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
            "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
            '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" '
            "-j CNI-HOSTPORT-MASQ",
            f"-A CNI-HOSTPORT-MASQ -m mark --mark {MASQ_MARK} -j MASQUERADE",
            f'-A {SETMARK} -m comment --comment "CNI portfwd masquerade mark" '
            f"-j MARK --set-xmark {MASQ_MARK}"]
    for pod in mapped:
        chain = portmap_chain(pod)
        comment = f'"dnat name: \\"{NETWORK}\\" id: \\"{container_id(pod)}\\""'
        for proto in sorted({proto for _h, _c, proto in host_ports(pod)}):
            ports = ",".join(str(h) for h, _c, pr in host_ports(pod) if pr == proto)
            out.append(f"-A CNI-HOSTPORT-DNAT -p {proto} -m comment --comment {comment} "
                       f"-m multiport --dports {ports} -j {chain}")
        for host, target, proto in host_ports(pod):
            match = f"-p {proto} -m {proto} --dport {host}"
            out += [f"-A {chain} -s {pod.ip}/32 {match} -j {SETMARK}",
                    f"-A {chain} -s 127.0.0.1/32 {match} -j {SETMARK}",
                    f"-A {chain} {match} -j DNAT --to-destination {pod.ip}:{target}"]
    return "\n".join([*out, "COMMIT", ""])

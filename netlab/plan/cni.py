"""What the pod network plugin (flannel-style) adds to a node's netfilter tables. Pure.

Pod traffic leaving the cluster is masqueraded to the node address, as flannel's FLANNEL-POSTRTG
chain does; pod-to-pod traffic keeps its source address.
"""

from __future__ import annotations

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

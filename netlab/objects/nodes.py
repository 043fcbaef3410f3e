"""Nodes as kubectl shows them. Pure."""

from __future__ import annotations

import time

from netlab.model import LabPlan
from netlab.objects.common import K8S_VERSION, human_age, table, ts


def node_object(plan: LabPlan, name: str, created: float, kernel: str = "") -> dict:
    n = plan.node(name)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "creationTimestamp": ts(created),
                     "labels": {"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                                **({"node-role.kubernetes.io/control-plane": ""}
                                   if n.index == 0 else {})}},
        "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": n.lan_ip},
                          {"type": "Hostname", "address": n.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": K8S_VERSION, "kubeProxyVersion": K8S_VERSION,
                         "osImage": "netlab network namespace", "kernelVersion": kernel,
                         "containerRuntimeVersion": "netlab://0.1",
                         "operatingSystem": "linux", "architecture": "amd64"}},
    }


def nodes_table(plan: LabPlan, created: float, wide: bool, kernel: str = "",
                now: float | None = None) -> str:
    now = now or time.time()
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if wide:
        headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                    "CONTAINER-RUNTIME"]
    rows = []
    for n in plan.nodes:
        row = [n.name, "Ready", "control-plane" if n.index == 0 else "<none>",
               human_age(now - created), K8S_VERSION]
        if wide:
            row += [n.lan_ip, "<none>", "netlab network namespace", kernel, "netlab://0.1"]
        rows.append(row)
    return table(headers, rows)

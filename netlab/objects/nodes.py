"""Nodes as kubectl shows them. Pure."""

from __future__ import annotations

import time

from netlab.model import LabPlan
from netlab.objects.common import K8S_VERSION, human_age, table, ts
from netlab.plan.workloads import node_labels, node_taints


def node_object(plan: LabPlan, name: str, created: float, kernel: str = "") -> dict:
    n = plan.node(name)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "creationTimestamp": ts(created),
                     "labels": node_labels(plan.spec, n.name)},
        "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr],
                 **({"taints": [{"key": k, "effect": e} for k, _v, e
                                in node_taints(plan.spec, n.name)]}
                    if node_taints(plan.spec, n.name) else {})},
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
                now: float | None = None, down: tuple[str, ...] = ()) -> str:
    now = now or time.time()
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if wide:
        headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                    "CONTAINER-RUNTIME"]
    rows = []
    for n in plan.nodes:
        row = [n.name, "NotReady" if n.name in down else "Ready",
               "control-plane" if n.index == 0 else "<none>",
               human_age(now - created), K8S_VERSION]
        if wide:
            row += [n.lan_ip, "<none>", "netlab network namespace", kernel, "netlab://0.1"]
        rows.append(row)
    return table(headers, rows)


def describe_node(plan: LabPlan, name: str, created: float, kernel: str = "") -> str:
    """kubectl describe node NAME: its labels, taints, addresses, pod CIDR and pods."""
    n = plan.node(name)
    labels = node_labels(plan.spec, name)
    taints = [f"{k}:{e}" for k, _v, e in node_taints(plan.spec, name)] or ["<none>"]
    pods = sorted((p for p in plan.pods if p.node == name), key=lambda p: (p.namespace, p.name))
    lines = [f"Name:               {name}",
             "Roles:              " + ("control-plane" if n.index == 0 else "<none>"),
             "Labels:             " + "\n                    ".join(
                 f"{k}={v}" for k, v in sorted(labels.items())),
             f"CreationTimestamp:  {ts(created)}",
             "Taints:             " + "\n                    ".join(taints),
             "Unschedulable:      false",
             "Addresses:", f"  InternalIP:  {n.lan_ip}", f"  Hostname:    {name}",
             "System Info:", f"  Kernel Version:             {kernel}",
             "  OS Image:                   netlab network namespace",
             f"  Kubelet Version:            {K8S_VERSION}",
             f"  Kube-Proxy Version:         {K8S_VERSION}",
             f"PodCIDR:                      {n.pod_cidr}",
             f"PodCIDRs:                     {n.pod_cidr}",
             f"Non-terminated Pods:          ({len(pods)} in total)"]
    lines += ["  " + line for line in table(
        ["Namespace", "Name", "IP"], [["---------", "----", "--"],
                                      *[[p.namespace, p.name, p.ip] for p in pods]]
    ).splitlines()]
    lines.append("Events:              <none>")
    return "\n".join(lines)

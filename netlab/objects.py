"""The lab as Kubernetes objects (for ``get -o json|yaml``) and kubectl-style tables. Pure."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from netlab.model import Container, LabPlan, PodInfo, ServiceInfo
from netlab.model.state import ContainerState, Event
from netlab.plan.naming import generated_suffix

K8S_VERSION = "v1.31.0-netlab"


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


Procs = dict[str, dict[str, ContainerState]]  # pod key -> container -> state


def container_ready(c: Container, st: ContainerState) -> bool:
    """A container with a readiness probe is unready until the controller saw it pass."""
    return st.ready if st.ready is not None else st.running and c.readiness is None


def pod_status(pod: PodInfo, procs: Procs) -> tuple[int, int, str, int]:
    """(ready containers, containers, STATUS, restarts) as kubectl shows them."""
    states = procs.get(pod.key, {})
    total = len(pod.spec.containers)
    running = sum(1 for s in states.values() if s.running)
    ready = sum(1 for c in pod.spec.containers
                if container_ready(c, states.get(c.name, ContainerState("pending"))))
    failed = [s for s in states.values() if s.state == "failed"]
    status = "Running" if running == total else ("Error" if failed else "Pending")
    restarts = sum(s.restarts for s in states.values())
    return ready, total, status, restarts


def pod_object(plan: LabPlan, pod: PodInfo, procs: Procs, created: float) -> dict:
    node = plan.node(pod.node)
    states = procs.get(pod.key, {})
    _ready, total, status, _ = pod_status(pod, procs)
    meta: dict = {"name": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels),
                  "creationTimestamp": _ts(created)}
    if pod.owner:
        kind, name = pod.owner.split("/", 1)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": f"{name}-{pod.template_hash}", "controller": True}]
    containers, cstatus = [], []
    for c in pod.spec.containers:
        obj: dict = {"name": c.name, "image": c.image}
        if c.command:
            obj["command"] = list(c.command)
        if c.args:
            obj["args"] = list(c.args)
        if c.ports:
            obj["ports"] = [{"containerPort": p.container_port, "protocol": p.protocol,
                             **({"name": p.name} if p.name else {})} for p in c.ports]
        containers.append(obj)
        st = states.get(c.name, ContainerState("pending", started=created))
        running = st.running
        state = {"running": {"startedAt": _ts(st.started or created)}} if running else \
            {"terminated": {"reason": "Error", "message": st.reason, "exitCode": 1}}
        cstatus.append({"name": c.name, "image": c.image, "ready": running, "started": running,
                        "restartCount": st.restarts, "state": state})
    ready = status == "Running"
    cond = "True" if ready else "False"
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": containers, "nodeName": pod.node,
                 **({"hostNetwork": True} if pod.spec.host_network else {})},
        "status": {
            "phase": "Running" if ready else ("Failed" if status == "Error" else "Pending"),
            "hostIP": node.lan_ip, "hostIPs": [{"ip": node.lan_ip}],
            "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
            "conditions": [{"type": t, "status": cond} for t in
                           ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": cstatus, "startTime": _ts(created),
        },
        "_total": total,
    }


def service_object(info: ServiceInfo, created: float) -> dict:
    svc = info.service
    if svc.type == "ExternalName":
        spec: dict = {"type": "ExternalName", "externalName": svc.external_name,
                      "sessionAffinity": "None"}
    else:
        spec = {
            "type": svc.type, "clusterIP": info.cluster_ip, "clusterIPs": [info.cluster_ip],
            "sessionAffinity": svc.session_affinity, "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": svc.internal_traffic_policy,
        }
        if svc.session_affinity == "ClientIP":
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds":
                                                          svc.affinity_timeout}}
        if svc.type in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = svc.external_traffic_policy
        if svc.health_check_node_port:
            spec["healthCheckNodePort"] = svc.health_check_node_port
        if svc.external_ips:
            spec["externalIPs"] = list(svc.external_ips)
        if svc.load_balancer_source_ranges:
            spec["loadBalancerSourceRanges"] = list(svc.load_balancer_source_ranges)
    spec["ports"] = [{**({"name": p.name} if p.name else {}), "protocol": p.protocol,
                      "port": p.port, "targetPort": p.target_port,
                      **({"nodePort": p.node_port} if p.node_port else {})}
                     for p in svc.ports]
    if svc.selector is not None:
        spec["selector"] = dict(svc.selector)
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in svc.load_balancer_ips]}
              if svc.load_balancer_ips else {}}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc.name, "namespace": svc.namespace,
                         "labels": dict(svc.labels), "creationTimestamp": _ts(created)},
            "spec": spec, "status": status}


def service_columns(info: ServiceInfo) -> tuple[str, str, str]:
    """CLUSTER-IP, EXTERNAL-IP and PORT(S) as kubectl prints them."""
    svc = info.service
    cluster_ip = "<none>" if svc.type == "ExternalName" else info.cluster_ip
    if svc.type == "ExternalName":
        external = svc.external_name
    elif svc.type == "LoadBalancer":
        external = ",".join([*svc.load_balancer_ips, *svc.external_ips]) or "<pending>"
    else:
        external = ",".join(svc.external_ips) or "<none>"
    ports = ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port
                     else f"{p.port}/{p.protocol}" for p in svc.ports) or "<none>"
    return cluster_ip, external, ports


def _endpoint_groups(plan: LabPlan, namespace: str, name: str) -> list[tuple[tuple, list]]:
    """Addresses grouped by their set of ports, like Endpoints subsets and slices."""
    per_addr: dict[tuple, list] = {}
    for se in plan.endpoints:
        if se.namespace == namespace and se.name == name:
            for port_name, proto, addr, number in se.entries:
                per_addr.setdefault((addr.ip, addr.pod, addr.node, addr.ready), []).append(
                    (port_name, number, proto))
    groups: dict[tuple, list] = {}
    for addr, ports in per_addr.items():
        groups.setdefault(tuple(sorted(ports)), []).append(addr)
    return sorted(groups.items())


def _where(pod: str, node: str) -> dict:
    """nodeName and targetRef of an address, when it has them: hand-written Endpoints of a
    Service without a selector name no pod (and often no node)."""
    out: dict = {"nodeName": node} if node else {}
    if pod:
        ns, name = pod.split("/", 1)
        out["targetRef"] = {"kind": "Pod", "namespace": ns, "name": name}
    return out


def endpoints_object(plan: LabPlan, info: ServiceInfo, created: float) -> dict:
    svc = info.service
    subsets = []
    for ports, addrs in _endpoint_groups(plan, svc.namespace, svc.name):
        subset: dict = {}
        for ready_key, field in ((True, "addresses"), (False, "notReadyAddresses")):
            items = [{"ip": ip, **_where(pod, node)}
                     for ip, pod, node, ready in sorted(addrs) if ready is ready_key]
            if items:
                subset[field] = items
        subset["ports"] = [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                           for n, p, proto in ports]
        subsets.append(subset)
    obj = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": svc.name, "namespace": svc.namespace,
                        "labels": dict(svc.labels), "creationTimestamp": _ts(created)}}
    if subsets:
        obj["subsets"] = subsets
    return obj


def endpointslice_objects(plan: LabPlan, info: ServiceInfo, created: float) -> list[dict]:
    svc = info.service
    out = []
    groups = _endpoint_groups(plan, svc.namespace, svc.name) or [((), [])]
    for i, (ports, addrs) in enumerate(groups):
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "name": f"{svc.name}-{generated_suffix(svc.namespace, svc.name, str(i))}",
                "namespace": svc.namespace, "creationTimestamp": _ts(created),
                "labels": {"kubernetes.io/service-name": svc.name,
                           "endpointslice.kubernetes.io/managed-by":
                               "endpointslice-controller.k8s.io"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc.name}]},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip],
                           "conditions": {"ready": ready, "serving": ready,
                                          "terminating": False}, **_where(pod, node)}
                          for ip, pod, node, ready in sorted(addrs)],
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
        })
    return out


def node_object(plan: LabPlan, name: str, created: float, kernel: str = "") -> dict:
    n = plan.node(name)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "creationTimestamp": _ts(created),
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


# -- tables --------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    """kubectl's layout: columns padded to the widest cell plus three spaces."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def pods_table(plan: LabPlan, procs: Procs, created: float, wide: bool,
               namespace: str | None, now: float | None = None) -> str:
    now = now or time.time()
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    rows = []
    for pod in sorted(plan.pods, key=lambda p: (p.namespace, p.name)):
        if namespace is not None and pod.namespace != namespace:
            continue
        ready, total, status, restarts = pod_status(pod, procs)
        row = [pod.name, f"{ready}/{total}", status, str(restarts), human_age(now - created)]
        if namespace is None:
            row.insert(0, pod.namespace)
        if wide:
            row += [pod.ip, pod.node, "<none>", "<none>"]
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


def _none(namespace: str | None) -> str:
    return "No resources found" + (f" in {namespace} namespace." if namespace else ".")


def services_table(plan: LabPlan, created: float, wide: bool, namespace: str | None,
                   now: float | None = None) -> str:
    now = now or time.time()
    headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers.append("SELECTOR")
    rows = []
    for info in sorted(plan.services, key=lambda s: (s.service.namespace, s.service.name)):
        svc = info.service
        if namespace is not None and svc.namespace != namespace:
            continue
        cluster_ip, external, ports = service_columns(info)
        row = [svc.name, svc.type, cluster_ip, external, ports, human_age(now - created)]
        if namespace is None:
            row.insert(0, svc.namespace)
        if wide:
            row.append(",".join(f"{k}={v}" for k, v in svc.selector) if svc.selector
                       else "<none>")
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


def endpoints_table(plan: LabPlan, created: float, namespace: str | None,
                    now: float | None = None) -> str:
    now = now or time.time()
    headers = ["NAME", "ENDPOINTS", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    rows = []
    for info in sorted(plan.services, key=lambda s: (s.service.namespace, s.service.name)):
        svc = info.service
        if namespace is not None and svc.namespace != namespace:
            continue
        eps = []
        for ports, addrs in _endpoint_groups(plan, svc.namespace, svc.name):
            for ip, _pod, _node, ready in sorted(addrs):
                if ready:
                    eps += [f"{ip}:{p}" for _n, p, _proto in ports]
        shown = ",".join(eps[:3]) + (f" + {len(eps) - 3} more..." if len(eps) > 3 else "")
        row = [svc.name, shown or "<none>", human_age(now - created)]
        if namespace is None:
            row.insert(0, svc.namespace)
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


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


def _probe_text(kind: str, probe) -> str:
    """kubectl's one-line probe summary."""
    if probe.kind == "http":
        what = f"http-get http://:{probe.port}{probe.path}"
    elif probe.kind == "tcp":
        what = f"tcp-socket :{probe.port}"
    else:
        what = "exec [" + " ".join(probe.command) + "]"
    return (f"{kind}:{' ' * max(1, 15 - len(kind))}{what} delay={probe.initial_delay:g}s "
            f"timeout={probe.timeout:g}s period={probe.period:g}s "
            f"#success={probe.success_threshold} #failure={probe.failure_threshold}")


def describe_pod(plan: LabPlan, pod: PodInfo, procs: Procs, events: list[Event],
                 created: float, now: float | None = None) -> str:
    """kubectl describe pod, for the fields netlab has."""
    now = now or time.time()
    node = plan.node(pod.node)
    ready, total, status, _ = pod_status(pod, procs)
    labels = [f"{k}={v}" for k, v in pod.labels] or ["<none>"]
    out = [f"Name:             {pod.name}", f"Namespace:        {pod.namespace}",
           f"Node:             {pod.node}/{node.lan_ip}",
           f"Start Time:       {_ts(created)}",
           f"Labels:           {labels[0]}", *(f"                  {x}" for x in labels[1:]),
           f"Status:           {status}", f"IP:               {pod.ip}"]
    if pod.owner:
        out.append(f"Controlled By:    ReplicaSet/{pod.owner.split('/', 1)[1]}-"
                   f"{pod.template_hash}")
    out.append("Containers:")
    for c in pod.spec.containers:
        st = procs.get(pod.key, {}).get(c.name, ContainerState("pending", started=created))
        running = st.running
        is_ready = container_ready(c, st)
        out.append(f"  {c.name}:")
        out.append(f"    Image:          {c.image}")
        for p in c.ports or ():
            out.append(f"    Port:           {p.container_port}/{p.protocol}")
        if c.command:
            out.append("    Command:        " + " ".join(c.command))
        if c.args:
            out.append("    Args:           " + " ".join(c.args))
        out.append(f"    State:          {'Running' if running else 'Terminated'}")
        if running:
            out.append(f"      Started:      {_ts(st.started or created)}")
        elif st.reason:
            out.append(f"      Reason:       Error: {st.reason}")
        out.append(f"    Ready:          {is_ready}")
        out.append(f"    Restart Count:  {st.restarts}")
        if c.liveness:
            out.append("    " + _probe_text("Liveness", c.liveness))
        if c.readiness:
            out.append("    " + _probe_text("Readiness", c.readiness))
    cond = "True" if ready == total else "False"
    out += ["Conditions:", "  Type              Status", "  Initialized       True",
            f"  Ready             {cond}", f"  ContainersReady   {cond}",
            "  PodScheduled      True"]
    if not events:
        out.append("Events:            <none>")
        return "\n".join(out)
    rows = []
    for e in events:
        age = human_age(now - e.last)
        if e.count > 1:
            age = f"{age} (x{e.count} over {human_age(e.last - e.first)})"
        source = "default-scheduler" if e.reason == "Scheduled" else "kubelet"
        rows.append([e.type, e.reason, age, source, e.message])
    out.append("Events:")
    out += ["  " + line for line in table(["Type", "Reason", "Age", "From", "Message"],
                                          [["----", "------", "----", "----", "-------"],
                                           *rows]).splitlines()]
    return "\n".join(out)


def deployments_table(plan: LabPlan, procs: Procs, created: float, namespace: str | None,
                      now: float | None = None) -> str:
    now = now or time.time()
    owners: dict[tuple[str, str], list[PodInfo]] = {}
    for pod in plan.pods:
        if pod.owner.startswith("Deployment/"):
            owners.setdefault((pod.namespace, pod.owner.split("/", 1)[1]), []).append(pod)
    headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    rows = []
    for (ns, name), pods in sorted(owners.items()):
        if namespace is not None and ns != namespace:
            continue
        ready = sum(1 for p in pods if pod_status(p, procs)[0] == len(p.spec.containers))
        row = [name, f"{ready}/{len(pods)}", str(len(pods)), str(ready),
               human_age(now - created)]
        if namespace is None:
            row.insert(0, ns)
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


# -- get: one entry point per output form ---------------------------------------------------

RESOURCES = {"deployments": "deploy", "deployment": "deploy", "deploy": "deploy",
             "pods": "pods", "pod": "pods", "po": "pods", "services": "svc", "service": "svc",
             "svc": "svc", "endpoints": "ep", "ep": "ep", "endpointslices": "eps",
             "endpointslice": "eps", "nodes": "nodes", "node": "nodes", "no": "nodes"}


def objects_of(kind: str, plan: LabPlan, procs: Procs, created: float,
               namespace: str | None, release: str = "") -> list[dict]:
    """Every object of KIND (pods, svc, ep, eps, nodes) as Kubernetes would return it."""
    if kind == "pods":
        items = [pod_object(plan, p, procs, created) for p in plan.pods
                 if namespace is None or p.namespace == namespace]
        for i in items:
            i.pop("_total", None)
        return items
    if kind == "nodes":
        return [node_object(plan, n.name, created, release) for n in plan.nodes]
    items: list[dict] = []
    for s in plan.services:
        if namespace is not None and s.service.namespace != namespace:
            continue
        if kind == "svc":
            items.append(service_object(s, created))
        elif kind == "ep":
            items.append(endpoints_object(plan, s, created))
        else:
            items += endpointslice_objects(plan, s, created)
    return items


def named(kind: str, items: list[dict], name: str) -> list[dict]:
    """The objects called NAME (an EndpointSlice also by its Service's name)."""
    return [i for i in items if i["metadata"]["name"] == name
            or (kind == "eps" and i["metadata"]["labels"].get(
                "kubernetes.io/service-name") == name)]


def only(plan: LabPlan, kind: str, name: str) -> LabPlan | None:
    """PLAN reduced to the object NAME of KIND for a table, or None when there is none."""
    from dataclasses import replace

    if kind == "pods":
        found = tuple(p for p in plan.pods if p.name == name)
        return replace(plan, pods=found) if found else None
    if kind == "nodes":
        found_n = tuple(n for n in plan.nodes if n.name == name)
        return replace(plan, nodes=found_n) if found_n else None
    found_s = tuple(s for s in plan.services if s.service.name == name)
    return replace(plan, services=found_s) if found_s else None


def table_of(kind: str, plan: LabPlan, procs: Procs, created: float, wide: bool,
             namespace: str | None, release: str = "") -> str:
    """The kubectl-style table of every object of KIND."""
    if kind == "deploy":
        return deployments_table(plan, procs, created, namespace)
    if kind == "pods":
        return pods_table(plan, procs, created, wide, namespace)
    if kind == "svc":
        return services_table(plan, created, wide, namespace)
    if kind in ("ep", "eps"):
        return endpoints_table(plan, created, namespace)
    return nodes_table(plan, created, wide, release)

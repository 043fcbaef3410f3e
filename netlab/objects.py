"""The lab as Kubernetes objects (for ``get -o json|yaml``) and kubectl-style tables. Pure."""

from __future__ import annotations

import time
from dataclasses import dataclass
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
    return st.running and (st.ready if st.ready is not None else c.readiness is None)


@dataclass(frozen=True)
class PodStatus:
    ready: int  # app containers running and ready
    total: int
    reason: str  # kubectl's STATUS column
    restarts: int
    last_restart: float  # wall clock of the last restart's exit (0: none)
    phase: str  # Pending | Running | Succeeded | Failed
    initialized: bool

    def restarts_text(self, now: float) -> str:
        """kubectl's RESTARTS: "3 (42s ago)"."""
        if not self.restarts or not self.last_restart:
            return str(self.restarts)
        return f"{self.restarts} ({human_age(now - self.last_restart)} ago)"


def _phase(pod: PodInfo, states: dict[str, ContainerState], initialized: bool) -> str:
    """The pod's phase, as the kubelet's getPhase decides it."""
    if not initialized:
        failed = any(st.state == "terminated" and st.exit_code != 0
                     for st in states.values())
        return "Failed" if failed and pod.spec.restart_policy == "Never" else "Pending"
    app = [states.get(c.name) for c in pod.spec.containers]
    if any(st is None or (st.state == "waiting" and st.restarts == 0) for st in app):
        return "Pending"
    if any(st.running for st in app):
        return "Running"
    ended = [st for st in app if st.state == "terminated"]
    if len(ended) < len(app) or pod.spec.restart_policy == "Always":
        return "Running"  # waiting to restart
    ok = all(st.exit_code == 0 for st in ended)
    if ok:
        return "Succeeded"
    return "Running" if pod.spec.restart_policy == "OnFailure" else "Failed"


def _ended_reason(st: ContainerState) -> str:
    if st.reason:
        return st.reason
    return f"Signal:{st.signal}" if st.signal else f"ExitCode:{st.exit_code}"


def pod_status(pod: PodInfo, procs: Procs) -> PodStatus:
    """What kubectl shows for a pod (its printPod): the first init container that has not
    completed decides (Init:N/M, Init:Error, Init:CrashLoopBackOff); then the last app
    container with something to say (CrashLoopBackOff, Error, Completed...), else the phase."""
    states = procs.get(pod.key, {})
    inits = pod.spec.init_containers
    initialized = all(c.name in states and states[c.name].completed for c in inits)
    phase = _phase(pod, states, initialized)
    reason = phase
    last = max((st.last_finished for st in states.values()), default=0.0)
    restarts = 0
    if not initialized:
        for i, c in enumerate(inits):
            st = states.get(c.name)
            restarts += st.restarts if st else 0
            if st is not None and st.completed:
                continue
            if st is not None and st.state == "terminated":
                reason = "Init:" + _ended_reason(st)
            elif st is not None and st.state == "waiting" and st.reason and \
                    st.reason != "PodInitializing":
                reason = "Init:" + st.reason
            else:
                reason = f"Init:{i}/{len(inits)}"
            break
        return PodStatus(0, len(pod.spec.containers), reason, restarts, last, phase, False)
    ready, has_running = 0, False
    for c in reversed(pod.spec.containers):
        st = states.get(c.name)
        if st is None:
            reason = "PodInitializing" if inits else "ContainerCreating"
            continue
        restarts += st.restarts
        if st.state == "waiting" and st.reason:
            reason = st.reason
        elif st.state == "terminated":
            reason = _ended_reason(st)
        elif container_ready(c, st):
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if ready == len(pod.spec.containers) else "NotReady"
    return PodStatus(ready, len(pod.spec.containers), reason, restarts, last, phase, True)


def _state_object(st: ContainerState, created: float) -> dict:
    if st.running:
        return {"running": {"startedAt": _ts(st.started or created)}}
    if st.state == "waiting":
        return {"waiting": {"reason": st.reason or "ContainerCreating",
                            **({"message": st.message} if st.message else {})}}
    return {"terminated": {"exitCode": st.exit_code if st.exit_code is not None else 137,
                           **({"signal": st.signal} if st.signal else {}),
                           "reason": st.reason or "Error",
                           **({"message": st.message} if st.message else {}),
                           "startedAt": _ts(st.started or created),
                           "finishedAt": _ts(st.finished or created)}}


def container_status(c: Container, st: ContainerState | None, created: float) -> dict:
    """A Kubernetes ContainerStatus."""
    st = st or ContainerState("waiting", reason="ContainerCreating")
    out = {"name": c.name, "image": c.image, "ready": container_ready(c, st),
           "started": st.running, "restartCount": st.restarts,
           "state": _state_object(st, created), "lastState": {}}
    if st.last_reason:
        out["lastState"] = {"terminated": {
            "exitCode": st.last_exit_code if st.last_exit_code is not None else 137,
            "reason": st.last_reason, "startedAt": _ts(st.last_started or created),
            "finishedAt": _ts(st.last_finished or created)}}
    return out


def _container_spec(c: Container) -> dict:
    obj: dict = {"name": c.name, "image": c.image}
    if c.command:
        obj["command"] = list(c.command)
    if c.args:
        obj["args"] = list(c.args)
    if c.ports:
        obj["ports"] = [{"containerPort": p.container_port, "protocol": p.protocol,
                         **({"name": p.name} if p.name else {})} for p in c.ports]
    return obj


def pod_object(plan: LabPlan, pod: PodInfo, procs: Procs, created: float) -> dict:
    node = plan.node(pod.node)
    states = procs.get(pod.key, {})
    status = pod_status(pod, procs)
    meta: dict = {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid,
                  "labels": dict(pod.labels), "creationTimestamp": _ts(created)}
    if pod.owner:
        kind, name = pod.owner.split("/", 1)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": f"{name}-{pod.template_hash}", "controller": True}]
    spec: dict = {"containers": [_container_spec(c) for c in pod.spec.containers],
                  "nodeName": pod.node, "restartPolicy": pod.spec.restart_policy}
    if pod.spec.init_containers:
        spec["initContainers"] = [_container_spec(c) for c in pod.spec.init_containers]
    if pod.spec.host_network:
        spec["hostNetwork"] = True
    ready = status.ready == status.total and status.initialized
    conditions = {"Initialized": status.initialized, "Ready": ready, "ContainersReady": ready,
                  "PodScheduled": True}
    body: dict = {
        "phase": status.phase,
        "hostIP": node.lan_ip, "hostIPs": [{"ip": node.lan_ip}],
        "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
        "conditions": [{"type": t, "status": "True" if v else "False"}
                       for t, v in conditions.items()],
        "containerStatuses": [container_status(c, states.get(c.name), created)
                              for c in pod.spec.containers],
        "startTime": _ts(created),
    }
    if pod.spec.init_containers:
        body["initContainerStatuses"] = [container_status(c, states.get(c.name), created)
                                         for c in pod.spec.init_containers]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": body, "_total": status.total}


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
                per_addr.setdefault((addr.ip, addr.pod, addr.node, addr.ready,
                                     addr.is_serving, addr.terminating), []).append(
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
            # the Endpoints API leaves terminating pods out (EndpointSlices keep them)
            items = [{"ip": ip, **_where(pod, node)}
                     for ip, pod, node, ready, _serving, gone in sorted(addrs)
                     if ready is ready_key and not (gone and not ready)]
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
                           "conditions": {"ready": ready, "serving": serving,
                                          "terminating": gone}, **_where(pod, node)}
                          for ip, pod, node, ready, serving, gone in sorted(addrs)],
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
        st = pod_status(pod, procs)
        row = [pod.name, f"{st.ready}/{st.total}", st.reason, st.restarts_text(now),
               human_age(now - created)]
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
            for ip, _pod, _node, ready, _serving, _gone in sorted(addrs):
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


def _describe_state(label: str, st: ContainerState, created: float) -> list[str]:
    """kubectl describe's State (or Last State) block."""
    pad = " " * (16 - len(label) - 1)
    if st.running:
        return [f"    {label}:{pad}Running", f"      Started:      {_ts(st.started or created)}"]
    if st.state == "waiting":
        out = [f"    {label}:{pad}Waiting",
               f"      Reason:       {st.reason or 'ContainerCreating'}"]
        return out + ([f"      Message:      {st.message}"] if st.message else [])
    out = [f"    {label}:{pad}Terminated", f"      Reason:       {st.reason or 'Error'}"]
    if st.message:
        out.append(f"      Message:      {st.message}")
    out.append(f"      Exit Code:    {st.exit_code if st.exit_code is not None else 137}")
    if st.signal:
        out.append(f"      Signal:       {st.signal}")
    return out + [f"      Started:      {_ts(st.started or created)}",
                  f"      Finished:     {_ts(st.finished or created)}"]


def _describe_container(c: Container, st: ContainerState | None, created: float) -> list[str]:
    st = st or ContainerState("waiting", reason="ContainerCreating")
    out = [f"  {c.name}:", f"    Image:          {c.image}"]
    for p in c.ports or ():
        out.append(f"    Port:           {p.container_port}/{p.protocol}")
    if c.command:
        out.append("    Command:        " + " ".join(c.command))
    if c.args:
        out.append("    Args:           " + " ".join(c.args))
    out += _describe_state("State", st, created)
    if st.last_reason:
        out += _describe_state("Last State", ContainerState(
            "terminated", reason=st.last_reason, exit_code=st.last_exit_code,
            started=st.last_started, finished=st.last_finished), created)
    out.append(f"    Ready:          {container_ready(c, st) or st.completed}")
    out.append(f"    Restart Count:  {st.restarts}")
    if c.liveness:
        out.append("    " + _probe_text("Liveness", c.liveness))
    if c.readiness:
        out.append("    " + _probe_text("Readiness", c.readiness))
    return out


def describe_pod(plan: LabPlan, pod: PodInfo, procs: Procs, events: list[Event],
                 created: float, now: float | None = None) -> str:
    """kubectl describe pod, for the fields netlab has."""
    now = now or time.time()
    node = plan.node(pod.node)
    status = pod_status(pod, procs)
    states = procs.get(pod.key, {})
    labels = [f"{k}={v}" for k, v in pod.labels] or ["<none>"]
    out = [f"Name:             {pod.name}", f"Namespace:        {pod.namespace}",
           f"Node:             {pod.node}/{node.lan_ip}",
           f"Start Time:       {_ts(created)}",
           f"Labels:           {labels[0]}", *(f"                  {x}" for x in labels[1:]),
           f"Status:           {status.phase}", f"IP:               {pod.ip}"]
    if pod.owner:
        out.append(f"Controlled By:    ReplicaSet/{pod.owner.split('/', 1)[1]}-"
                   f"{pod.template_hash}")
    if pod.spec.init_containers:
        out.append("Init Containers:")
        for c in pod.spec.init_containers:
            out += _describe_container(c, states.get(c.name), created)
    out.append("Containers:")
    for c in pod.spec.containers:
        out += _describe_container(c, states.get(c.name), created)
    ready = str(status.initialized and status.ready == status.total)
    out += ["Conditions:", "  Type              Status",
            f"  Initialized       {status.initialized}", f"  Ready             {ready}",
            f"  ContainersReady   {ready}", "  PodScheduled      True"]
    return "\n".join(out + events_block(events, now))


def events_block(events: list[Event], now: float) -> list[str]:
    """kubectl describe's Events table."""
    if not events:
        return ["Events:            <none>"]
    rows = []
    for e in events:
        age = human_age(now - e.last)
        if e.count > 1:
            age = f"{age} (x{e.count} over {human_age(e.last - e.first)})"
        source = "default-scheduler" if e.reason == "Scheduled" else "kubelet"
        rows.append([e.type, e.reason, age, source, e.message])
    return ["Events:"] + ["  " + line for line in table(
        ["Type", "Reason", "Age", "From", "Message"],
        [["----", "------", "----", "----", "-------"], *rows]).splitlines()]


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
        ready = sum(1 for p in pods if pod_status(p, procs).ready == len(p.spec.containers))
        row = [name, f"{ready}/{len(pods)}", str(len(pods)), str(ready),
               human_age(now - created)]
        if namespace is None:
            row.insert(0, ns)
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


def _event_rows(events: dict[str, list[Event]], namespace: str | None):
    """(namespace, object, event) in time order; node events live in "default"."""
    rows = []
    for key, evs in events.items():
        if key.startswith("node/"):
            ns, obj = "default", key
        else:
            ns, name = key.split("/", 1)
            obj = f"pod/{name}"
        if namespace is None or ns == namespace:
            rows += [(ns, obj, e) for e in evs]
    return sorted(rows, key=lambda r: r[2].last)


def events_table(events: dict[str, list[Event]], namespace: str | None,
                 now: float | None = None) -> str:
    """kubectl get events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE."""
    now = now or time.time()
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    rows = []
    for ns, obj, e in _event_rows(events, namespace):
        row = [human_age(now - e.last), e.type, e.reason, obj, e.message]
        if namespace is None:
            row.insert(0, ns)
        rows.append(row)
    return table(headers, rows) if rows else _none(namespace)


def event_objects(events: dict[str, list[Event]], namespace: str | None) -> list[dict]:
    out = []
    for ns, obj, e in _event_rows(events, namespace):
        kind, name = obj.split("/", 1)
        out.append({"apiVersion": "v1", "kind": "Event", "type": e.type, "reason": e.reason,
                    "message": e.message, "count": e.count,
                    "firstTimestamp": _ts(e.first), "lastTimestamp": _ts(e.last),
                    "involvedObject": {"kind": "Pod" if kind == "pod" else "Node",
                                       "name": name, **({"namespace": ns}
                                                        if kind == "pod" else {})},
                    "metadata": {"namespace": ns},
                    "source": {"component": "default-scheduler" if e.reason == "Scheduled"
                               else "kubelet"}})
    return out


# -- get: one entry point per output form ---------------------------------------------------

RESOURCES = {"deployments": "deploy", "deployment": "deploy", "deploy": "deploy",
             "pods": "pods", "pod": "pods", "po": "pods", "services": "svc", "service": "svc",
             "svc": "svc", "endpoints": "ep", "ep": "ep", "endpointslices": "eps",
             "endpointslice": "eps", "nodes": "nodes", "node": "nodes", "no": "nodes",
             "events": "events", "event": "events", "ev": "events"}


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

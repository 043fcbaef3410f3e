"""Services, Endpoints and EndpointSlices as kubectl shows them. Pure."""

from __future__ import annotations

import time

from netlab.model import LabPlan, ServiceInfo
from netlab.objects.common import human_age, none_found, table, ts
from netlab.plan.naming import generated_suffix


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
    status = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}
                                           for ip in svc.load_balancer_ips]}
              if svc.load_balancer_ips else {}}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc.name, "namespace": svc.namespace,
                         "labels": dict(svc.labels), "creationTimestamp": ts(created)},
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
                        "labels": dict(svc.labels), "creationTimestamp": ts(created)}}
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
                "namespace": svc.namespace, "creationTimestamp": ts(created),
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


def services_table(plan: LabPlan, created: float, wide: bool, namespace: str | None,
                   now: float | None = None, prefix: str = "") -> str:
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
        row = [prefix + svc.name, svc.type, cluster_ip, external, ports, human_age(now - created)]
        if namespace is None:
            row.insert(0, svc.namespace)
        if wide:
            row.append(",".join(f"{k}={v}" for k, v in svc.selector) if svc.selector
                       else "<none>")
        rows.append(row)
    return table(headers, rows) if rows else none_found(namespace)


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
    return table(headers, rows) if rows else none_found(namespace)


def describe_service(plan: LabPlan, info: ServiceInfo, events: list | None = None,
                     now: float = 0.0) -> str:
    """kubectl describe service NAME."""
    from netlab.objects.common import events_block

    svc = info.service
    cluster_ip, external, _ports = service_columns(info)
    selector = ",".join(f"{k}={v}" for k, v in svc.selector or ()) or "<none>"
    notes = ", ".join(f"{k}: {v}" for k, v in svc.annotations) or "<none>"
    lines = [f"Name:                     {svc.name}",
             f"Namespace:                {svc.namespace}",
             *_labels_block("Labels:", dict(svc.labels), 26),
             f"Annotations:              {notes}",
             f"Selector:                 {selector}",
             f"Type:                     {svc.type}"]
    if svc.type == "ExternalName":
        lines.append(f"External Name:            {svc.external_name}")
    else:
        lines += ["IP Family Policy:         SingleStack", "IP Families:              IPv4",
                  f"IP:                       {cluster_ip}",
                  f"IPs:                      {cluster_ip}"]
    if svc.external_ips:
        lines.append(f"External IPs:             {','.join(svc.external_ips)}")
    if svc.type == "LoadBalancer":
        lines.append("LoadBalancer Ingress:     " + (", ".join(
            f"{ip} (VIP)" for ip in svc.load_balancer_ips) or "<pending>"))
    groups = _endpoint_groups(plan, svc.namespace, svc.name)
    for p in svc.ports:
        label = p.name or "<unset>"
        lines.append(f"Port:                     {label}  {p.port}/{p.protocol}")
        lines.append(f"TargetPort:               {p.target_port}/{p.protocol}")
        if p.node_port:
            lines.append(f"NodePort:                 {label}  {p.node_port}/{p.protocol}")
        addrs = [f"{a[0]}:{number}" for ports, members in groups for a in members if a[3]
                 for pname, number, proto in ports
                 if pname == p.name and proto == p.protocol]
        lines.append(f"Endpoints:                {','.join(addrs) or '<none>'}")
    lines.append(f"Session Affinity:         {svc.session_affinity}")
    if svc.type in ("NodePort", "LoadBalancer"):
        lines.append(f"External Traffic Policy:  {svc.external_traffic_policy}")
    lines.append(f"Internal Traffic Policy:  {svc.internal_traffic_policy}")
    lines += events_block(events or [], now)
    return "\n".join(lines)


def _labels_block(title: str, labels: dict, width: int) -> list[str]:
    items = [f"{k}={v}" for k, v in sorted(labels.items())] or ["<none>"]
    pad = " " * width
    return [f"{title:<{width}}{items[0]}", *(pad + i for i in items[1:])]


def _ports_block(ports: list[dict], indent: str) -> list[str]:
    rows = [[p.get("name") or "<unset>", str(p["port"]), p["protocol"]] for p in ports]
    return [indent + line for line in table(
        ["Name", "Port", "Protocol"], [["----", "----", "--------"], *rows]).splitlines()]


def describe_endpoints(obj: dict) -> str:
    """kubectl describe endpoints NAME, from the Endpoints object."""
    meta = obj["metadata"]
    lines = [f"Name:         {meta['name']}", f"Namespace:    {meta['namespace']}",
             *_labels_block("Labels:", meta.get("labels") or {}, 14),
             "Annotations:  <none>", "Subsets:"]
    for subset in obj.get("subsets", []):
        ready = ",".join(a["ip"] for a in subset.get("addresses", [])) or "<none>"
        not_ready = ",".join(a["ip"] for a in subset.get("notReadyAddresses", [])) or "<none>"
        lines += [f"  Addresses:          {ready}", f"  NotReadyAddresses:  {not_ready}",
                  "  Ports:", *_ports_block(subset["ports"], "    "), ""]
    lines.append("Events:  <none>")
    return "\n".join(lines)


def describe_endpointslice(obj: dict) -> str:
    """kubectl describe endpointslice NAME, from the EndpointSlice object."""
    meta = obj["metadata"]
    lines = [f"Name:         {meta['name']}", f"Namespace:    {meta['namespace']}",
             *_labels_block("Labels:", meta.get("labels") or {}, 14),
             "Annotations:  <none>", f"AddressType:  {obj['addressType']}", "Ports:",
             *_ports_block(obj["ports"], "  "), "Endpoints:"]
    for e in obj["endpoints"]:
        c = e["conditions"]
        ref = e.get("targetRef")
        lines += [f"  - Addresses:  {','.join(e['addresses'])}", "    Conditions:",
                  f"      Ready:    {str(c['ready']).lower()}",
                  f"      Serving:  {str(c['serving']).lower()}",
                  f"      Terminating:  {str(c['terminating']).lower()}",
                  "    Hostname:   <unset>",
                  f"    TargetRef:  {ref['kind']}/{ref['name']}" if ref else
                  "    TargetRef:  <unset>",
                  f"    NodeName:   {e.get('nodeName', '<unset>')}", "    Zone:       <unset>"]
    lines.append("Events:         <none>")
    return "\n".join(lines)

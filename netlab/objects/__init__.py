"""The lab as Kubernetes objects (for ``get -o json|yaml``) and kubectl-style tables and
descriptions, one module per kind of object. Pure."""

from __future__ import annotations

from dataclasses import replace

from netlab.objects.common import (  # noqa: F401
    K8S_VERSION,
    LabView,
    Procs,
    human_age,
    none_found,
    table,
    ts,
)
from netlab.objects.events import event_lines, event_objects, events_table, events_text  # noqa: F401,E501
from netlab.objects.gateways import (  # noqa: F401
    describe_gateway,
    describe_httproute,
    gatewayclasses_table,
    gateways_table,
    httproutes_table,
)
from netlab.objects.ingresses import (  # noqa: F401
    describe_ingress,
    ingress_object,
    ingressclasses_table,
    ingresses_table,
)
from netlab.objects.nodes import describe_node, node_object, nodes_table  # noqa: F401
from netlab.objects.pods import (  # noqa: F401
    PodStatus,
    container_ready,
    container_status,
    describe_pod,
    pod_object,
    pod_status,
    pods_table,
)
from netlab.objects.services import (  # noqa: F401
    describe_endpoints,
    describe_endpointslice,
    describe_service,
    endpoints_object,
    endpoints_table,
    endpointslice_objects,
    service_columns,
    service_object,
    services_table,
)
from netlab.objects.workloads import (  # noqa: F401
    daemonsets_table,
    deployments_table,
    describe_daemonset,
    describe_deployment,
    describe_job,
    describe_replicaset,
    jobs_table,
    replicaset_object,
    replicasets_table,
    rollout_history,
    rollout_status,
    workload_object,
)

WORKLOAD_KINDS = {"deploy": "Deployment", "ds": "DaemonSet", "jobs": "Job"}

RESOURCES = {"deployments": "deploy", "deployment": "deploy", "deploy": "deploy",
             "pods": "pods", "pod": "pods", "po": "pods", "services": "svc", "service": "svc",
             "svc": "svc", "endpoints": "ep", "ep": "ep", "endpointslices": "eps",
             "endpointslice": "eps", "nodes": "nodes", "node": "nodes", "no": "nodes",
             "events": "events", "event": "events", "ev": "events",
             "replicasets": "rs", "replicaset": "rs", "rs": "rs", "daemonsets": "ds",
             "daemonset": "ds", "ds": "ds", "jobs": "jobs", "job": "jobs",
             "ingresses": "ing", "ingress": "ing", "ing": "ing",
             "ingressclasses": "ingressclasses", "ingressclass": "ingressclasses",
             "gatewayclasses": "gatewayclasses", "gatewayclass": "gatewayclasses",
             "gateways": "gateways", "gateway": "gateways", "gtw": "gateways",
             "httproutes": "httproutes", "httproute": "httproutes"}


def objects_of(kind: str, view: LabView, namespace: str | None) -> list[dict]:
    """Every object of KIND (pods, svc, ep, eps, nodes, events) as Kubernetes returns it."""
    plan, created = view.plan, view.created
    if kind == "pods":
        items = [pod_object(view, p) for p in plan.pods
                 if namespace is None or p.namespace == namespace]
        for i in items:
            i.pop("_total", None)
        return items
    if kind == "nodes":
        return [node_object(plan, n.name, created, view.release) for n in plan.nodes]
    if kind == "events":
        return event_objects(view.events, namespace)
    if kind in WORKLOAD_KINDS:
        return [workload_object(view, d) for d in plan.workloads
                if d.kind == WORKLOAD_KINDS[kind]
                and (namespace is None or d.namespace == namespace)]
    if kind == "ing":
        return [ingress_object(view, i) for i in plan.ingresses
                if namespace is None or i.namespace == namespace]
    if kind in ("gatewayclasses", "gateways", "httproutes"):
        from netlab.model.codec import to_data

        attr, kind_name = {"gatewayclasses": ("gateway_classes", "GatewayClass"),
                           "gateways": ("gateways", "Gateway"),
                           "httproutes": ("http_routes", "HTTPRoute")}[kind]
        return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind_name,
                 "metadata": {"name": x.name, **({"namespace": x.namespace}
                                                 if hasattr(x, "namespace") else {})},
                 "spec": to_data(x)} for x in getattr(plan, attr)
                if namespace is None or getattr(x, "namespace", namespace) == namespace]
    if kind == "ingressclasses":
        return [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                 "metadata": {"name": c.name, **({"annotations": {
                     "ingressclass.kubernetes.io/is-default-class": "true"}} if c.default
                     else {})}, "spec": {"controller": c.controller}}
                for c in plan.ingress_classes]
    if kind == "rs":
        return [replicaset_object(view, rs) for rs in plan.replicasets if rs.kind == "ReplicaSet"
                and (namespace is None or rs.namespace == namespace)]
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


def only(view: LabView, kind: str, name: str) -> LabView | None:
    """VIEW reduced to the object NAME of KIND for a table, or None when there is none."""
    plan = view.plan
    if kind in ("deploy", "ds", "jobs"):
        found_w = tuple(d for d in plan.workloads if d.name == name)
        return replace(view, plan=replace(plan, workloads=found_w)) if found_w else None
    if kind == "rs":
        found_r = tuple(r for r in plan.replicasets if r.name == name)
        return replace(view, plan=replace(plan, replicasets=found_r)) if found_r else None
    if kind == "ing":
        found_i = tuple(i for i in plan.ingresses if i.name == name)
        return replace(view, plan=replace(plan, ingresses=found_i)) if found_i else None
    if kind in ("gatewayclasses", "gateways", "httproutes"):
        attr = {"gatewayclasses": "gateway_classes", "gateways": "gateways",
                "httproutes": "http_routes"}[kind]
        found_g = tuple(x for x in getattr(plan, attr) if x.name == name)
        return replace(view, plan=replace(plan, **{attr: found_g})) if found_g else None
    if kind == "ingressclasses":
        found_c = tuple(c for c in plan.ingress_classes if c.name == name)
        return replace(view, plan=replace(plan, ingress_classes=found_c)) if found_c else None
    if kind == "pods":
        found = tuple(p for p in plan.pods if p.name == name)
        return replace(view, plan=replace(plan, pods=found)) if found else None
    if kind == "nodes":
        found_n = tuple(n for n in plan.nodes if n.name == name)
        return replace(view, plan=replace(plan, nodes=found_n)) if found_n else None
    found_s = tuple(s for s in plan.services if s.service.name == name)
    return replace(view, plan=replace(plan, services=found_s)) if found_s else None


def table_of(kind: str, view: LabView, wide: bool, namespace: str | None) -> str:
    """The kubectl-style table of every object of KIND."""
    plan, created = view.plan, view.created
    if kind == "deploy":
        return deployments_table(view, namespace, wide=wide)
    if kind == "rs":
        return replicasets_table(view, namespace, wide=wide)
    if kind == "ds":
        return daemonsets_table(view, namespace, wide=wide)
    if kind == "jobs":
        return jobs_table(view, namespace)
    if kind == "pods":
        return pods_table(view, wide, namespace)
    if kind == "ing":
        return ingresses_table(view, namespace)
    if kind == "ingressclasses":
        return ingressclasses_table(view)
    if kind == "gatewayclasses":
        return gatewayclasses_table(view)
    if kind == "gateways":
        return gateways_table(view, namespace)
    if kind == "httproutes":
        return httproutes_table(view, namespace)
    if kind == "svc":
        return services_table(plan, created, wide, namespace)
    if kind in ("ep", "eps"):
        return endpoints_table(plan, created, namespace)
    if kind == "events":
        return events_table(view.events, namespace)
    return nodes_table(plan, created, wide, view.release, down=view.nodes_down)


ALL = (("pods", "pod/"), ("svc", "service/"), ("ds", "daemonset.apps/"),
       ("deploy", "deployment.apps/"), ("rs", "replicaset.apps/"), ("jobs", "job.batch/"))


def all_tables(view: LabView, namespace: str | None) -> str:
    """kubectl get all: pods, services, daemonsets, deployments, replicasets and jobs, each
    table with its kind before the names; the empty ones left out."""
    plan, out = view.plan, []
    tables = {"pods": lambda p: pods_table(view, False, namespace, prefix=p),
              "svc": lambda p: services_table(plan, view.created, False, namespace, prefix=p),
              "ds": lambda p: daemonsets_table(view, namespace, prefix=p),
              "deploy": lambda p: deployments_table(view, namespace, prefix=p),
              "rs": lambda p: replicasets_table(view, namespace, prefix=p),
              "jobs": lambda p: jobs_table(view, namespace, prefix=p)}
    for kind, prefix in ALL:
        text = tables[kind](prefix)
        if not text.startswith("No resources found"):
            out.append(text)
    return "\n\n".join(out) if out else none_found(namespace)


def matches(labels: dict[str, str], selector: str) -> bool:
    """Does LABELS match a label selector as kubectl -l takes it (k=v, k==v, k!=v, k, !k,
    comma-separated)?"""
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            k, v = term.split("!=", 1)
            ok = labels.get(k.strip()) != v.strip()
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            ok = labels.get(k.strip()) == v.strip()
        elif term.startswith("!"):
            ok = term[1:].strip() not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def selected(view: LabView, selector: str) -> LabView:
    """VIEW with only the objects whose labels match SELECTOR."""
    plan = view.plan
    return replace(view, plan=replace(
        plan, pods=tuple(p for p in plan.pods if matches(p.label_map, selector)),
        services=tuple(s for s in plan.services if matches(dict(s.service.labels), selector)),
        workloads=tuple(d for d in plan.workloads if matches(dict(d.labels), selector)),
        replicasets=tuple(r for r in plan.replicasets if matches(dict(r.labels), selector))))

"""get, describe: the lab as kubectl shows a cluster."""

from __future__ import annotations

import sys

import click

from netlab import console, objects
from netlab.cli.base import attend, main
from netlab.errors import NetlabError, UsageError
from netlab.lifecycle import query


@main.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-o", "--output", type=click.Choice(["wide", "json", "yaml"]), default=None)
@click.option("-w", "--watch", is_flag=True, help="events: keep printing new ones.")
@click.option("-l", "--selector", default="", help="Only objects with these labels (k=v,k!=v).")
def get(kind, name, lab, namespace, all_namespaces, output, watch, selector) -> None:
    """Show pods, deploy, rs, ds, jobs, svc, ep, endpointslices, nodes, events or all, as
    kubectl does."""
    if kind not in objects.RESOURCES and kind != "all":
        raise UsageError(f"unknown resource type '{kind}' (all, pods, deploy, rs, ds, jobs, svc, "
                         "ep, endpointslices, ingress, ingressclasses, gatewayclasses, "
                         "gateways, httproutes, nodes, events)")
    view = query.view(query.load(attend(lab)))
    if selector:
        view = objects.selected(view, selector)
    ns = None if all_namespaces else namespace
    if kind == "all":
        console.print_plain(objects.all_tables(view, ns))
        return
    kind = objects.RESOURCES[kind]
    if output in ("json", "yaml"):
        items = objects.objects_of(kind, view, ns)
        if name:
            items = objects.named(kind, items, name)
            if not items:
                raise UsageError(f"{kind} \"{name}\" not found")
            if len(items) == 1:
                console.print_data(items[0], output)
                return
        console.print_data({"apiVersion": "v1", "kind": "List", "items": items,
                            "metadata": {"resourceVersion": ""}}, output)
        return
    if kind == "events" and watch:
        _watch_events(attend(lab), ns)
        return
    if name and kind != "events":
        reduced = objects.only(view, kind, name)
        if reduced is None:
            raise UsageError(f"{kind} \"{name}\" not found")
        view = reduced
    console.print_plain(objects.table_of(kind, view, output == "wide", ns))


DESCRIBE = {"pod": "pods", "pods": "pods", "po": "pods", "deploy": "deploy",
            "deployment": "deploy", "deployments": "deploy", "rs": "rs", "replicaset": "rs",
            "replicasets": "rs", "ds": "ds", "daemonset": "ds", "daemonsets": "ds",
            "svc": "svc", "service": "svc", "services": "svc", "node": "nodes",
            "nodes": "nodes", "no": "nodes", "ep": "ep", "endpoints": "ep",
            "endpointslice": "eps", "endpointslices": "eps", "job": "jobs", "jobs": "jobs",
            "ingress": "ing", "ingresses": "ing", "ing": "ing", "gateway": "gateways",
            "gateways": "gateways", "gtw": "gateways", "httproute": "httproutes",
            "httproutes": "httproutes"}


def _split_ref(ref: str, name: str | None) -> tuple[str, str]:
    """TYPE/NAME or TYPE NAME, as kubectl takes them."""
    if "/" in ref:
        kind, _, got = ref.partition("/")
        return kind, got
    return ref, name or ""


@main.command()
@click.argument("ref")
@click.argument("name", required=False)
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
def describe(ref, name, lab, namespace) -> None:
    """Describe an object as kubectl does: netlab describe pod/NAME (deploy, rs, ds, svc,
    node)"""
    kind, name = _split_ref(ref, name)
    if kind not in DESCRIBE or not name:
        raise UsageError(f"describe takes TYPE/NAME ({', '.join(sorted(set(DESCRIBE)))}), "
                         f"got '{ref}'")
    kind = DESCRIBE[kind]
    view = query.view(query.load(attend(lab)))
    plan = view.plan
    now = None
    if kind == "pods":
        pod = next((p for p in plan.pods if p.name == name and p.namespace == namespace), None)
        if pod is not None:
            console.print_plain(objects.describe_pod(view, pod))
            return
    elif kind in ("deploy", "ds"):
        want = "Deployment" if kind == "deploy" else "DaemonSet"
        d = next((d for d in plan.workloads if d.kind == want and d.name == name
                  and d.namespace == namespace), None)
        if d is not None:
            console.print_plain(objects.describe_deployment(view, d) if kind == "deploy"
                                else objects.describe_daemonset(view, d))
            return
    elif kind == "rs":
        rs = next((r for r in plan.replicasets if r.name == name and r.namespace == namespace),
                  None)
        if rs is not None:
            console.print_plain(objects.describe_replicaset(view, rs))
            return
    elif kind == "svc":
        info = next((i for i in plan.services if i.service.name == name
                     and i.service.namespace == namespace), None)
        if info is not None:
            import time

            now = time.time()
            console.print_plain(objects.describe_service(
                plan, info, view.events.get(f"{namespace}/service/{name}", []), now))
            return
    elif kind in ("ep", "eps"):
        items = objects.named(kind, objects.objects_of(kind, view, namespace), name)
        if items:
            show = objects.describe_endpoints if kind == "ep" else objects.describe_endpointslice
            console.print_plain("\n\n".join(show(i) for i in items))
            return
    elif kind == "ing":
        ing = next((i for i in plan.ingresses if i.name == name and i.namespace == namespace),
                   None)
        if ing is not None:
            import time

            console.print_plain(objects.describe_ingress(view, ing, time.time()))
            return
    elif kind in ("gateways", "httproutes"):
        items = plan.gateways if kind == "gateways" else plan.http_routes
        obj = next((x for x in items if x.name == name and x.namespace == namespace), None)
        if obj is not None:
            console.print_plain(objects.describe_gateway(view, obj) if kind == "gateways"
                                else objects.describe_httproute(view, obj))
            return
    elif kind == "jobs":
        d = next((d for d in plan.workloads if d.kind == "Job" and d.name == name
                  and d.namespace == namespace), None)
        if d is not None:
            console.print_plain(objects.describe_job(view, d))
            return
    else:
        if any(n.name == name for n in plan.nodes):
            console.print_plain(objects.describe_node(plan, name, view.created, view.release))
            return
        raise UsageError(f'nodes "{name}" not found')
    resource = {"pods": "pods", "deploy": "deployments.apps", "rs": "replicasets.apps",
                "ds": "daemonsets.apps", "svc": "services", "ep": "endpoints",
                "eps": "endpointslices.discovery.k8s.io", "jobs": "jobs.batch",
                "ing": "ingresses.networking.k8s.io",
                "gateways": "gateways.gateway.networking.k8s.io",
                "httproutes": "httproutes.gateway.networking.k8s.io"}[kind]
    raise UsageError(f'{resource} "{name}" not found in namespace {namespace}')


def deployment_ref(fn):
    """The arguments every rollout command takes: deploy/NAME (or deploy NAME), --lab, -n."""
    for deco in reversed((click.argument("ref"), click.argument("name", required=False),
                          click.option("--lab"),
                          click.option("-n", "--namespace", default="default"))):
        fn = deco(fn)
    return fn


@main.group()
def rollout() -> None:
    """Manage a Deployment's rollout: status, history, undo."""


def _deployment(lab: str | None, ref: str, name: str | None, namespace: str):
    kind, name = _split_ref(ref, name)
    if kind not in ("deploy", "deployment", "deployments") or not name:
        raise UsageError(f"rollout takes deploy/NAME, got '{ref}'")
    lab = attend(lab)
    view = query.view(query.load(lab))
    d = next((d for d in view.plan.workloads if d.kind == "Deployment" and d.name == name
              and d.namespace == namespace), None)
    if d is None:
        raise UsageError(f'deployments.apps "{name}" not found in namespace {namespace}')
    return lab, view, d


@rollout.command("status")
@deployment_ref
@click.option("-w", "--watch/--no-watch", default=True, help="Wait until the rollout ends.")
@click.option("--timeout", type=float, default=300.0, help="Seconds to wait (0: forever).")
def rollout_status(ref, name, lab, namespace, watch, timeout) -> None:
    """Wait for a Deployment's rollout and print its progress as kubectl does."""
    import time

    lab, view, d = _deployment(lab, ref, name, namespace)
    start, last = time.monotonic(), ""
    while True:
        line, done = objects.rollout_status(view, d)
        if line != last:
            console.print_plain(line)
            last = line
        if done or not watch:
            return
        if timeout and time.monotonic() - start > timeout:
            raise NetlabError("timed out waiting for the condition")
        time.sleep(0.2)
        _lab, view, d = _deployment(lab, ref, name, namespace)


@rollout.command("restart")
@deployment_ref
def rollout_restart(ref, name, lab, namespace) -> None:
    """Restart a Deployment's pods with a rollout (a new revision of the same template)."""
    from netlab.lifecycle.change import restart_rollout

    lab, _view, d = _deployment(lab, ref, name, namespace)
    restart_rollout(lab, namespace, d.name)
    console.print_plain(f"deployment.apps/{d.name} restarted")


@rollout.command("history")
@deployment_ref
def rollout_history(ref, name, lab, namespace) -> None:
    """List a Deployment's revisions."""
    _lab, view, d = _deployment(lab, ref, name, namespace)
    console.print_plain(objects.rollout_history(view, d))


@rollout.command("undo")
@deployment_ref
@click.option("--to-revision", type=int, default=0, help="The revision (default: the last).")
def rollout_undo(ref, name, lab, namespace, to_revision) -> None:
    """Roll a Deployment back to an earlier revision's pod template."""
    from netlab.lifecycle.change import change
    from netlab.scenario.edits import set_template

    lab, view, d = _deployment(lab, ref, name, namespace)
    sets = sorted((rs for rs in view.plan.replicasets if rs.owner == d.name
                   and rs.namespace == namespace), key=lambda rs: -rs.revision)
    if to_revision:
        target = next((rs for rs in sets if rs.revision == to_revision), None)
        if target is None:
            raise UsageError(f"unable to find specified revision {to_revision} in history")
    else:
        if len(sets) < 2:
            raise UsageError(f'no rollout history found for deployment "{d.name}"')
        target = sets[1]
    if target is sets[0]:
        console.print_plain(f"deployment.apps/{d.name} skipped rollback (current template "
                            f"already matches revision {target.revision})")
        return
    import json

    template = json.loads(target.raw_template)
    change(lab, lambda docs: set_template(docs, namespace, d.name, template, lab))
    console.print_plain(f"deployment.apps/{d.name} rolled back")


@main.command()
@click.argument("ref")
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("-c", "--container", default="", help="The container (default: the first).")
def logs(ref, lab, namespace, container) -> None:
    """Print a container's output, every run of it: netlab logs pod/NAME [-c CONTAINER]"""
    kind, _, name = ref.partition("/")
    if kind not in ("pod", "pods", "po", "deploy", "deployment") or not name:
        raise UsageError(f"logs takes pod/NAME or deploy/NAME, got '{ref}'")
    state = query.load(attend(lab))
    pods = sorted((p for p in state.plan.pods if p.namespace == namespace and (
        p.name == name if kind.startswith("po") else p.owner == f"Deployment/{name}")),
        key=lambda p: p.name)
    if not pods:
        raise UsageError(f'{ref} not found in namespace {namespace}')
    path = query.log_path(state, pods[0].key, container)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    sys.stdout.buffer.write(data)


def _watch_events(lab: str, namespace: str | None) -> None:
    """get events -w: the events so far, then each new one as it comes (Ctrl-C ends)."""
    import time

    seen: set[tuple] = set()
    first = True
    try:
        while True:
            events = query.load(lab).events
            rows = objects.event_lines(events, namespace, seen)
            if rows or first:
                console.print_plain(objects.events_text(rows, namespace, header=first))
            first = False
            time.sleep(0.5)
    except KeyboardInterrupt:
        return

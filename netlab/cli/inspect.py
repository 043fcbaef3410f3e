"""get, describe: the lab as kubectl shows a cluster."""

from __future__ import annotations

import sys

import click

from netlab import console, objects
from netlab.cli.base import attend, main
from netlab.errors import UsageError
from netlab.lifecycle import query


@main.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-o", "--output", type=click.Choice(["wide", "json", "yaml"]), default=None)
def get(kind, name, lab, namespace, all_namespaces, output) -> None:
    """Show pods, deploy, svc, ep, endpointslices, nodes or events, as kubectl does."""
    if kind not in objects.RESOURCES:
        raise UsageError(f"unknown resource type '{kind}' (pods, deploy, svc, ep, "
                         "endpointslices, nodes, events)")
    kind = objects.RESOURCES[kind]
    view = query.view(query.load(attend(lab)))
    ns = None if all_namespaces else namespace
    if output in ("json", "yaml"):
        if kind == "deploy":
            raise UsageError("get deploy prints a table only")
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
    if name and kind not in ("deploy", "events"):
        reduced = objects.only(view, kind, name)
        if reduced is None:
            raise UsageError(f"{kind} \"{name}\" not found")
        view = reduced
    console.print_plain(objects.table_of(kind, view, output == "wide", ns))


@main.command()
@click.argument("ref")
@click.option("--lab")
@click.option("-n", "--namespace", default="default")
def describe(ref, lab, namespace) -> None:
    """Show a pod's containers, probes, conditions and events: netlab describe pod/NAME"""
    kind, _, name = ref.partition("/")
    if kind not in ("pod", "pods", "po") or not name:
        raise UsageError(f"describe takes pod/NAME, got '{ref}'")
    view = query.view(query.load(attend(lab)))
    pod = next((p for p in view.plan.pods if p.name == name and p.namespace == namespace),
               None)
    if pod is None:
        raise UsageError(f'pod "{name}" not found in namespace {namespace}')
    console.print_plain(objects.describe_pod(view, pod))


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

"""up, down, status, test, steps: labs as a whole."""

from __future__ import annotations

import os
import sys
import time

import click

from netlab import console, objects
from netlab.checks.runner import LabActions, junit_xml, run_checks
from netlab.cli.base import attend, build, main, note_lab, pick_lab, report, scenario
from netlab.errors import UsageError
from netlab.kernel.api import real
from netlab.lifecycle.down import teardown
from netlab.lifecycle.preflight import require_root
from netlab.lifecycle.supervise import controller_alive
from netlab.state import LabDir, list_labs
from netlab.state.store import output_file


@main.command()
@click.argument("file", required=False, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path(),
              help="More manifests: a file or a folder (like kubectl apply -f).")
@click.option("--name", default="", help="Lab name when the files hold no Lab document.")
@click.option("--no-checks", is_flag=True, help="Do not run the scenario's checks.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def up(file, manifests, name, no_checks, output) -> None:
    """Build a lab (no FILE: the built-in ClusterIP lab) and run its checks."""
    require_root()
    sc = scenario(file, manifests, name)
    plan = build(sc)
    if sc.checks and not no_checks:
        ok = report(run_checks(plan, list(sc.checks), actions=actions(sc.lab.name)), output)
        console.err.print(f"the lab stays up: netlab get pods, netlab exec, "
                          f"netlab down {sc.lab.name}")
        sys.exit(0 if ok else 1)


@main.command()
@click.argument("lab", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every lab.")
def down(lab, all_) -> None:
    """Remove a lab and everything it created (idempotent)."""
    require_root()
    if all_ and lab:
        raise UsageError("give a lab name or --all, not both")
    for name in list_labs() if all_ else [lab or pick_lab(None)]:
        note_lab(name)
        if not LabDir(name).exists():
            console.err.print(f"lab {name} is not up; nothing to do")
            continue
        counts = teardown(name)
        console.err.print(f"lab {name} removed: {counts['namespaces']} namespace(s), "
                          f"{counts['processes']} process(es)")


@main.command()
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def status(output) -> None:
    """Labs that are up."""
    rows, data = [], []
    for name in list_labs():
        state = LabDir(name).load_state()
        if state is None:
            rows.append([name, f"incomplete (netlab down {name})", "", "", "", "", ""])
            data.append({"name": name, "status": "incomplete"})
            continue
        plan = state.plan
        alive = controller_alive(LabDir(name), real())
        if not alive:
            console.err.print(f"netlab: lab {name}: its controller is not running (containers "
                              "are not restarted, probes not run); any netlab command on the "
                              "lab starts it again")
        rows.append([name, "Up" if alive else "Degraded", str(len(plan.nodes)),
                     str(len(plan.pods)),
                     str(len(plan.services)), f"{plan.spec.proxy_mode}/{plan.spec.routing}",
                     objects.human_age(time.time() - state.created)])
        data.append({"name": name, "status": "up" if alive else "degraded",
                     "controller": "running" if alive else "stopped", "nodes": len(plan.nodes),
                     "pods": len(plan.pods), "services": len(plan.services),
                     "proxyMode": plan.spec.proxy_mode, "routing": plan.spec.routing})
    if output != "table":
        console.print_data(data, output)
    elif rows:
        console.print_plain(objects.table(["LAB", "STATUS", "NODES", "PODS", "SERVICES", "MODE",
                                           "AGE"], rows))
    else:
        console.err.print("no lab is up")


@main.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path())
@click.option("--junit", type=click.Path(), help="Write JUnit XML here.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
def test(files, manifests, junit, output) -> None:
    """Build each lab, run its checks, tear it down; exit 0 only if every check passes."""
    require_root()
    scenarios = [scenario(f, manifests) for f in (files or [None])]
    for sc in scenarios:
        if not sc.checks:
            raise UsageError(f"{sc.sources[0]}: the scenario has no Check documents")
    names = [sc.lab.name for sc in scenarios]
    if len(set(names)) < len(names):
        raise UsageError(f"two scenarios name the same lab ({', '.join(names)}): rename one")
    suites = []
    for sc in scenarios:
        note_lab(sc.lab.name)
        plan = build(sc)
        try:
            results = run_checks(plan, list(sc.checks), actions=actions(sc.lab.name))
        finally:
            teardown(sc.lab.name)
            console.err.print(f"lab {sc.lab.name} removed")
        if output == "table":
            report(results, output)
        suites.append((sc.lab.name, results))
    everything = [r for _n, rs in suites for r in rs]
    if output != "table":
        console.print_data([dict(console.result_data(r), lab=name) for name, rs in suites
                            for r in rs], output)
    elif len(suites) > 1:
        console.out.print(f"total of {len(suites)} labs: " + console.counts_text(everything))
    if junit:
        with os.fdopen(output_file(junit), "w", encoding="utf-8") as f:
            f.write(junit_xml(suites))
    sys.exit(0 if all(r.passed for r in everything) else 1)


@main.command()
@click.argument("file", required=False, type=click.Path())
@click.option("-f", "--filename", "manifests", multiple=True, type=click.Path())
@click.option("--sync", "show_sync", is_flag=True,
              help="Print each node's first proxy sync instead (iptables-restore input, "
                   "ipset restore, IPVS operations), as netlab applies it.")
def steps(file, manifests, show_sync) -> None:
    """Print the lab as the ip commands you would type to build it by hand."""
    from netlab.plan.build import plan_lab
    from netlab.plan.manual import manual_steps
    from netlab.proxy.sync import first_syncs

    plan, _ = plan_lab(scenario(file, manifests))
    if show_sync:
        for s in first_syncs(plan):
            console.print_plain(s.describe())
        return
    for step in manual_steps(plan, python="python3"):
        if step.why:
            console.print_plain(f"\n# {step.why}")
        console.print_plain(step.shell())



def actions(lab: str) -> LabActions:
    """How checks act on running lab LAB: actions, node stops, announcers."""
    from netlab.lb.allocate import assignments
    from netlab.lifecycle import query
    from netlab.lifecycle.change import restart_rollout
    from netlab.lifecycle.nodes import set_node

    def announcer(ip: str) -> str:
        state = query.load(lab)
        return assignments(state.plan, frozenset(state.nodes_down)).get(ip, "")

    return LabActions(restart=lambda ns, name: restart_rollout(lab, ns, name, who=(
        f"the check restarting deploy/{name}")),
        done=lambda ns, name: query.rollout(lab, ns, name)[1],
        set_node=lambda node, up: set_node(lab, node, up, real()), announcer=announcer)


@main.group()
def node() -> None:
    """Take a node off the lab network and bring it back (a node failure, seen from outside)."""


@node.command("stop")
@click.argument("name")
@click.option("--lab")
def node_stop(name, lab) -> None:
    """Take node NAME off the lab network: another node takes over its load balancer
    addresses."""
    _set_node(lab, name, False)


@node.command("start")
@click.argument("name")
@click.option("--lab")
def node_start(name, lab) -> None:
    """Put node NAME back on the lab network."""
    _set_node(lab, name, True)


def _set_node(lab: str | None, name: str, up: bool) -> None:
    from netlab.lifecycle.nodes import set_node

    require_root()
    lab = attend(lab)
    changed = set_node(lab, name, up, real())
    word = "started" if up else "stopped"
    console.print_plain(f"node/{name} {word}" if changed else f"node/{name} was already {word}")

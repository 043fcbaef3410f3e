"""``up``: build a lab, journalled first; on any failure everything created so far goes."""

from __future__ import annotations

import os
import time

from netlab.errors import UsageError
from netlab.kernel.api import Kernel, real
from netlab.kernel.links import host_routes
from netlab.kernel.ns import netns_path
from netlab.lb.allocate import events as lb_events
from netlab.lifecycle import network, pods, system
from netlab.lifecycle.down import teardown
from netlab.lifecycle.preflight import check_kernel, preflight, protocols
from netlab.lifecycle.runtime import CONTROLLER, LAUNCHER, Progress, Runtime, no_progress
from netlab.lifecycle.sync import sync_rules
from netlab.model import LabPlan, Scenario
from netlab.model.state import LabState
from netlab.plan.build import initial_rollout, plan_lab
from netlab.scenario import validate_host_overlap
from netlab.state import LabDir


def up(scenario: Scenario, progress: Progress = no_progress) -> LabPlan:
    """Build the lab of SCENARIO on this machine, after checking everything it needs."""
    preflight()
    check_kernel(scenario.lab, protocols(scenario))
    validate_host_overlap(scenario.lab, host_routes())
    return build(scenario, real(), LabDir(scenario.lab.name), progress)


def build(scenario: Scenario, kernel: Kernel, ld: LabDir, progress: Progress = no_progress,
          controller: bool = True) -> LabPlan:
    name = scenario.lab.name
    if ld.exists():
        raise UsageError(f"lab '{name}' is already up (netlab down {name} to remove it)")
    now = time.time()
    first = initial_rollout(scenario, now)
    plan, ipam = plan_lab(scenario, sets=tuple(first.sets.values()))
    for ns in [plan.lan_netns, *(n.netns for n in plan.nodes), *(c.netns for c in plan.clients),
               *(p.netns for p in plan.pods if not p.spec.host_network)]:
        if kernel.namespaces.exists(netns_path(ns)):
            raise UsageError(f"network namespace {ns} already exists and is not this lab's; "
                             "nothing was created")
    ld.create()
    ld.lock()
    rt = Runtime(LabState(plan=plan, created=now, ipam=ipam,
                          sources=tuple(scenario.sources), documents=scenario.documents),
                 ld, kernel, progress)
    for key, type_, reason, message in [*first.events, *lb_events(None, plan)]:
        rt.event(key, type_, reason, message)
    try:
        own_cgroups_and_sandboxes(rt)
        # The launcher's interpreter starts while the networks are being wired.
        with kernel.processes.launcher(LAUNCHER) as launcher:
            network.build_lab_network(rt)
            network.setup_nodes(rt)
            rt.save()  # the cluster DNS pod reads its zone from the saved state
            tickets = system.submit(rt, launcher, "clients")
            pods.add(rt, plan.pods, launcher)
            sync_rules(rt)
            network.conntrack_settings(rt)
            tickets += system.submit(rt, launcher, "kube-proxies", "apiserver", "speakers")
            system.collect(rt, launcher, tickets)
        rt.save()
        if controller:
            start_controller(rt.ld, kernel)
    except BaseException:
        ld.close()
        teardown(name, kernel, ld, force_locked=True)
        raise
    ld.close()
    return rt.plan


def own_cgroups_and_sandboxes(rt: Runtime) -> None:
    """The lab's cgroup subtree (every process of the lab lives in it) and the template mount
    namespace its containers start from, each journalled before it is made, and the folders
    the containers use."""
    paths = rt.paths
    rt.ld.record({"kind": "cgroup", "path": paths.cgroup})
    for path in (paths.cgroup, paths.system_cgroup, f"{paths.cgroup}/pods"):
        rt.kernel.cgroups.create(path)
    for sub in ("sandbox", "exits", "volumes", "etc"):
        os.makedirs(f"{paths.lab}/{sub}", mode=0o700, exist_ok=True)
    rt.ld.record({"kind": "mntns", "path": paths.template})
    rt.kernel.sandboxes.make_template(paths.template)


def start_controller(ld: LabDir, kernel: Kernel) -> None:
    """The lab's controller process (detached, in the lab's system cgroup), journalled like
    every process."""
    system = f"{kernel.cgroups.lab_path(ld.lab)}/system"
    pid, start = kernel.processes.spawn([*CONTROLLER, ld.lab], ld.log_path("controller"), system)
    ld.record({"kind": "proc", "pid": pid, "start": start, "system": "controller"})


def stop_controller(ld: LabDir, kernel: Kernel) -> None:
    kernel.processes.stop([(e["pid"], e["start"]) for e in ld.entries()
                           if e.get("system") == "controller"])

"""Changing a running lab (``apply``, ``delete``, ``scale``): all or nothing.

The new documents are validated and planned first (nothing touched). Then each step registers
how to undo it before it runs, as the CNI bridge plugin's cmdAdd defers its cleanups behind a
success flag: if any step fails, the steps done so far are undone in reverse order and the lab
is as it was (its containers restarted where they had to be). Only services whose view
changed are synced, unless the proxy mode switches.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from netlab.errors import UsageError
from netlab.kernel.api import Kernel, Launcher, real
from netlab.lb.allocate import events as lb_events
from netlab.lifecycle import network, pods, system
from netlab.lifecycle.preflight import check_kernel, protocols, require_root
from netlab.lifecycle.runtime import LAUNCHER, Progress, Runtime, no_progress
from netlab.lifecycle.sync import known_readiness, sync_rules
from netlab.lifecycle.up import start_controller, stop_controller
from netlab.model import LabPlan, PodInfo, Scenario
from netlab.model.state import LabState, Proc
from netlab.plan import workloads
from netlab.plan.build import desired_pods, plan_lab, with_cluster_services
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.ipam import HostLocal
from netlab.plan.kubelet import pod_phase
from netlab.proxy.core import service_ports
from netlab.proxy.tracker import ChangeTracker
from netlab.state import LabDir

log = logging.getLogger("netlab")
Edit = Callable[[list[dict]], list[dict]]


@dataclass(frozen=True)
class Change:
    """A change decided, before anything is touched."""

    scenario: Scenario
    plan: LabPlan  # the new plan
    ipam: dict[str, dict]
    released: tuple[str, ...]
    removed: tuple[PodInfo, ...]  # pods replaced under the same name: removed at once
    added: tuple[PodInfo, ...]
    switching: bool  # the proxy mode changes
    leaving: tuple[PodInfo, ...] = ()  # pods that go: Terminating for their grace period
    reclaimed: tuple[str, ...] = ()  # terminating pods whose name a new pod takes: gone now
    grace: int | None = None  # the grace period for LEAVING (None: each pod's own)
    owners: tuple[tuple[str, str], ...] = ()  # leaving pod -> who holds its address now
    events: tuple[tuple[str, str, str, str], ...] = ()  # the workload controllers' events


def rollout_status(state: LabState, now: float) -> workloads.Status:
    """What the workload controllers know of the lab's pods, from its saved state."""
    return workloads.Status(known_readiness(state), dict(state.ready_since),
                            tuple(t.pod for t in state.terminating.values()),
                            frozenset(p.key for p in state.plan.pods) | frozenset(
                                state.terminating), now,
                            {p.key: pod_phase(p.spec, state.processes.get(p.key, {}))
                             for p in state.plan.pods if p.owner.startswith("Job/")})


def plan_change(state: LabState, edit: Edit,
                kernel_check: Callable[..., None] = check_kernel,
                grace: int | None = None, now: float | None = None,
                step: workloads.Outcome | None = None) -> Change:
    """Validate the edited documents like a scenario file and plan them, with the next step
    of every Deployment's rollout. Pure but for KERNEL_CHECK (can this kernel run the new
    proxy mode?) and the clock. Pods that go are Terminating for GRACE seconds (default:
    their terminationGracePeriodSeconds); a pod replaced under the same name goes at once.
    STEP: the workload controllers' step, when the caller decided it already."""
    from netlab.scenario.loader import Doc, build_scenario

    plan = state.plan
    docs = edit([dict(d) for d in state.documents])
    sc = build_scenario([Doc(d["file"], d["index"], d["body"]) for d in docs],
                        sources=tuple(state.sources), default_name=plan.spec.name)
    lab = plan.spec.name
    same_but_proxy = replace(sc.lab, proxy_mode=plan.spec.proxy_mode,
                             ipvs_scheduler=plan.spec.ipvs_scheduler,
                             strict_arp=plan.spec.strict_arp,
                             ipvs_vip_filter=plan.spec.ipvs_vip_filter)
    if same_but_proxy != plan.spec:
        raise UsageError("only the proxy settings of the Lab (proxyMode, ipvs) can change in a "
                         f"running lab; for the rest: netlab down {lab}, then up")
    kernel_check(sc.lab, protocols(sc))
    full = with_cluster_services(sc)
    outcome = step or workloads.reconcile(lab, full.deployments,
                                          {rs.key: rs for rs in plan.replicasets},
                                          rollout_status(state, time.time() if now is None
                                                         else now))
    sets = tuple(outcome.sets.values())
    wanted = {f"{ns}/{name}": (labels, spec) for ns, name, labels, spec, _o, _h
              in desired_pods(full, sets)}
    changed = [p for p in plan.pods if wanted.get(p.key) != (p.labels, p.spec)]
    removed = tuple(p for p in changed if p.key in wanted)
    leaving = tuple(p for p in changed if p.key not in wanted)
    ipam = {node: HostLocal.from_dict(d) for node, d in state.ipam.items()}
    owners = {}
    for pod in changed:
        if pod.node in ipam:
            if pod.key in wanted:
                ipam[pod.node].release(pod.key)
            else:  # held until the pod is gone, under a name of its own
                owners[pod.key] = terminating_owner(pod.key, state)
                ipam[pod.node].rename(pod.key, owners[pod.key])
    staying = {(s.namespace, s.name) for s in sc.services}
    released = set(state.released_cluster_ips) | {
        i.cluster_ip for i in plan.services if i.cluster_ip not in ("", "None")
        and (i.service.namespace, i.service.name) not in staying}
    new_plan, new_ipam = plan_lab(sc, {k: v.to_dict() for k, v in ipam.items()}, plan,
                                  frozenset(released), sets)
    stay = {p.key for p in plan.pods} - {p.key for p in changed}
    added = tuple(p for p in new_plan.pods if p.key not in stay)
    reclaimed = tuple(sorted({p.key for p in added} & set(state.terminating)))
    return Change(sc, new_plan, new_ipam, tuple(sorted(released)), removed, added,
                  sc.lab.proxy_mode != plan.spec.proxy_mode, leaving, reclaimed, grace,
                  tuple(sorted(owners.items())), tuple(outcome.events))


def terminating_owner(key: str, state: LabState) -> str:
    """Who holds a terminating pod's address: a name no pod and no other terminating pod has."""
    owners = {t.ipam_owner for t in state.terminating.values()}
    n = 1
    while f"{key} (terminating {n})" in owners:
        n += 1
    return f"{key} (terminating {n})"


def changed_services(old: LabPlan, new: LabPlan, ready: dict[str, bool],
                     terminating: tuple[PodInfo, ...] = ()) -> set[str]:
    """The services whose service ports differ between OLD and NEW (endpoints included)."""
    tracker = ChangeTracker(service_ports(old.services, old.endpoints))
    endpoints = compute_endpoints(new.services, new.pods, ready, new.manifests, terminating)
    tracker.observe(service_ports(new.services, endpoints))
    return tracker.changed_services()


class Transaction:
    """Undo steps, registered before each step runs; run in reverse unless ``success``.
    ``clean`` stays true unless an undo step failed too."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self.success = False
        self.clean = True

    def undo(self, what: str, fn: Callable[[], None]) -> None:
        self._undo.append((what, fn))

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.success:
            return
        for what, fn in reversed(self._undo):
            try:
                fn()
            except Exception:  # keep undoing the rest; the original error is raised
                log.exception("undoing %s failed", what)
                self.clean = False


def apply_change(rt: Runtime, ch: Change, launcher: Launcher,
                 tx: Transaction | None = None) -> None:
    """Carry CH out on RT's lab; on failure, undo what was done and re-raise."""
    old_plan, old_system = rt.plan, dict(rt.state.system)
    old_mode = old_plan.spec.proxy_mode
    with tx or Transaction() as tx:
        # registered first, so it runs last, once the pods are back as they were
        tx.undo("the rules", lambda: _restore(rt, old_plan, old_system, launcher))
        for pod in ch.removed:  # DEL first: a replaced pod needs its name back
            tx.undo(f"removing {pod.key}", lambda pod=pod: _readd(rt, pod, launcher))
            pods.delete(rt, [pod])
        # a terminating pod whose name a new pod takes goes now (cannot be undone: it was
        # on its way out anyway)
        pods.finish_terminating(rt, rt.clock(), force=set(ch.reclaimed))
        before = dict(rt.state.terminating)
        tx.undo("the terminating pods", lambda: _unterminate(rt, before))
        for key, type_, reason, message in ch.events:  # the controllers' before the kubelet's
            rt.event(key, type_, reason, message)
        pods.terminate(rt, ch.leaving, ch.grace, owners=dict(ch.owners))
        if ch.switching:
            rt.state.plan = replace(rt.plan, spec=ch.plan.spec)
            network.prepare_proxy_mode(rt, old_mode)
        tx.undo("the new pods", lambda: pods.delete(rt, list(ch.added)))
        # the sync compares against the endpoints as they were, to find stale UDP entries
        rt.state.plan = replace(ch.plan, endpoints=old_plan.endpoints)
        pods.add(rt, ch.added, launcher)
        ready = known_readiness(rt.state)
        leaving = tuple(t.pod for t in rt.state.terminating.values())
        sync_rules(rt, None if ch.switching else
                   changed_services(old_plan, ch.plan, ready, leaving), ready)
        if ch.switching:
            network.finish_proxy_mode(rt, old_mode)
        if system.kube_proxy_requests(rt) != _kube_proxies(old_plan, rt):
            system.stop_kube_proxies(rt)  # new health check node ports, or a new mode
            system.start_kube_proxies(rt, launcher)
        system.ensure_speakers(rt, launcher)
        for key, type_, reason, message in lb_events(old_plan, rt.plan,
                                                     frozenset(rt.state.nodes_down)):
            rt.event(key, type_, reason, message)
        rt.state.ipam = ch.ipam
        rt.state.documents = ch.scenario.documents
        rt.state.released_cluster_ips = ch.released
        tx.success = True
    # SIGTERM once the endpoints say the pods are terminating (cannot fail); the lab's
    # controller removes them when they exit or their grace period ends
    pods.begin_stopping(rt)


def _unterminate(rt: Runtime, before: dict) -> None:
    """Undo marking pods terminating (nothing was signalled yet)."""
    for key in set(rt.state.terminating) - set(before):
        del rt.state.terminating[key]


def _kube_proxies(plan: LabPlan, rt: Runtime) -> list:
    """What the kube-proxy servers of PLAN would be asked to serve."""
    now = rt.state.plan
    rt.state.plan = plan
    try:
        return system.kube_proxy_requests(rt)
    finally:
        rt.state.plan = now


def _readd(rt: Runtime, pod: PodInfo, launcher: Launcher) -> None:
    """Undo a DEL: the pod as it was (same node and address), its containers started anew."""
    pods.delete(rt, [pod])  # whatever half of it is left
    pods.add(rt, [pod], launcher)


def _restore(rt: Runtime, old_plan: LabPlan, old_system: dict[str, Proc],
             launcher: Launcher) -> None:
    """The last undo: the old proxy mode and plan, every node's rules in full, and the old
    kube-proxy servers."""
    mode_now = rt.plan.spec.proxy_mode
    rt.state.plan = replace(old_plan, endpoints=rt.plan.endpoints)
    if mode_now != old_plan.spec.proxy_mode:
        network.prepare_proxy_mode(rt, mode_now)
    rt.state.sync.clear()
    sync_rules(rt, None, known_readiness(rt.state))
    network.finish_proxy_mode(rt, mode_now)
    for what, proc in list(rt.state.system.items()):
        if what.startswith(system.KUBE_PROXY) and old_system.get(what) != proc:
            rt.kernel.processes.stop([(proc.pid, proc.start)])
            del rt.state.system[what]
    missing = {w for w, p in old_system.items() if w.startswith(system.KUBE_PROXY)
               and not rt.kernel.processes.alive(p.pid, p.start)}
    rt.state.system.update({w: p for w, p in old_system.items() if w not in missing})
    if missing:
        system.collect(rt, launcher, system.submit(rt, launcher, only=missing))


def change(lab: str, edit: Edit, progress: Progress = no_progress, *,
           kernel: Kernel | None = None, ld: LabDir | None = None,
           kernel_check: Callable[..., None] = check_kernel,
           controller: bool = True, who: str = "",
           grace: int | None = None) -> tuple[LabPlan, LabPlan]:
    """Change running lab LAB: EDIT turns its documents into the new ones. Waits (up to 10 s)
    for another change to finish, stops the lab's controller, finishes off a change that was
    killed, reads the state, changes the lab all or nothing, saves the state and starts the
    controller again."""
    from netlab.lifecycle.query import load
    from netlab.lifecycle.recover import recover_if_pending

    if kernel is None:
        require_root()
        kernel = real()
    ld = ld or LabDir(lab)
    if not ld.exists():
        raise UsageError(f"lab '{lab}' is not up")
    who = who or " ".join(["netlab", *sys.argv[1:]])
    ld.lock(wait_s=10, who=who)
    try:
        stop_controller(ld, kernel)
        recover_if_pending(lambda: Runtime(load(lab, ld), ld, kernel), ld, kernel)
        state = load(lab, ld)
        before = state.plan
        ch = plan_change(state, edit, kernel_check, grace)
        rt = Runtime(state, ld, kernel, progress)
        ld.begin_change(who)  # from here, a kill leaves the mark for the next command
        tx = Transaction()
        try:
            with kernel.processes.launcher(LAUNCHER) as launcher:
                apply_change(rt, ch, launcher, tx)
        finally:
            rt.save()  # the lab as it is now: changed, or as it was with restarted pods
            if tx.success or tx.clean:
                ld.end_change()
        return before, rt.plan
    finally:
        if controller:
            start_controller(ld, kernel)
        ld.close()


def restart_rollout(lab: str, namespace: str, name: str, **kw) -> None:
    """kubectl rollout restart deployment/NAME: a new revision of the same template."""
    from datetime import UTC, datetime

    from netlab.scenario.edits import restart

    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    change(lab, lambda docs: restart(docs, namespace, name, when, lab), **kw)

"""The lab's controller: kubelet and kube-proxy for a running lab.

``up`` starts one per lab (``python -m netlab.lifecycle.controller LAB``), in the lab's system
cgroup; changes stop it first, and any netlab command on the lab starts it again if it died
(``supervise.py``). Every tick it notes containers that ended (how, from their shim's exit
file), takes the kubelet's next steps (the next init container, restarts after their
CrashLoopBackOff), collects probe results and starts the probes that are due (each in its own
thread with its own deadline, so a slow probe holds up nothing else; readiness decides
Endpoints, a failed liveness probe kills the container), and syncs the rules of only the
service ports that changed (a keyed change tracker, as kube-proxy's; a failed sync makes the
next one full). Every ``syncPeriod`` it resyncs every node in full, which restores rules
flushed by hand even when the canary chains survived, and repairs drift (``drift.py``). Its
sync state is saved with the lab, so a restarted controller goes on with partial syncs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from netlab.ingress import status as ingress_status
from netlab.kernel.api import Launcher, real
from netlab.lifecycle import drift, pods
from netlab.lifecycle.change import Transaction, apply_change, plan_change, rollout_status
from netlab.lifecycle.runtime import LAUNCHER, Runtime
from netlab.lifecycle.sync import note_ready, sync_rules
from netlab.model import Container, Hook, PodInfo, Probe
from netlab.plan import kubelet, workloads
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.probes import ProbeTracker
from netlab.proxy.core import service_ports
from netlab.proxy.tracker import ChangeTracker
from netlab.state import LabDir
from netlab.trace import nftables as nft_walk

log = logging.getLogger("netlab.controller")
TICK_S = 0.2
CANARY_EVERY_S = 2.0
UNREPORTED_EXIT_S = 1.0  # a container gone without an exit report: its shim was killed too
PROBE_THREADS = 32
# (probe, pod, container, the node's netns, the container's pid) -> (success, message)
ProbeRunner = Callable[[Probe, PodInfo, Container, str, int], tuple[bool, str]]
ProbeKey = tuple[str, str, str]  # pod key, container, readiness | liveness
# (hook, pod, container, the node's netns, the container's pid, seconds left) -> failure or ""
HookRunner = Callable[[Hook, PodInfo, Container, str, int, float], str]


def _real_probe(probe: Probe, pod: PodInfo, container: Container, node_netns: str,
                pid: int) -> tuple[bool, str]:
    from netlab.checks.kubelet_probes import run_probe

    return run_probe(probe, pod, container, node_netns, pid)


def _real_hook(hook: Hook, pod: PodInfo, container: Container, node_netns: str, pid: int,
               timeout: float) -> str:
    from netlab.checks.kubelet_probes import run_hook

    return run_hook(hook, pod, container, node_netns, pid, timeout)


def rules_present(rt: Runtime, netns: str) -> bool:
    """kube-proxy's check that its rules were not flushed by hand: the canary chains
    (iptables, IPVS), or, in nftables mode, the jump into its services chain (gone when the
    table is deleted, and when it is flushed: `nft flush table` keeps chains and sets)."""
    if rt.plan.spec.proxy_mode == "nftables":
        listing = rt.kernel.netfilter.nft_list_chain(netns, "ip", "kube-proxy", "nat-prerouting")
        return listing is not None and \
            "jump services" in nft_walk.parse(listing).chains.get("nat-prerouting", [])
    return rt.kernel.netfilter.canary_present(netns, rt.state.flavour)


class Controller:
    def __init__(self, rt: Runtime, launcher: Launcher, probe: ProbeRunner = _real_probe,
                 clock: Callable[[], float] = time.monotonic,
                 pool: Executor | None = None, hook: HookRunner = _real_hook) -> None:
        self.rt, self.launcher, self.probe, self.clock = rt, launcher, probe, clock
        self.hook = hook
        self.trackers: dict[ProbeKey, ProbeTracker] = {}
        self.running: dict[ProbeKey, tuple[ProbeTracker, Future]] = {}  # probes under way
        self.pool = pool or ThreadPoolExecutor(max_workers=PROBE_THREADS)
        plan = rt.plan
        # what the last sync wrote: the saved plan's endpoints
        self.changes = ChangeTracker(service_ports(plan.services, plan.endpoints))
        self.need_full = False
        now = clock()
        self.next_canary = 0.0
        self.next_resync = now + plan.spec.sync_period
        self.unreported: dict[tuple[str, str], float] = {}  # ended, exit not yet written
        self.started: dict[tuple[str, str], int] = {}  # the pid each tracker was made for
        self.hooks: dict[str, Future] = {}  # terminating pod -> its preStop hooks running
        self._track_running(now, resume=True)

    def _track_running(self, now: float, resume: bool = False) -> None:
        """Fresh probe trackers for every container that (re)started since the last look.
        RESUME (a controller taking over a running lab, as after every change): a container
        the saved state judged ready stays ready, and is probed again at once."""
        for pod in self.rt.plan.pods:
            for c in pod.spec.containers:
                st = self.rt.state.processes.get(pod.key, {}).get(c.name)
                pid = st.pid if st is not None and st.running else 0
                if pid and self.started.get((pod.key, c.name)) != pid:
                    self.started[(pod.key, c.name)] = pid
                    for kind, probe in (("readiness", c.readiness), ("liveness", c.liveness)):
                        if probe is None:
                            continue
                        t = ProbeTracker(probe, now)
                        if resume and kind == "readiness" and st.ready:
                            t.passing, t.ok_streak, t.next_due = True, 1, now
                        self.trackers[(pod.key, c.name, kind)] = t

    # -- one pass ------------------------------------------------------------------------------

    def tick(self) -> bool:
        """One pass; True when the lab's state changed (and was saved)."""
        rt, now = self.rt, self.clock()
        changed = self._note_exits(now)
        changed |= pods.advance(rt, self.launcher, rt.plan.pods)
        self._track_running(now)
        changed |= self._probe(now)
        changed |= self._terminations()
        if now >= self.next_resync:
            self.next_resync = now + rt.plan.spec.sync_period
            changed |= self._repair_drift()
            self.need_full = True
        elif now >= self.next_canary:
            self.next_canary = now + CANARY_EVERY_S
            if not all(rules_present(rt, n.netns) for n in rt.plan.nodes):
                log.warning("lab %s: a node's tables were flushed; restoring them",
                            rt.plan.spec.name)
                self.need_full = True
        changed |= self._sync()
        changed |= self._rollout()
        changed |= self._ingress_reports()
        if changed:
            rt.save()
        return changed

    def _ingress_reports(self) -> bool:
        """The ingress controllers' reports since the last tick, as events."""
        rt = self.rt
        changed = False
        for pod in rt.plan.pods:
            if not any(kubelet.plays_controller(rt.plan.spec, c) for c in pod.spec.containers):
                continue
            report = pods.ingress_report(rt.paths, pod)
            seen = rt.state.ingress_reports.get(pod.key, {})
            if report is None or report == seen:
                continue
            for key, type_, reason, message in ingress_status.events(pod.key, seen, report):
                rt.event(key, type_, reason, message)
            rt.state.ingress_reports[pod.key] = report
            changed = True
        return changed

    def _rollout(self) -> bool:
        """The workload controllers' next step (a Deployment's rollout going on, a
        ReplicaSet short of pods), carried out as a change is: all or nothing."""
        rt = self.rt
        plan, now = rt.plan, rt.clock()
        if not plan.workloads:
            return False
        out = workloads.reconcile(plan.spec.name, plan.workloads,
                                  {rs.key: rs for rs in plan.replicasets},
                                  rollout_status(rt.state, now))
        if tuple(sorted(out.sets.values(), key=lambda rs: rs.key)) == plan.replicasets:
            return False
        ch = plan_change(rt.state, lambda docs: docs, kernel_check=lambda *_: None, now=now,
                         step=out)
        rt.ld.begin_change("the lab's controller")
        tx = Transaction()
        try:
            apply_change(rt, ch, self.launcher, tx)
        except Exception as exc:  # undone; tried again next tick
            log.warning("lab %s: a rollout step failed and was undone (%s)", plan.spec.name, exc)
        finally:
            rt.save()
            if tx.success or tx.clean:
                rt.ld.end_change()
        # what the change synced is what the rules hold now
        self.changes = ChangeTracker(service_ports(rt.plan.services, rt.plan.endpoints))
        return True

    def _sync(self) -> bool:
        rt = self.rt
        plan = rt.plan
        before = self._ready_flags()
        ready = self.ready()
        note_ready(rt.state, ready, rt.clock())
        endpoints = compute_endpoints(plan.services, plan.pods, ready, plan.manifests,
                                      [t.pod for t in rt.state.terminating.values()])
        self.changes.observe(service_ports(plan.services, endpoints))
        services = self.changes.changed_services()
        if not services and not self.need_full:
            return before != self._ready_flags()
        try:
            sync_rules(rt, None if self.need_full else services, ready)
            self.changes.synced()
            self.need_full = False
        except Exception as exc:  # the next sync is full
            log.warning("lab %s: sync failed (%s); the next sync is full", plan.spec.name, exc)
            self.need_full = True
        return True

    def _terminations(self) -> bool:
        """Terminating pods: their preStop hooks (in a thread each), then SIGTERM; the ones
        that exited or ran out of time are removed."""
        rt, now = self.rt, self.rt.clock()
        changed = False
        nodes = {n.name: n.netns for n in rt.plan.nodes}
        for key, t in list(rt.state.terminating.items()):
            if t.stage != "prestop":
                continue
            fut = self.hooks.get(key)
            if fut is None:
                self.hooks[key] = self.pool.submit(self._run_hooks, t, nodes[t.pod.node])
                continue
            if not fut.done() and now < t.deadline:
                continue
            del self.hooks[key]
            for message in fut.result() if fut.done() else ["the grace period ended"]:
                rt.event(key, "Warning", "FailedPreStopHook", message)
            t.stage = "stopping"
            pods.sigterm(rt, key)
            changed = True
        for key in pods.finish_terminating(rt, now):
            log.info("lab %s: pod %s is gone", rt.plan.spec.name, key)
            changed = True
        return changed

    def _run_hooks(self, t, node_netns: str) -> list[str]:
        """The pod's preStop hooks, one container after the other; their failures."""
        out = []
        states = self.rt.state.processes.get(t.pod.key, {})
        for c in t.pod.spec.containers:
            st = states.get(c.name)
            if c.pre_stop is None or st is None or not st.running:
                continue
            try:
                message = self.hook(c.pre_stop, t.pod, c, node_netns, st.pid,
                                    t.deadline - self.rt.clock())
            except Exception as exc:  # a hook that cannot run has failed
                message = str(exc)
            if message:
                out.append(message)
        return out

    def _repair_drift(self) -> bool:
        found = drift.find(self.rt)
        if not found:
            return False
        for line in drift.repair(self.rt, self.launcher, found):
            log.warning("lab %s: %s", self.rt.plan.spec.name, line)
        self.started.clear()  # re-created pods' containers get fresh probe trackers
        return True

    def _ready_flags(self) -> list:
        return [(k, n, st.ready) for k, cs in self.rt.state.processes.items()
                for n, st in cs.items()]

    def ready(self) -> dict[str, bool]:
        """Pod readiness from the app containers' processes and readiness probes (also
        written into each container's state)."""
        out = {}
        for pod in self.rt.plan.pods:
            states = self.rt.state.processes.get(pod.key, {})
            ok = True
            for c in pod.spec.containers:
                t = self.trackers.get((pod.key, c.name, "readiness"))
                st = states.get(c.name)
                c_ready = st is not None and st.running and (t is None or t.passing)
                if st is not None:  # None until a readiness probe's first verdict
                    st.ready = None if st.running and t is not None and not t.judged \
                        else c_ready
                ok = ok and c_ready
            out[pod.key] = ok and bool(pod.spec.containers)
        for key, t in self.rt.state.terminating.items():  # serving while it still runs
            out[key] = t.serving and pods.still_running(self.rt, key)
        return out

    def _note_exits(self, now: float) -> bool:
        """Containers whose process ended: their state says how (the shim's report; none
        within a second means the shim died with it)."""
        changed = False
        for pod in self.rt.plan.pods:
            states = self.rt.state.processes.get(pod.key, {})
            for c in (*pod.spec.init_containers, *pod.spec.containers):
                st = states.get(c.name)
                if st is None or not st.running or \
                        self.rt.kernel.processes.alive(st.pid, st.start):
                    continue
                ident = (pod.key, c.name)
                reported = self.rt.kernel.processes.exit_status(
                    self.rt.paths.exit_file(pod, c.name))
                if not reported and now - self.unreported.setdefault(ident, now) < \
                        UNREPORTED_EXIT_S:
                    continue
                self.unreported.pop(ident, None)
                pods.ended(self.rt, pod, c)
                st = states[c.name]
                log.warning("lab %s: %s container %s ended (%s, exit code %s)",
                            self.rt.plan.spec.name, pod.key, c.name, st.reason, st.exit_code)
                changed = True
        return changed

    def _probe(self, now: float) -> bool:
        """Start the probes that are due (never a second one for the same probe while one is
        under way), then collect those that finished."""
        nodes = {n.name: n.netns for n in self.rt.plan.nodes}
        by_key = {p.key: p for p in self.rt.plan.pods}
        for ident, t in self.trackers.items():
            key, cname, _kind = ident
            st = self.rt.state.processes.get(key, {}).get(cname)
            if ident in self.running or not t.due(now) or st is None or not st.running \
                    or key not in by_key:
                continue
            pod = by_key[key]
            c = next(c for c in pod.spec.containers if c.name == cname)
            self.running[ident] = (t, self.pool.submit(self._run_probe, t.probe, pod, c,
                                                       nodes[pod.node], st.pid))
        changed = False
        for ident, (tracker, fut) in list(self.running.items()):
            if not fut.done():
                continue
            del self.running[ident]
            if self.trackers.get(ident) is not tracker:
                continue  # the container restarted since: the result is of its last run
            changed |= self._judge(ident, tracker, *fut.result())
        return changed

    def _run_probe(self, probe: Probe, pod: PodInfo, c: Container, node_netns: str,
                   pid: int) -> tuple[bool, str]:
        try:
            return self.probe(probe, pod, c, node_netns, pid)
        except Exception as exc:  # a probe that cannot run has failed
            return False, str(exc)

    def _judge(self, ident: ProbeKey, t: ProbeTracker, ok: bool, message: str) -> bool:
        key, cname, kind = ident
        changed = t.record(ok, self.clock())
        if not ok:
            self.rt.event(key, "Warning", "Unhealthy",
                          f"{kind.capitalize()} probe failed: {message}")
            changed = True
        if kind == "liveness" and t.failed:
            pod = next(p for p in self.rt.plan.pods if p.key == key)
            c = next(c for c in pod.spec.containers if c.name == cname)
            self.rt.event(key, "Normal", "Killing",
                          f"Container {cname} failed liveness probe, will be restarted")
            pods.kill_container(self.rt, pod, c)
            changed = True
        return changed

    def wait_probes(self, timeout_s: float = 10.0) -> None:
        """Tests: until the probes under way have finished."""
        for _t, fut in list(self.running.values()):
            fut.result(timeout=timeout_s)


def main(argv: list[str]) -> int:
    lab = argv[1]
    ld = LabDir(lab)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    state = ld.load_state()
    if state is None:
        return 0
    kernel = real()
    rt = Runtime(state, ld, kernel)
    with kernel.processes.launcher(LAUNCHER) as launcher:
        controller = Controller(rt, launcher)
        while not stop:
            if not os.path.exists(ld.state_path):
                return 0  # the lab was removed
            # A tick changes the lab: it takes the lock, and skips while a command holds it
            # (a change stops this process first; this only guards the moments around that).
            if ld.try_lock("the lab's controller"):
                try:
                    controller.tick()
                except Exception:
                    log.exception("lab %s: controller tick failed", lab)
                finally:
                    ld.unlock()
            time.sleep(TICK_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

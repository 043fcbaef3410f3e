"""The lab's controller: kubelet and kube-proxy for a running lab.

``up`` starts one per lab (``python -m netlab.lifecycle.controller LAB``), ``down`` and changes
stop it first. Every tick it restarts containers that exited, runs the probes that are due
(readiness decides Endpoints, liveness failures restart the container), syncs the rules of
only the service ports that changed (a keyed change tracker, as kube-proxy's; a failed sync
makes the next one full), and restores a node's tables when someone flushed them (kube-proxy's
canary chains). Its sync state is saved with the lab, so a restarted controller goes on with
partial syncs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from netlab.kernel.api import Launcher, real
from netlab.lifecycle import pods
from netlab.lifecycle.runtime import LAUNCHER, Runtime
from netlab.lifecycle.sync import sync_rules
from netlab.model import Container, PodInfo, Probe
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.probes import ProbeTracker
from netlab.proxy.core import service_ports
from netlab.proxy.tracker import ChangeTracker
from netlab.state import LabDir

log = logging.getLogger("netlab.controller")
TICK_S = 0.2
CANARY_EVERY_S = 2.0
ProbeRunner = Callable[[Probe, PodInfo, Container, str], tuple[bool, str]]


def _real_probe(probe: Probe, pod: PodInfo, container: Container,
                node_netns: str) -> tuple[bool, str]:
    from netlab.checks.kubelet_probes import run_probe

    return run_probe(probe, pod, container, node_netns)


class Controller:
    def __init__(self, rt: Runtime, launcher: Launcher, probe: ProbeRunner = _real_probe,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rt, self.launcher, self.probe, self.clock = rt, launcher, probe, clock
        self.trackers: dict[tuple[str, str, str], ProbeTracker] = {}
        self.pool = ThreadPoolExecutor(max_workers=8)
        plan = rt.plan
        # what the last sync wrote: the saved plan's endpoints
        self.changes = ChangeTracker(service_ports(plan.services, plan.endpoints))
        self.need_full = False
        self.next_canary = 0.0
        now = clock()
        for pod in plan.pods:
            for c in pod.spec.containers:
                self._track(pod.key, c, now)

    def _track(self, key: str, c: Container, now: float) -> None:
        for kind, probe in (("readiness", c.readiness), ("liveness", c.liveness)):
            if probe is not None:
                self.trackers[(key, c.name, kind)] = ProbeTracker(probe, now)

    # -- one pass ------------------------------------------------------------------------------

    def tick(self) -> bool:
        """One pass; True when the lab's state changed (and was saved)."""
        rt, now = self.rt, self.clock()
        changed = self._restart_exited(now)
        changed |= self._probe(now)
        ready = self.ready()
        plan = rt.plan
        endpoints = compute_endpoints(plan.services, plan.pods, ready, plan.manifests)
        self.changes.observe(service_ports(plan.services, endpoints))
        if now >= self.next_canary:
            self.next_canary = now + CANARY_EVERY_S
            if not all(rt.kernel.netfilter.canary_present(n.netns, rt.state.flavour)
                       for n in plan.nodes):
                log.warning("lab %s: a node's tables were flushed; restoring them",
                            plan.spec.name)
                self.need_full = True
        services = self.changes.changed_services()
        if services or self.need_full:
            try:
                sync_rules(rt, None if self.need_full else services, ready)
                self.changes.synced()
                self.need_full = False
            except Exception as exc:  # the next sync is full
                log.warning("lab %s: sync failed (%s); the next sync is full",
                            plan.spec.name, exc)
                self.need_full = True
            changed = True
        if changed:
            rt.save()
        return changed

    def ready(self) -> dict[str, bool]:
        """Pod readiness from the processes and the readiness probes' verdicts (also written
        into each container's state)."""
        out = {}
        for pod in self.rt.plan.pods:
            ok = self.rt.state.pod_running(pod.key)
            for c in pod.spec.containers:
                t = self.trackers.get((pod.key, c.name, "readiness"))
                c_ready = t is None or t.passing
                ok = ok and c_ready
                st = self.rt.state.processes.get(pod.key, {}).get(c.name)
                if st is not None:
                    st.ready = st.running and c_ready
            out[pod.key] = ok
        return out

    def _restart_exited(self, now: float) -> bool:
        changed = False
        for pod in self.rt.plan.pods:
            for c in pod.spec.containers:
                st = self.rt.state.processes.get(pod.key, {}).get(c.name)
                if st and st.running and not self.rt.kernel.processes.alive(st.pid, st.start):
                    self.restart(pod, c, now, "the container exited")
                    changed = True
        return changed

    def restart(self, pod: PodInfo, c: Container, now: float, why: str) -> None:
        log.warning("lab %s: restarting %s/%s: %s", self.rt.plan.spec.name, pod.key, c.name,
                    why)
        pods.restart_container(self.rt, self.launcher, pod, c)
        self.rt.event(pod.key, "Normal", "Started", f"Started container {c.name}")
        self._track(pod.key, c, now)

    def _probe(self, now: float) -> bool:
        nodes = {n.name: n.netns for n in self.rt.plan.nodes}
        by_key = {p.key: p for p in self.rt.plan.pods}
        due = []
        for (key, cname, kind), t in self.trackers.items():
            st = self.rt.state.processes.get(key, {}).get(cname)
            if t.due(now) and st is not None and st.running and key in by_key:
                pod = by_key[key]
                c = next(c for c in pod.spec.containers if c.name == cname)
                due.append(((key, cname, kind), pod, c,
                            self.pool.submit(self.probe, t.probe, pod, c, nodes[pod.node])))
        changed = False
        for ident, pod, c, fut in due:
            t = self.trackers[ident]
            ok, message = fut.result()
            changed |= t.record(ok, self.clock())
            if not ok:
                self.rt.event(pod.key, "Warning", "Unhealthy",
                              f"{ident[2].capitalize()} probe failed: {message}")
                changed = True
            if ident[2] == "liveness" and t.failed:
                self.rt.event(pod.key, "Normal", "Killing",
                              f"Container {c.name} failed liveness probe, will be restarted")
                self.restart(pod, c, self.clock(), "liveness probe failed")
                changed = True
        return changed


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

"""The lab's controller process: kubelet and kube-proxy for a running lab.

``up`` starts one per lab (``python -m netlab.daemon LAB``), ``down`` stops it first. Every
tick it restarts containers that exited, runs the probes that are due (readiness decides
Endpoints, liveness failures restart the container), re-syncs the rules of only the services
whose endpoints changed (a failed sync makes the next one full), and restores a node's tables
when someone flushed them (kube-proxy's canary chains).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from netlab import controller
from netlab.checks.kubelet_probes import run_probe
from netlab.kernel import netfilter, process
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.probes import ProbeTracker
from netlab.state import LabDir

log = logging.getLogger("netlab.daemon")
TICK_S = 0.2
CANARY_EVERY_S = 2.0


class Daemon:
    def __init__(self, lab: controller.Lab, launcher: process.Launcher) -> None:
        self.lab, self.launcher = lab, launcher
        self.trackers: dict[tuple[str, str, str], ProbeTracker] = {}
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.need_full = False
        self.next_canary = 0.0
        now = time.monotonic()
        for pod in lab.plan.pods:
            for c in pod.spec.containers:
                self._track(pod.key, c, now)

    def _track(self, key: str, c, now: float) -> None:
        for kind, probe in (("readiness", c.readiness), ("liveness", c.liveness)):
            if probe is not None:
                self.trackers[(key, c.name, kind)] = ProbeTracker(probe, now)

    # -- one pass ------------------------------------------------------------------------------

    def tick(self) -> None:
        lab, now = self.lab, time.monotonic()
        changed = self._restart_exited(now)
        changed |= self._probe(now)
        endpoints = compute_endpoints(lab.plan.services, lab.plan.pods, self.ready(),
                                      lab.plan.manifests)
        services = {f"{se.namespace}/{se.name}" for old, se in
                    zip(lab.plan.endpoints, endpoints, strict=False) if old != se}
        if len(endpoints) != len(lab.plan.endpoints):
            services = {f"{se.namespace}/{se.name}" for se in endpoints}
        if now >= self.next_canary:
            self.next_canary = now + CANARY_EVERY_S
            if not all(netfilter.canary_present(n.netns, lab.flavour) for n in lab.plan.nodes):
                log.warning("lab %s: a node's tables were flushed; restoring them",
                            lab.plan.spec.name)
                self.need_full = True
        if services or self.need_full:
            try:
                lab.sync_rules(changed=None if self.need_full else services,
                               readiness=self.ready())
                self.need_full = False
            except Exception as exc:  # the next sync is full
                log.warning("lab %s: sync failed (%s); the next sync is full",
                            lab.plan.spec.name, exc)
                self.need_full = True
            changed = True
        if changed:
            lab.save(**self._extra())

    def _extra(self) -> dict:
        state = self.lab.ld.load_state() or {}
        return {k: state[k] for k in ("ipam", "sources", "documents", "released_cluster_ips")
                if k in state}

    def ready(self) -> dict[str, bool]:
        out = {}
        for pod in self.lab.plan.pods:
            ok = self.lab.pod_running(pod.key)
            for c in pod.spec.containers:
                t = self.trackers.get((pod.key, c.name, "readiness"))
                if t is not None and not t.passing:
                    ok = False
            out[pod.key] = ok
            for c in pod.spec.containers:
                st = self.lab.processes.get(pod.key, {}).get(c.name)
                if st is not None:
                    t = self.trackers.get((pod.key, c.name, "readiness"))
                    st["ready"] = st.get("state") == "running" and (t is None or t.passing)
        return out

    def _restart_exited(self, now: float) -> bool:
        changed = False
        for pod in self.lab.plan.pods:
            for c in pod.spec.containers:
                st = self.lab.processes.get(pod.key, {}).get(c.name)
                if st and st.get("state") == "running" and \
                        not process.is_same_process(st["pid"], st["start"]):
                    self.restart(pod, c, now, "the container exited")
                    changed = True
        return changed

    def restart(self, pod, c, now: float, why: str) -> None:
        log.warning("lab %s: restarting %s/%s: %s", self.lab.plan.spec.name, pod.key, c.name,
                    why)
        self.lab.restart_container(self.launcher, pod, c)
        self.lab.event(pod.key, "Normal", "Started", f"Started container {c.name}")
        self._track(pod.key, c, now)

    def _probe(self, now: float) -> bool:
        nodes = {n.name: n.netns for n in self.lab.plan.nodes}
        pods = {p.key: p for p in self.lab.plan.pods}
        due = []
        for (key, cname, kind), t in self.trackers.items():
            st = self.lab.processes.get(key, {}).get(cname, {})
            if t.due(now) and st.get("state") == "running":
                pod = pods[key]
                c = next(c for c in pod.spec.containers if c.name == cname)
                due.append(((key, cname, kind), pod, c,
                            self.pool.submit(run_probe, t.probe, pod, c, nodes[pod.node])))
        changed = False
        for ident, pod, c, fut in due:
            t = self.trackers[ident]
            ok, message = fut.result()
            changed |= t.record(ok, time.monotonic())
            if not ok:
                kind = ident[2].capitalize()
                self.lab.event(pod.key, "Warning", "Unhealthy",
                               f"{kind} probe failed: {message}")
                changed = True
            if ident[2] == "liveness" and t.failed:
                self.lab.event(pod.key, "Normal", "Killing",
                               f"Container {c.name} failed liveness probe, will be restarted")
                self.restart(pod, c, time.monotonic(), "liveness probe failed")
                changed = True
        return changed


def main() -> int:
    lab_name = sys.argv[1]
    ld = LabDir(lab_name)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    plan, state = controller.load(lab_name)
    lab = controller.Lab.restore(plan, ld, state)
    with process.Launcher() as launcher:
        daemon = Daemon(lab, launcher)
        while not stop:
            if not os.path.exists(ld.state_path):
                return 0  # the lab was removed
            try:
                daemon.tick()
            except Exception:
                log.exception("lab %s: controller tick failed", lab_name)
            time.sleep(TICK_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())

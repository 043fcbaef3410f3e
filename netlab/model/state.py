"""What a running lab is, as saved in its state file: typed and versioned.

``up`` writes it, every change and the lab's controller update it, ``get``/``describe`` read it.
The cluster DNS server reads its ``plan`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab.model import LabPlan, PodInfo
from netlab.model.sync import NodeSyncState

STATE_VERSION = 3


@dataclass
class ContainerState:
    """A container as the kubelet reports it (a Kubernetes ContainerStatus): waiting (with a
    reason: ContainerCreating, CrashLoopBackOff, CreateContainerConfigError), running, or
    terminated (Completed, Error, StartError), and how its previous run ended."""

    state: str = "running"  # waiting | running | terminated
    pid: int = 0
    start: int = 0  # the process's start time (with the pid it names one process)
    started: float = 0.0  # wall clock: when the current (or last) run started
    restarts: int = 0
    reason: str = ""  # why it waits or how it ended
    message: str = ""
    ready: bool | None = None  # the readiness verdict; None until the controller judged
    exit_code: int | None = None  # how its last run ended (terminated; None: unknown)
    signal: int = 0  # the signal that ended it, if one did
    finished: float = 0.0  # wall clock: when the last run ended
    last_reason: str = ""  # the run before this one (kubectl describe's "Last State")
    last_exit_code: int | None = None
    last_started: float = 0.0
    last_finished: float = 0.0
    back_off: float = 0.0  # the current restart back-off, seconds (0: none yet)
    back_off_since: float = 0.0  # wall clock of the back-off's last step
    restart_at: float = 0.0  # wall clock: the next start, when one is due (0: none)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def completed(self) -> bool:
        return self.state == "terminated" and self.exit_code == 0


@dataclass
class Event:
    """A kubelet-style event; repeats are counted, as Kubernetes aggregates them."""

    type: str
    reason: str
    message: str
    count: int = 1
    first: float = 0.0
    last: float = 0.0


@dataclass
class Proc:
    pid: int
    start: int


@dataclass
class Terminating:
    """A deleted pod running out its grace period (kubectl shows it Terminating): its
    endpoint is terminating, its preStop hooks run, then SIGTERM, then SIGKILL at the
    deadline; its address is held by ``ipam_owner`` until it is gone."""

    pod: PodInfo
    since: float  # wall clock of the deletion
    deadline: float  # wall clock: everything left is killed then
    stage: str = "prestop"  # prestop (hooks running) | stopping (SIGTERM sent)
    serving: bool = False  # it was ready when deleted: its endpoint serves until it exits
    ipam_owner: str = ""


@dataclass
class ProxyMetrics:
    """kube-proxy's sync counters for one node, as its /metrics shows them."""

    syncs: int = 0
    full_syncs: int = 0
    partial_syncs: int = 0
    duration_sum: float = 0.0
    full_duration_sum: float = 0.0
    partial_duration_sum: float = 0.0
    last_sync: float = 0.0  # wall clock of the last successful sync
    restore_failures: int = 0
    partial_restore_failures: int = 0
    service_changes: int = 0
    rules: dict[str, int] = field(default_factory=dict)  # table -> rules of the last full sync


@dataclass
class LabState:
    plan: LabPlan
    created: float
    version: int = STATE_VERSION
    flavour: str = "nft"  # the iptables flavour of the nodes (nft or legacy)
    processes: dict[str, dict[str, ContainerState]] = field(default_factory=dict)  # pod key
    system: dict[str, Proc] = field(default_factory=dict)  # client apps, health servers
    pauses: dict[str, Proc] = field(default_factory=dict)  # pod key -> its pause process
    events: dict[str, list[Event]] = field(default_factory=dict)  # pod key -> events
    sync: dict[str, NodeSyncState] = field(default_factory=dict)  # node -> last sync
    proxy_metrics: dict[str, ProxyMetrics] = field(default_factory=dict)  # node -> counters
    terminating: dict[str, Terminating] = field(default_factory=dict)  # pod key -> its end
    pod_created: dict[str, float] = field(default_factory=dict)  # pod key -> wall clock
    ready_since: dict[str, float] = field(default_factory=dict)  # pod key -> wall clock
    nodes_down: tuple[str, ...] = ()  # nodes taken off the lab network (netlab node stop)
    ipam: dict[str, dict] = field(default_factory=dict)  # node -> host-local allocator
    sources: tuple[str, ...] = ()
    documents: tuple[dict, ...] = ()  # the scenario's documents, which changes edit
    released_cluster_ips: tuple[str, ...] = ()  # never handed out again
    ingress_reports: dict[str, dict] = field(default_factory=dict)  # pod key -> last report

    def all_pods(self) -> list[PodInfo]:
        """The plan's pods and the terminating ones (still in the kernel)."""
        return [*self.plan.pods, *(t.pod for t in self.terminating.values())]

    def containers_running(self, key: str, names: list[str]) -> bool:
        """Are containers NAMES of pod KEY all running (a pod's app containers: its init
        containers have ended by then)?"""
        states = self.processes.get(key, {})
        return bool(names) and all(n in states and states[n].running for n in names)

    def event(self, key: str, type_: str, reason: str, message: str, now: float) -> None:
        events = self.events.setdefault(key, [])
        for e in events:
            if (e.type, e.reason, e.message) == (type_, reason, message):
                e.count, e.last = e.count + 1, now
                return
        events.append(Event(type_, reason, message, 1, now, now))
        del events[:-20]

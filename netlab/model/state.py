"""What a running lab is, as saved in its state file: typed and versioned.

``up`` writes it, every change and the lab's controller update it, ``get``/``describe`` read it.
The cluster DNS server reads its ``plan`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab.model import LabPlan
from netlab.model.sync import NodeSyncState

STATE_VERSION = 2


@dataclass
class ContainerState:
    state: str = "running"  # running | failed
    pid: int = 0
    start: int = 0  # the process's start time (with the pid it names one process)
    started: float = 0.0  # wall clock
    restarts: int = 0
    reason: str = ""  # why it failed
    ready: bool | None = None  # the readiness verdict; None until the controller judged

    @property
    def running(self) -> bool:
        return self.state == "running"


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
class LabState:
    plan: LabPlan
    created: float
    version: int = STATE_VERSION
    flavour: str = "nft"  # the iptables flavour of the nodes (nft or legacy)
    processes: dict[str, dict[str, ContainerState]] = field(default_factory=dict)  # pod key
    system: dict[str, Proc] = field(default_factory=dict)  # client apps, health servers
    events: dict[str, list[Event]] = field(default_factory=dict)  # pod key -> events
    sync: dict[str, NodeSyncState] = field(default_factory=dict)  # node -> last sync
    ipam: dict[str, dict] = field(default_factory=dict)  # node -> host-local allocator
    sources: tuple[str, ...] = ()
    documents: tuple[dict, ...] = ()  # the scenario's documents, which changes edit
    released_cluster_ips: tuple[str, ...] = ()  # never handed out again

    def pod_running(self, key: str) -> bool:
        states = self.processes.get(key, {})
        return bool(states) and all(s.running for s in states.values())

    def event(self, key: str, type_: str, reason: str, message: str, now: float) -> None:
        events = self.events.setdefault(key, [])
        for e in events:
            if (e.type, e.reason, e.message) == (type_, reason, message):
                e.count, e.last = e.count + 1, now
                return
        events.append(Event(type_, reason, message, 1, now, now))
        del events[:-20]

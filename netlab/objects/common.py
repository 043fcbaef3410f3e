"""What every view shares: timestamps and ages as kubectl prints them, its table layout, the
events block of describe. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from netlab.model import LabPlan
from netlab.model.state import ContainerState, Event

K8S_VERSION = "v1.33.0-netlab"


Procs = dict[str, dict[str, ContainerState]]  # pod key -> container -> state


@dataclass(frozen=True)
class LabView:
    """A running lab as get and describe show it: its plan (terminating pods among its pods),
    its containers as they are now, when it was built, its events."""

    plan: LabPlan
    procs: Procs
    created: float
    terminating: dict[str, tuple[float, float]] = field(default_factory=dict)  # key ->
    # (deletion time, deadline)
    events: dict[str, list[Event]] = field(default_factory=dict)
    release: str = ""  # the kernel's, as nodes report it
    pod_created: dict[str, float] = field(default_factory=dict)  # pod key -> wall clock
    ready_since: dict[str, float] = field(default_factory=dict)  # pod key -> wall clock
    nodes_down: tuple[str, ...] = ()  # taken off the lab network (NotReady)

    def created_at(self, key: str) -> float:
        return self.pod_created.get(key, self.created)


def ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


def lab_age(view: LabView) -> str:
    """The AGE of objects made with the lab (Ingresses, Gateways and their classes)."""
    import time

    return human_age(time.time() - view.created)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """kubectl's layout: columns padded to the widest cell plus three spaces."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def none_found(namespace: str | None) -> str:
    return "No resources found" + (f" in {namespace} namespace." if namespace else ".")


# who records an event of each reason, where the object's kind does not say
SOURCE_BY_REASON = {"Scheduled": "default-scheduler", "IPAllocated": "metallb-controller",
                    "AllocationFailed": "metallb-controller",
                    "NotAnnounced": "metallb-controller", "nodeAssigned": "metallb-speaker",
                    "Sync": "nginx-ingress-controller", "RELOAD": "nginx-ingress-controller"}


def events_block(events: list[Event], now: float, source: str = "kubelet") -> list[str]:
    """kubectl describe's Events table."""
    if not events:
        return ["Events:            <none>"]
    rows = []
    for e in events:
        age = human_age(now - e.last)
        if e.count > 1:
            age = f"{age} (x{e.count} over {human_age(e.last - e.first)})"
        rows.append([e.type, e.reason, age, SOURCE_BY_REASON.get(e.reason, source), e.message])
    return ["Events:"] + ["  " + line for line in table(
        ["Type", "Reason", "Age", "From", "Message"],
        [["----", "------", "----", "----", "-------"], *rows]).splitlines()]

"""Events as kubectl get events shows them. Pure."""

from __future__ import annotations

import time

from netlab.model.state import Event
from netlab.objects.common import SOURCE_BY_REASON, human_age, none_found, table, ts

KINDS = {"pod": "Pod", "node": "Node", "deployment": "Deployment",
         "replicaset": "ReplicaSet", "daemonset": "DaemonSet", "job": "Job",
         "service": "Service", "ingress": "Ingress"}
SOURCES = {"deployment": "deployment-controller", "replicaset": "replicaset-controller",
           "daemonset": "daemonset-controller", "job": "job-controller"}


def _event_rows(events: dict[str, list[Event]], namespace: str | None):
    """(namespace, object, event) in time order; node events live in "default"."""
    rows = []
    for key, evs in events.items():
        parts = key.split("/")
        if key.startswith("node/"):
            ns, obj = "default", key
        elif len(parts) == 3:  # NS/KIND/NAME: a workload's
            ns, obj = parts[0], f"{parts[1]}/{parts[2]}"
        else:
            ns, name = key.split("/", 1)
            obj = f"pod/{name}"
        if namespace is None or ns == namespace:
            rows += [(ns, obj, e) for e in evs]
    return sorted(rows, key=lambda r: r[2].last)


def events_table(events: dict[str, list[Event]], namespace: str | None,
                 now: float | None = None) -> str:
    """kubectl get events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE."""
    rows = _event_rows(events, namespace)
    return events_text(rows, namespace, True, now) if rows else none_found(namespace)


def event_objects(events: dict[str, list[Event]], namespace: str | None) -> list[dict]:
    out = []
    for ns, obj, e in _event_rows(events, namespace):
        kind, name = obj.split("/", 1)
        out.append({"apiVersion": "v1", "kind": "Event", "type": e.type, "reason": e.reason,
                    "message": e.message, "count": e.count,
                    "firstTimestamp": ts(e.first), "lastTimestamp": ts(e.last),
                    "involvedObject": {"kind": KINDS.get(kind, "Pod"), "name": name,
                                       **({} if kind == "node" else {"namespace": ns})},
                    "metadata": {"namespace": ns},
                    "source": {"component": SOURCE_BY_REASON.get(e.reason) or
                               SOURCES.get(kind, "kubelet")}})
    return out


def event_lines(events: dict[str, list[Event]], namespace: str | None,
                seen: set[tuple]) -> list[tuple[str, str, Event]]:
    """The events not in SEEN yet (an event is new again when it repeats), noted in SEEN."""
    out = []
    for ns, obj, e in _event_rows(events, namespace):
        ident = (ns, obj, e.reason, e.message, e.count)
        if ident not in seen:
            seen.add(ident)
            out.append((ns, obj, e))
    return out


def events_text(rows: list[tuple[str, str, Event]], namespace: str | None, header: bool,
                now: float | None = None) -> str:
    """kubectl get events -w's lines for ROWS (with its header the first time)."""
    now = now or time.time()
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    lines = []
    for ns, obj, e in rows:
        row = [human_age(now - e.last), e.type, e.reason, obj, e.message]
        lines.append([ns, *row] if namespace is None else row)
    text = table(headers, lines) if lines else table(headers, [])
    return text if header else "\n".join(text.splitlines()[1:])

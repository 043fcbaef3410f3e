"""Events as kubectl get events shows them. Pure."""

from __future__ import annotations

import time

from netlab.model.state import Event
from netlab.objects.common import human_age, none_found, table, ts


def _event_rows(events: dict[str, list[Event]], namespace: str | None):
    """(namespace, object, event) in time order; node events live in "default"."""
    rows = []
    for key, evs in events.items():
        if key.startswith("node/"):
            ns, obj = "default", key
        else:
            ns, name = key.split("/", 1)
            obj = f"pod/{name}"
        if namespace is None or ns == namespace:
            rows += [(ns, obj, e) for e in evs]
    return sorted(rows, key=lambda r: r[2].last)


def events_table(events: dict[str, list[Event]], namespace: str | None,
                 now: float | None = None) -> str:
    """kubectl get events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE."""
    now = now or time.time()
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if namespace is None:
        headers.insert(0, "NAMESPACE")
    rows = []
    for ns, obj, e in _event_rows(events, namespace):
        row = [human_age(now - e.last), e.type, e.reason, obj, e.message]
        if namespace is None:
            row.insert(0, ns)
        rows.append(row)
    return table(headers, rows) if rows else none_found(namespace)


def event_objects(events: dict[str, list[Event]], namespace: str | None) -> list[dict]:
    out = []
    for ns, obj, e in _event_rows(events, namespace):
        kind, name = obj.split("/", 1)
        out.append({"apiVersion": "v1", "kind": "Event", "type": e.type, "reason": e.reason,
                    "message": e.message, "count": e.count,
                    "firstTimestamp": ts(e.first), "lastTimestamp": ts(e.last),
                    "involvedObject": {"kind": "Pod" if kind == "pod" else "Node",
                                       "name": name, **({"namespace": ns}
                                                        if kind == "pod" else {})},
                    "metadata": {"namespace": ns},
                    "source": {"component": "default-scheduler" if e.reason == "Scheduled"
                               else "kubelet"}})
    return out

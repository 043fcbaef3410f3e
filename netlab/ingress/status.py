"""The ingress controllers' reports (their status files) as the events ingress-nginx emits
(pure): ``Sync`` "Scheduled for sync" on an Ingress a controller takes up, ``RELOAD`` on the
controller's pod for each reload, and for a configuration nginx refuses, a Warning on the pod
and on the Ingresses that make it fail (the previous configuration stays)."""

from __future__ import annotations

Event = tuple[str, str, str, str]  # (object key, type, reason, message)


def ingress_key(name: str) -> str:
    """An Ingress's events' key (namespace/name)."""
    ns, obj = name.split("/", 1)
    return f"{ns}/ingress/{obj}"


def events(pod_key: str, seen: dict, now: dict) -> list[Event]:
    """The events between the last report SEEN ({} at first) and the report NOW of the
    controller in pod POD_KEY."""
    out: list[Event] = []
    for name in now.get("claimed", []):
        if name not in seen.get("claimed", []):
            out.append((ingress_key(name), "Normal", "Sync", "Scheduled for sync"))
    if now.get("reloads", 0) > seen.get("reloads", 0):
        out.append((pod_key, "Normal", "RELOAD",
                    "NGINX reload triggered due to a change in configuration"))
    if not now.get("ok", True) and (seen.get("ok", True) or
                                    seen.get("error") != now.get("error")):
        error = now.get("error", "")
        out.append((pod_key, "Warning", "RELOAD", f"Error reloading NGINX: {error}"))
        for name in now.get("culprits", []):
            out.append((ingress_key(name), "Warning", "Sync",
                        f"Error reloading NGINX (the previous configuration is kept): {error}"))
    return out

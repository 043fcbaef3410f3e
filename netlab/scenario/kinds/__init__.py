"""One module per kind; importing this package registers them all (``scenario/registry.py``).
The Lab document is loaded first (``lab.py``), since every other kind is checked against it."""

from netlab.scenario.kinds import (
    check,
    endpoints,
    gateway,
    ingress,
    metallb,
    namespace,
    pod,
    service,
    workloads,
)

__all__ = ["check", "endpoints", "gateway", "ingress", "metallb", "namespace", "pod", "service",
           "workloads"]

"""Which kinds netlab loads, and how: one module per kind registers itself here
(``kinds/``). Adding a kind (Ingress, Gateway, IPAddressPool, DaemonSet) is a new module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.model import (
    CheckSpec,
    Deployment,
    EndpointsManifest,
    LabSpec,
    PodManifest,
    Service,
)
from netlab.scenario import validate
from netlab.scenario.fieldpath import Report


@dataclass
class Loaded:
    """What the documents loaded so far hold (the kinds' loaders add to it)."""

    lab: LabSpec
    namespaces: set[str]
    pods: list[PodManifest] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)
    endpoints: list[EndpointsManifest] = field(default_factory=list)


@dataclass(frozen=True)
class Meta:
    """A document's name and namespace ("" for cluster-scoped kinds)."""

    name: str
    namespace: str


Loader = Callable[[dict, Meta, Report, Loaded], None]


@dataclass(frozen=True)
class Kind:
    name: str
    api_versions: tuple[str, ...]  # the first is the one to suggest
    schema: object  # the known fields (schema.py), for strict validation
    load: Loader
    namespaced: bool = True
    name_rule: Callable[[object], str | None] = validate.dns_subdomain


KINDS: dict[str, Kind] = {}


def kind(name: str, api_versions: tuple[str, ...], schema: object, *, namespaced: bool = True,
         name_rule: Callable[[object], str | None] = validate.dns_subdomain
         ) -> Callable[[Loader], Loader]:
    def register(fn: Loader) -> Loader:
        KINDS[name] = Kind(name, api_versions, schema, fn, namespaced, name_rule)
        return fn
    return register

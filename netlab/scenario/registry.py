"""Which kinds netlab loads, and how: one module per kind registers itself here
(``kinds/``). Adding a kind (Ingress, Gateway, IPAddressPool, DaemonSet) is a new module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from netlab.model import (
    AddressPool,
    CheckSpec,
    Deployment,
    EndpointsManifest,
    Gateway,
    GatewayClass,
    HTTPRoute,
    Ingress,
    IngressClass,
    L2Advertisement,
    LabSpec,
    PodManifest,
    ReferenceGrant,
    Service,
    TlsSecret,
)
from netlab.scenario import validate
from netlab.scenario.fieldpath import Report


@dataclass
class Loaded:
    """What the documents loaded so far hold (the kinds' loaders add to it)."""

    lab: LabSpec
    namespaces: set[str]
    pods: list[PodManifest] = field(default_factory=list)
    pools: list[AddressPool] = field(default_factory=list)
    advertisements: list[L2Advertisement] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)
    endpoints: list[EndpointsManifest] = field(default_factory=list)
    passive: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, note)
    ingresses: list[Ingress] = field(default_factory=list)
    ingress_classes: list[IngressClass] = field(default_factory=list)
    tls_secrets: list[TlsSecret] = field(default_factory=list)
    gateway_classes: list[GatewayClass] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    http_routes: list[HTTPRoute] = field(default_factory=list)
    reference_grants: list[ReferenceGrant] = field(default_factory=list)


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


# Kinds a cluster has that change nothing in a lab's network: accepted as they are (their
# name checked, nothing else), and listed once. (kind: (apiVersions, namespaced))
_RBAC = ("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1")
NO_EFFECT: dict[str, tuple[tuple[str, ...], bool]] = {
    "ServiceAccount": (("v1",), True),
"PersistentVolumeClaim": (("v1",), True),
    "PersistentVolume": (("v1",), False), "LimitRange": (("v1",), True),
    "ResourceQuota": (("v1",), True), "Role": (_RBAC, True), "RoleBinding": (_RBAC, True),
    "ClusterRole": (_RBAC, False), "ClusterRoleBinding": (_RBAC, False),
    "StorageClass": (("storage.k8s.io/v1", "storage.k8s.io/v1beta1"), False),
    "CronJob": (("batch/v1", "batch/v1beta1"), True),
    "HorizontalPodAutoscaler": (("autoscaling/v2", "autoscaling/v1", "autoscaling/v2beta2",
                                 "autoscaling/v2beta1"), True),
    "PodDisruptionBudget": (("policy/v1", "policy/v1beta1"), True),
    "PriorityClass": (("scheduling.k8s.io/v1",), False),
    "CustomResourceDefinition": (("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"),
                                 False),
    "MutatingWebhookConfiguration": (("admissionregistration.k8s.io/v1",), False),
    "ValidatingWebhookConfiguration": (("admissionregistration.k8s.io/v1",), False),
    "APIService": (("apiregistration.k8s.io/v1",), False),
    "VerticalPodAutoscaler": (("autoscaling.k8s.io/v1",), True),
}
# Kinds that do change a cluster's network, which netlab does not act on yet: accepted, with
# a warning saying the lab behaves as if they were absent. (kind: (apiVersions, namespaced))
NOT_YET: dict[str, tuple[tuple[str, ...], bool]] = {
    "NetworkPolicy": (("networking.k8s.io/v1",), True),
    "StatefulSet": (("apps/v1",), True),
}


def passive(kind_: str) -> tuple[tuple[str, ...], bool, str] | None:
    """(apiVersions, namespaced, note) of a kind netlab accepts without acting on it."""
    if kind_ in KINDS:
        return None
    if kind_ in NO_EFFECT:
        return (*NO_EFFECT[kind_], "no effect on the lab")
    if kind_ in NOT_YET:
        return (*NOT_YET[kind_], "not acted on by netlab yet (the lab behaves as if they "
                                 "were absent)")
    return None


def known_kinds() -> list[str]:
    return ["Lab", *KINDS, *NO_EFFECT, *NOT_YET]

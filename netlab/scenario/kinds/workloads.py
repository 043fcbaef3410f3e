"""Deployment (apps/v1): replicas of a pod template, selected by matchLabels."""

from __future__ import annotations

from netlab.model import Deployment
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import labels, whole
from netlab.scenario.kinds.pod import pod_spec
from netlab.scenario.registry import Loaded, Meta, kind

SPEC = Path("spec")


@kind("Deployment", ("apps/v1",), schema.KINDS["Deployment"])
def load_deployment(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        r.add(SPEC, "spec is required")
        return
    replicas = whole(r, spec.get("replicas", 1), SPEC.child("replicas"), 0, None,
                     f"replicas must be a whole number >= 0, got {spec.get('replicas')!r}", 0)
    selector = spec.get("selector") or {}
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    if isinstance(selector, dict) and selector.get("matchExpressions"):
        r.add(SPEC.child("selector", "matchExpressions"),
              "matchExpressions are not supported yet; use matchLabels")
    reason = validate.labels(match)
    if not match or reason:
        r.add(SPEC.child("selector"), reason or "selector.matchLabels is required")
        match = {}
    template = spec.get("template")
    if not isinstance(template, dict):
        r.add(SPEC.child("template"), "template is required")
        return
    tpath = SPEC.child("template", "metadata", "labels")
    tlabels = labels(r, tpath, (template.get("metadata") or {}).get("labels"))
    if match and not set(match.items()) <= set(tlabels):
        r.add(tpath, "selector does not match template labels")
    pod = pod_spec(r, template.get("spec"), SPEC.child("template", "spec"), loaded.lab)
    own = labels(r, Path("metadata", "labels"), (body.get("metadata") or {}).get("labels"))
    if pod is not None:
        loaded.deployments.append(Deployment(meta.name, meta.namespace, replicas,
                                             tuple(sorted(match.items())), tlabels, pod, own))

"""Workloads (apps/v1): Deployment (with its rollout strategy), ReplicaSet on its own and
DaemonSet; pod templates selected by matchLabels, validated as the apiserver does."""

from __future__ import annotations

import re
from dataclasses import replace

from netlab.model import Deployment
from netlab.plan.workloads import raw
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import labels, whole
from netlab.scenario.kinds.pod import pod_spec
from netlab.scenario.registry import Loaded, Meta, kind

SPEC = Path("spec")
PERCENT = re.compile(r"^(0|[1-9][0-9]*)%$")


def _template(body: dict, meta: Meta, r: Report, loaded: Loaded, kind_: str
              ) -> Deployment | None:
    """What every workload has: replicas, selector, template."""
    spec = body.get("spec")
    if not isinstance(spec, dict):
        r.add(SPEC, "spec is required")
        return None
    replicas = whole(r, spec.get("replicas", 1), SPEC.child("replicas"), 0, None,
                     f"replicas must be a whole number >= 0, got {spec.get('replicas')!r}", 0)
    selector = spec.get("selector") or {}
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    if kind_ == "Job" and not selector:  # the Job controller selects its pods by itself
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        match = (template.get("metadata") or {}).get("labels") or {"job-name": meta.name}
        template.setdefault("metadata", {}).setdefault("labels", dict(match))
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
        return None
    tpath = SPEC.child("template", "metadata", "labels")
    tlabels = labels(r, tpath, (template.get("metadata") or {}).get("labels"))
    if match and not set(match.items()) <= set(tlabels):
        r.add(tpath, "`selector` does not match template `labels`")
    pod = pod_spec(r, template.get("spec"), SPEC.child("template", "spec"), loaded.lab)
    if pod is not None and kind_ != "Job" and pod.restart_policy != "Always":
        r.add(SPEC.child("template", "spec", "restartPolicy"),
              f'Unsupported value: "{pod.restart_policy}": supported values: "Always"')
        pod = None
    elif pod is not None and kind_ == "Job" and pod.restart_policy == "Always":
        r.add(SPEC.child("template", "spec", "restartPolicy"),
              'Unsupported value: "Always": supported values: "OnFailure", "Never"')
        pod = None
    own = labels(r, Path("metadata", "labels"), (body.get("metadata") or {}).get("labels"))
    tnotes = (template.get("metadata") or {}).get("annotations") or {}
    tnotes = tuple(sorted((str(k), str(v)) for k, v in tnotes.items())) \
        if isinstance(tnotes, dict) else ()
    notes = (body.get("metadata") or {}).get("annotations") or {}
    cause = notes.get("kubernetes.io/change-cause", "") if isinstance(notes, dict) else ""
    if pod is None:
        return None
    return Deployment(meta.name, meta.namespace, replicas, tuple(sorted(match.items())),
                      tlabels, pod, own, raw_template=raw(template), change_cause=str(cause),
                      kind=kind_, template_annotations=tnotes)


def _int_or_percent(r: Report, value: object, path: Path, default: int | str) -> int | str:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            r.add(path, f"Invalid value: {value}: must be greater than or equal to 0")
            return default
        return value
    if isinstance(value, str) and PERCENT.match(value):
        return value
    r.add(path, f"Invalid value: {value!r}: a valid percent string must be a numeric string "
                "followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation "
                "is '[0-9]+%')")
    return default


def _strategy(r: Report, spec: dict) -> dict:
    """spec.strategy as ValidateDeploymentStrategy checks it, with the defaults."""
    path = SPEC.child("strategy")
    strategy = spec.get("strategy") or {}
    if not isinstance(strategy, dict):
        r.add(path, "must be a mapping")
        return {}
    type_ = strategy.get("type") or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    if type_ not in ("RollingUpdate", "Recreate"):
        r.add(path.child("type"), f'Unsupported value: "{type_}": supported values: '
                                  '"Recreate", "RollingUpdate"')
        return {}
    if type_ == "Recreate":
        if rolling is not None:
            r.add(path.child("rollingUpdate"),
                  "Forbidden: may not be specified when strategy `type` is 'Recreate'")
        return {"strategy": "Recreate"}
    rolling = rolling if isinstance(rolling, dict) else {}
    rpath = path.child("rollingUpdate")
    surge = _int_or_percent(r, rolling.get("maxSurge"), rpath.child("maxSurge"), "25%")
    unavailable = _int_or_percent(r, rolling.get("maxUnavailable"),
                                  rpath.child("maxUnavailable"), "25%")
    if isinstance(unavailable, str) and int(unavailable[:-1]) > 100:
        r.add(rpath.child("maxUnavailable"),
              f"Invalid value: {unavailable!r}: must not be greater than 100%")
    if str(surge) in ("0", "0%") and str(unavailable) in ("0", "0%"):
        r.add(rpath.child("maxUnavailable"),
              f"Invalid value: {unavailable!r}: may not be 0 when `maxSurge` is 0")
    return {"strategy": "RollingUpdate", "max_surge": surge, "max_unavailable": unavailable}


@kind("Deployment", ("apps/v1",), schema.KINDS["Deployment"])
def load_deployment(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    d = _template(body, meta, r, loaded, "Deployment")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    strategy = _strategy(r, spec)
    min_ready = whole(r, spec.get("minReadySeconds", 0), SPEC.child("minReadySeconds"), 0,
                      None, "must be greater than or equal to 0", 0)
    history = whole(r, spec.get("revisionHistoryLimit", 10),
                    SPEC.child("revisionHistoryLimit"), 0, None,
                    "must be greater than or equal to 0", 10)
    if spec.get("paused"):
        r.add(SPEC.child("paused"), "paused Deployments are not supported yet")
    if d is not None:
        loaded.deployments.append(replace(d, min_ready=min_ready, history=history,
                                          **strategy))


@kind("ReplicaSet", ("apps/v1",), schema.KINDS["ReplicaSet"])
def load_replicaset(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    d = _template(body, meta, r, loaded, "ReplicaSet")
    if d is not None:
        loaded.deployments.append(d)


@kind("DaemonSet", ("apps/v1",), schema.KINDS["DaemonSet"])
def load_daemonset(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        r.add(SPEC.child("replicas"), 'field not declared in schema (a DaemonSet runs one pod '
                                      'per node)')
    d = _template(body, meta, r, loaded, "DaemonSet")
    update = spec.get("updateStrategy") if isinstance(spec, dict) else None
    type_ = (update or {}).get("type", "RollingUpdate") if isinstance(update or {}, dict) else ""
    if type_ not in ("RollingUpdate", "OnDelete"):
        r.add(SPEC.child("updateStrategy", "type"), f'Unsupported value: "{type_}": supported '
                                                    'values: "OnDelete", "RollingUpdate"')
    if d is not None:
        loaded.deployments.append(replace(d, replicas=0, strategy=type_))


@kind("Job", ("batch/v1",), schema.KINDS["Job"])
def load_job(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    numbers = {}
    for field_, key, default in (("completions", "completions", 1),
                                 ("parallelism", "parallelism", 1),
                                 ("backoffLimit", "backoff_limit", 6)):
        numbers[key] = whole(r, spec.get(field_, default), SPEC.child(field_), 0, None,
                             "must be greater than or equal to 0", default)
    d = _template(body, meta, r, loaded, "Job")
    if d is not None:
        loaded.deployments.append(replace(d, replicas=0, **numbers))

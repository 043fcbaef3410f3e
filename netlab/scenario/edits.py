"""How ``apply``, ``delete`` and ``scale`` edit a running lab's documents. Pure: documents in,
documents out (``lifecycle/change.py`` then validates and applies them)."""

from __future__ import annotations

import copy

from netlab.errors import UsageError
from netlab.scenario.loader import Doc

# kubectl's resource names and short names, to the kind they name
RESOURCE_KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod", "deploy": "Deployment",
                  "deployment": "Deployment", "deployments": "Deployment",
                  "svc": "Service", "service": "Service", "services": "Service",
                  "ep": "Endpoints", "endpoints": "Endpoints",
                  "endpointslice": "EndpointSlice", "endpointslices": "EndpointSlice",
                  "check": "Check", "checks": "Check", "ns": "Namespace", "namespace": "Namespace"}
CLUSTER_SCOPED = ("Namespace", "Lab", "Check")


def doc_key(body: dict) -> tuple[str, str, str]:
    """(kind, namespace, name): what identifies a document, as the API server keys objects."""
    meta = body.get("metadata") or {}
    kind = body.get("kind", "")
    ns = "" if kind in CLUSTER_SCOPED else meta.get("namespace", "default")
    return kind, ns, str(meta.get("name", ""))


def parse_resource(ref: str) -> tuple[str, str]:
    """KIND/NAME as kubectl takes it (deploy/web, svc/web-svc-cip) to (Kind, name)."""
    kind, sep, name = ref.partition("/")
    if not sep or kind.lower() not in RESOURCE_KINDS or not name:
        raise UsageError(f"expected KIND/NAME (pod, deploy, svc, ep, endpointslice, check, "
                         f"ns), got '{ref}'")
    return RESOURCE_KINDS[kind.lower()], name


def apply(docs: list[dict], incoming: list[Doc]) -> tuple[list[dict], list[str]]:
    """Documents INCOMING created or replacing those with the same key, and what kubectl
    apply would print for each (created, configured, unchanged)."""
    out = list(docs)
    index = {doc_key(d["body"]): i for i, d in enumerate(out)}
    report = []
    for doc in incoming:
        key = doc_key(doc.body)
        label = f"{key[0].lower()}/{key[2]}"
        entry = {"file": doc.file, "index": doc.index, "body": doc.body}
        if key in index:
            same = out[index[key]]["body"] == doc.body
            out[index[key]] = entry
            report.append(f"{label} {'unchanged' if same else 'configured'}")
        else:
            index[key] = len(out)
            out.append(entry)
            report.append(f"{label} created")
    return out, report


def delete(docs: list[dict], wanted: list[tuple[str, str]], namespace: str,
           lab: str) -> list[dict]:
    """The documents without the objects WANTED ((kind, name) in NAMESPACE)."""
    keep = list(docs)
    for kind, name in wanted:
        ns = "" if kind in CLUSTER_SCOPED else namespace
        match = [d for d in keep if doc_key(d["body"]) == (kind, ns, name)]
        if not match:
            raise UsageError(f"{kind.lower()} \"{name}\" not found in lab {lab}")
        keep = [d for d in keep if d not in match]
    return keep


def scale(docs: list[dict], namespace: str, name: str, replicas: int,
          lab: str) -> list[dict]:
    """The documents with Deployment NAME's replicas set to REPLICAS."""
    out = list(docs)
    for i, d in enumerate(out):
        if doc_key(d["body"]) == ("Deployment", namespace, name):
            body = copy.deepcopy(d["body"])
            body.setdefault("spec", {})["replicas"] = replicas
            out[i] = dict(d, body=body)
            return out
    raise UsageError(f'deployment "{name}" not found in lab {lab}')


def set_template(docs: list[dict], namespace: str, name: str, template: dict,
                 lab: str) -> list[dict]:
    """The documents with Deployment NAME's pod template replaced by TEMPLATE (rollout
    undo: the template of an earlier ReplicaSet)."""
    out = list(docs)
    for i, d in enumerate(out):
        if doc_key(d["body"]) == ("Deployment", namespace, name):
            body = copy.deepcopy(d["body"])
            body.setdefault("spec", {})["template"] = copy.deepcopy(template)
            out[i] = dict(d, body=body)
            return out
    raise UsageError(f'deployment "{name}" not found in lab {lab}')


def restart(docs: list[dict], namespace: str, name: str, when: str, lab: str) -> list[dict]:
    """kubectl rollout restart: the pod template's kubectl.kubernetes.io/restartedAt set to
    WHEN, which makes a new revision."""
    out = list(docs)
    for i, d in enumerate(out):
        if doc_key(d["body"]) == ("Deployment", namespace, name):
            body = copy.deepcopy(d["body"])
            meta = body.setdefault("spec", {}).setdefault("template", {}).setdefault(
                "metadata", {})
            meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = when
            out[i] = dict(d, body=body)
            return out
    raise UsageError(f'deployment "{name}" not found in lab {lab}')

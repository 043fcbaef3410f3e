"""Load a scenario: one Lab document, Kubernetes manifests and Check documents.

Input may be one multi-document file plus manifest files and folders (like ``kubectl apply -f``).
The Lab is loaded first; every other document goes to its kind's loader (``kinds/``, behind
``registry.py``), which reports every error it finds; all errors of all documents are raised
together, each naming the file, the document and the field path. Nothing here touches the
system: reading files is all it does.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml

from netlab.errors import ScenarioError, ScenarioErrors
from netlab.model import LabSpec, Scenario
from netlab.scenario import kinds, schema, validate  # noqa: F401 (kinds: registers them)
from netlab.scenario.fieldpath import Report
from netlab.scenario.kinds.lab import default_lab, load_lab
from netlab.scenario.registry import KINDS, Kind, Loaded, Meta, known_kinds, passive

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_DEPTH = 100  # no Kubernetes object nests nearly this deep
MAX_DOCUMENTS = 10000
# and MetalLB's, since the lab plays MetalLB
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease",
                      "metallb-system")



@dataclass(frozen=True)
class Doc:
    file: str
    index: int
    body: dict

    @property
    def label(self) -> str:
        kind = self.body.get("kind", "?")
        meta = self.body.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else ""
        return f"{kind}/{name}" if isinstance(name, str) and name else str(kind)

    def error(self, message: str, field: str = "") -> ScenarioError:
        return ScenarioError(message, file=self.file, doc=self.index,
                             field=f"{self.label} {field}".strip())


class StrictLoader(yaml.SafeLoader):
    """The safe loader, as strict as kubectl: a key given twice in one mapping is an error,
    and no document nests deeper than MAX_DEPTH (a deeper one would exhaust the stack)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 (PyYAML's signature)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"the document is nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: ANN001
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} is already set in this mapping (first "
                            f"at line {first[key].line + 1})", key_node.start_mark)
                    first[key] = key_node.start_mark
                except TypeError:  # an unhashable key: the base class says so
                    pass
        return super().construct_mapping(node, deep)


def parse_documents(text: str, file: str) -> list[Doc]:
    """Split multi-document YAML (strict safe loader only); expand ``kind: List``."""
    raw: list = []
    try:
        for body in yaml.load_all(text, Loader=StrictLoader):  # noqa: S506 (a safe loader)
            raw.append(body)
            if len(raw) > MAX_DOCUMENTS:
                raise ScenarioError(f"more than {MAX_DOCUMENTS} documents in one file",
                                    file=file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"YAML error{where}: {problem}", file=file) from None
    except RecursionError:
        raise ScenarioError("YAML error: the document is nested too deeply", file=file) from None
    docs: list[Doc] = []
    for i, body in enumerate(raw):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ScenarioError("a document must be a mapping with apiVersion and kind",
                                file=file, doc=i)
        kind_ = body.get("kind")
        if isinstance(kind_, str) and kind_.endswith("List") and \
                isinstance(body.get("items"), list):  # List, ServiceList, PodList...
            docs += [Doc(file, i, item) for item in body["items"] if isinstance(item, dict)]
        else:
            docs.append(Doc(file, i, body))
    return docs


def manifest_files(folder: str) -> list[str]:
    """A folder's manifests (*.yaml, *.yml, *.json), its subfolders' too, as ``kubectl apply
    -R -f`` reads them: in a stable order, by path; hidden entries skipped."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [os.path.join(root, n) for n in sorted(files)
                if n.endswith(MANIFEST_SUFFIXES) and not n.startswith(".")]
    return sorted(out, key=lambda p: os.path.relpath(p, folder).split(os.sep))


def read_paths(paths: Iterable[str]) -> list[Doc]:
    """Documents from files and folders (see ``manifest_files``)."""
    docs: list[Doc] = []
    for path in paths:
        if os.path.isdir(path):
            files = manifest_files(path)
        elif os.path.exists(path):
            files = [path]
        else:
            raise ScenarioError("no such file or folder", file=path)
        for f in files:
            try:
                with open(f, encoding="utf-8") as fh:
                    text = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(f"cannot read: {exc}", file=f) from None
            docs += parse_documents(text, f)
    return docs


def load_scenario(paths: Sequence[str], *, default_name: str = "") -> Scenario:
    """Load and validate the documents of PATHS into a Scenario."""
    return build_scenario(read_paths(paths), sources=tuple(paths), default_name=default_name)


def build_scenario(docs: list[Doc], *, sources: tuple[str, ...] = (),
                   default_name: str = "") -> Scenario:
    labs = [d for d in docs if d.body.get("kind") == "Lab"]
    if len(labs) > 1:
        raise labs[1].error("only one Lab document is allowed per scenario")
    lab = load_lab(labs[0].body, labs[0].file, labs[0].index) if labs else \
        default_lab(default_name, docs[0].file if docs else "scenario")
    loaded = Loaded(lab=lab, namespaces=set(BUILTIN_NAMESPACES))
    seen: dict[tuple[str, str, str], Doc] = {}
    errors: list[ScenarioError] = []
    for doc in docs:
        if doc.body.get("kind") != "Lab":
            errors += _load(doc, loaded, seen)
    if errors:
        raise ScenarioErrors(errors)
    scenario = Scenario(lab, tuple(loaded.pods), tuple(loaded.deployments),
                        tuple(loaded.services), tuple(loaded.checks), sources,
                        tuple(loaded.endpoints),
                        tuple({"file": d.file, "index": d.index, "body": d.body} for d in docs),
                        tuple(loaded.passive), tuple(loaded.pools),
                        tuple(loaded.advertisements), tuple(loaded.ingresses),
                        tuple(loaded.ingress_classes), tuple(loaded.tls_secrets),
                        tuple(loaded.gateway_classes), tuple(loaded.gateways),
                        tuple(loaded.http_routes), tuple(loaded.reference_grants))
    errors = cross_checks(scenario, loaded.namespaces, seen)
    if errors:
        raise ScenarioErrors(errors)
    return scenario


def _load(doc: Doc, loaded: Loaded, seen: dict[tuple[str, str, str], Doc]
          ) -> list[ScenarioError]:
    """One document through its kind's loader; every error it has."""
    r = Report(doc.file, doc.index, doc.label)
    name = doc.body.get("kind")
    k = KINDS.get(name)
    if k is None and isinstance(name, str) and passive(name):
        return _load_passive(doc, name, r, loaded, seen)
    if k is None:
        r.add("kind", unknown_kind(name, doc.body.get("apiVersion")))
        return r.errors
    api = doc.body.get("apiVersion")
    if api not in k.api_versions:
        r.add("apiVersion", f"apiVersion for {name} must be {k.api_versions[0]}, got {api!r}")
    for bad in schema.unknown_fields({key: v for key, v in doc.body.items()
                                      if key not in ("apiVersion", "kind")}, k.schema):
        r.add(bad, f"unknown field {bad!r}")
    meta = _meta(doc, k, r)
    if meta is None:
        return r.errors
    k.load(doc.body, meta, r, loaded)
    key = (name, meta.namespace, meta.name)
    if key in seen:
        first = seen[key]
        r.add("metadata.name", f"duplicate {name} {'/'.join(p for p in key[1:] if p)} (first "
                               f"defined in {first.file}, document {first.index + 1})")
    seen.setdefault(key, doc)
    return r.errors


def unknown_kind(name: object, api: object) -> str:
    """An unknown kind, with the near miss it may be (case and spelling)."""
    known = known_kinds()
    if not isinstance(name, str) or not name:
        return "every document needs a kind (Deployment, Service, Pod...)"
    by_case = {k.lower(): k for k in known}
    guess = by_case.get(name.lower()) or next(iter(difflib.get_close_matches(
        name, known, n=1, cutoff=0.75)), None)
    hint = f"; did you mean {guess}?" if guess else \
        " (a custom resource, or a kind of a newer Kubernetes than netlab knows)"
    return f"unknown kind {name!r} in apiVersion {api!r}{hint}"


def _load_passive(doc: Doc, name: str, r: Report, loaded: Loaded,
                  seen: dict[tuple[str, str, str], Doc]) -> list[ScenarioError]:
    """A kind that changes nothing in the lab (or that netlab does not act on yet): its
    apiVersion and name are checked, then it is listed."""
    apis, namespaced, note = passive(name)  # type: ignore[misc]
    api = doc.body.get("apiVersion")
    if api not in apis:
        r.add("apiVersion", f"apiVersion for {name} must be {apis[0]}, got {api!r}")
    meta = doc.body.get("metadata")
    obj = meta.get("name") if isinstance(meta, dict) else None
    if not r.check("metadata.name", validate.dns_subdomain(obj) if name not in (
            "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding") else
            (None if isinstance(obj, str) and obj and "/" not in obj
             else "a name is required")):
        return r.errors
    ns = (meta.get("namespace") or "default") if namespaced else ""
    key = (name, ns, obj)
    if key in seen:
        r.add("metadata.name", f"duplicate {name} {'/'.join(p for p in key[1:] if p)}")
    seen.setdefault(key, doc)
    if not r.errors:
        loaded.passive.append((name, f"{ns}/{obj}" if ns else obj, note))
    return r.errors


def _meta(doc: Doc, k: Kind, r: Report) -> Meta | None:
    meta = doc.body.get("metadata")
    if not isinstance(meta, dict):
        r.add("metadata", "metadata with a name is required")
        return None
    name = meta.get("name")
    if not r.check("metadata.name", k.name_rule(name)):
        return None
    ns = meta.get("namespace", "default") if k.namespaced else ""
    if k.namespaced and not r.check("metadata.namespace", validate.dns_label(ns)):
        return None
    return Meta(name, ns)


# -- checks across documents -------------------------------------------------------------------


def cross_checks(sc: Scenario, namespaces: set[str],
                 seen: dict[tuple[str, str, str], Doc]) -> list[ScenarioError]:
    """What no single document shows: namespaces, pod counts, address and port clashes,
    endpoints for services with selectors, check sources."""
    errors = []
    for (kind, ns, _name), doc in seen.items():
        if kind in ("Pod", "Deployment", "Service", "Ingress", "Gateway", "HTTPRoute") \
                and ns not in namespaces:
            errors.append(doc.error(f"namespace '{ns}' does not exist (add a Namespace "
                                    "document)", "metadata.namespace"))
    errors += _capacity(sc)
    errors += _service_clashes(sc, seen)
    for ep in sc.endpoints:
        svc = next((s for s in sc.services if s.name == ep.name
                    and s.namespace == ep.namespace), None)
        if svc is not None and svc.selector is not None:
            errors.append(ScenarioError(f"Endpoints for {ep.namespace}/{ep.name}: the Service "
                                        "has a selector, so its endpoints are computed (remove "
                                        "one)", field=f"Endpoints/{ep.name}"))
    for check in sc.checks:
        kind, name = check.source.split("/", 1)
        known = {
            "pod": {p.name for p in sc.pods if p.namespace == check.namespace},
            "deploy": {d.name for d in sc.deployments if d.namespace == check.namespace},
            "node": set(sc.lab.nodes), "client": set(sc.lab.clients),
        }["deploy" if kind == "deployment" else kind]
        if name not in known:
            errors.append(seen[("Check", "", check.name)].error(
                f"{check.source} does not exist in the scenario", "spec.from"))
        if check.during.startswith("deploy/") and not any(
                d.kind == "Deployment" and d.name == check.during.split("/", 1)[1]
                and d.namespace == check.namespace for d in sc.deployments):
            errors.append(seen[("Check", "", check.name)].error(
                f"{check.during} does not exist in the scenario", "spec.during"))
    return errors


def _capacity(sc: Scenario) -> list[ScenarioError]:
    total = len(sc.pods) + sum(d.replicas for d in sc.deployments)
    if total > sc.lab.max_pods:
        return [ScenarioError(f"the scenario asks for {total} pods, more than the cap "
                              f"spec.maxPods={sc.lab.max_pods}", field="Lab spec.maxPods")]
    per_node = 2 ** (32 - sc.lab.node_mask) - 3
    if total > per_node * len(sc.lab.nodes):
        return [ScenarioError(f"{total} pods do not fit in {len(sc.lab.nodes)} node "
                              f"/{sc.lab.node_mask} slices (at most {per_node} each; raise "
                              "nodeCIDRMaskSize's room with a smaller number, or add nodes)",
                              field="Lab spec.nodeCIDRMaskSize")]
    return []


def _service_clashes(sc: Scenario, seen: dict[tuple[str, str, str], Doc]
                     ) -> list[ScenarioError]:
    errors = []
    svc_net = ipaddress.ip_network(sc.lab.service_cidr)
    ips: dict[str, str] = {}
    used_ports: dict[tuple[int, str], str] = {}
    for svc in sc.services:
        doc = seen[("Service", svc.namespace, svc.name)]
        if svc.cluster_ip and svc.cluster_ip != "None":
            if ipaddress.ip_address(svc.cluster_ip) not in svc_net:
                errors.append(doc.error(f"clusterIP {svc.cluster_ip} is not in serviceCIDR "
                                        f"{svc_net}", "spec.clusterIP"))
            elif svc.cluster_ip in ips:
                errors.append(doc.error(f"clusterIP {svc.cluster_ip} is already used by "
                                        f"{ips[svc.cluster_ip]}", "spec.clusterIP"))
            ips.setdefault(svc.cluster_ip, f"{svc.namespace}/{svc.name}")
        wanted = [(p.node_port, p.protocol) for p in svc.ports if p.node_port]
        if svc.health_check_node_port:
            wanted.append((svc.health_check_node_port, "TCP"))
        for port, proto in wanted:
            if (port, proto) in used_ports:
                errors.append(doc.error(f"node port {port}/{proto} is already allocated to "
                                        f"{used_ports[(port, proto)]}", "spec.ports"))
            used_ports.setdefault((port, proto), f"{svc.namespace}/{svc.name}")
    return errors


def validate_host_overlap(lab: LabSpec, host_routes: Iterable[str]) -> None:
    """Reject lab CIDRs that overlap a route of the host (default routes excepted)."""
    for route in host_routes:
        net = ipaddress.ip_network(route, strict=False)
        if net.prefixlen == 0 or net.version != 4 or net.is_loopback:
            continue
        for field, cidr in (("podCIDR", lab.pod_cidr), ("serviceCIDR", lab.service_cidr),
                            ("nodeCIDR", lab.node_cidr)):
            if ipaddress.ip_network(cidr).overlaps(net):
                raise ScenarioError(f"{field} {cidr} overlaps the host's route to {net}; "
                                    "choose another range", field=f"Lab spec.{field}")

"""Load a scenario: one Lab document, Kubernetes manifests and Check documents.

Input may be one multi-document file plus manifest files and folders (like ``kubectl apply -f``).
Every error names the file, the document and the field. Nothing here touches the system.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml

from netlab.errors import ScenarioError
from netlab.model import (
    BUILTIN_APPS,
    PROXY_MODES,
    ROUTING_MODES,
    CheckSpec,
    Container,
    ContainerPort,
    Deployment,
    Expect,
    ImageApp,
    LabSpec,
    PodManifest,
    PodSpec,
    Scenario,
    Service,
    ServicePort,
)
from netlab.scenario import schema, validate

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SOURCE_KINDS = ("pod", "deploy", "deployment", "node", "client")


@dataclass(frozen=True)
class Doc:
    file: str
    index: int
    body: dict

    def error(self, message: str, field: str = "") -> ScenarioError:
        kind = self.body.get("kind", "?") if isinstance(self.body, dict) else "?"
        name = ""
        if isinstance(self.body, dict) and isinstance(self.body.get("metadata"), dict):
            name = self.body["metadata"].get("name") or ""
        label = f"{kind}/{name}" if name else str(kind)
        return ScenarioError(message, file=self.file, doc=self.index,
                             field=f"{label} {field}".strip() if field else label)


def parse_documents(text: str, file: str) -> list[Doc]:
    """Split multi-document YAML (safe loader only); expand ``kind: List``."""
    try:
        raw = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"YAML error{where}: {problem}", file=file) from None
    docs: list[Doc] = []
    for i, body in enumerate(raw):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ScenarioError("a document must be a mapping with apiVersion and kind",
                                file=file, doc=i)
        if body.get("kind") == "List" and isinstance(body.get("items"), list):
            docs += [Doc(file, i, item) for item in body["items"] if isinstance(item, dict)]
        else:
            docs.append(Doc(file, i, body))
    return docs


def read_paths(paths: Iterable[str]) -> list[Doc]:
    """Documents from files and folders (a folder's *.yaml, *.yml, *.json, sorted)."""
    docs: list[Doc] = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(MANIFEST_SUFFIXES))
            files = [os.path.join(path, n) for n in names]
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
    lab = _lab(labs[0]) if labs else _default_lab(default_name, docs)
    namespaces = set(BUILTIN_NAMESPACES)
    pods: list[PodManifest] = []
    deployments: list[Deployment] = []
    services: list[Service] = []
    checks: list[CheckSpec] = []
    seen: dict[tuple[str, str, str], Doc] = {}

    for doc in docs:
        kind = doc.body.get("kind")
        if kind == "Lab":
            continue
        _api_version(doc)
        if kind == "Check":
            checks.append(_check(doc))
            key = ("Check", "", checks[-1].name)
        elif kind in schema.KINDS:
            _strict(doc, schema.KINDS[kind])
            name, ns = _meta(doc, namespaced=kind != "Namespace",
                             rule=validate.dns_label if kind in ("Namespace", "Service")
                             else validate.dns_subdomain)
            if kind == "Service":
                reason = validate.dns1035_label(name)
                if reason:
                    raise doc.error(reason, "metadata.name")
            key = (kind, ns, name)
            if kind == "Namespace":
                namespaces.add(name)
            elif kind == "Pod":
                pods.append(PodManifest(name, ns, _labels(doc, doc.body["metadata"]),
                                        _pod_spec(doc, doc.body.get("spec"), "spec", lab)))
            elif kind == "Deployment":
                deployments.append(_deployment(doc, name, ns, lab))
            elif kind == "Service":
                services.append(_service(doc, name, ns))
        else:
            known = ", ".join(["Lab", "Check", *schema.KINDS])
            raise doc.error(f"unknown kind {kind!r} (netlab knows {known})", "kind")
        if key in seen:
            raise doc.error(f"duplicate {kind} {'/'.join(p for p in key[1:] if p)!s} "
                            f"(first defined in {seen[key].file}, document {seen[key].index + 1})",
                            "metadata.name")
        seen[key] = doc

    scenario = Scenario(lab, tuple(pods), tuple(deployments), tuple(services), tuple(checks),
                        sources)
    _cross_checks(scenario, namespaces, {k: d for k, d in seen.items()})
    return scenario


# -- the Lab document ------------------------------------------------------------------------


def _default_lab(name: str, docs: list[Doc]) -> LabSpec:
    if not name:
        where = docs[0].file if docs else "scenario"
        raise ScenarioError("no Lab document (apiVersion: netlab/v1, kind: Lab) and no --name",
                            file=where)
    reason = validate.dns_label(name)
    if reason:
        raise ScenarioError(f"lab name {reason}", field="--name")
    return LabSpec(name=name)


def _lab(doc: Doc) -> LabSpec:
    body = doc.body
    if body.get("apiVersion") != "netlab/v1":
        raise doc.error(f"apiVersion must be netlab/v1, got {body.get('apiVersion')!r}",
                        "apiVersion")
    for bad in schema.unknown_fields({k: v for k, v in body.items()
                                      if k not in ("apiVersion", "kind")}, schema.LAB):
        raise doc.error(f"unknown field {bad!r}", bad)
    meta = body.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    reason = validate.dns_label(name)
    if reason:
        raise doc.error(f"lab name {reason}", "metadata.name")
    if len(name) > 40:
        raise doc.error(f"lab name '{name}' is {len(name)} characters, the limit is 40",
                        "metadata.name")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise doc.error("must be a mapping", "spec")
    d = LabSpec(name=name)
    nodes = _name_list(doc, spec.get("nodes", list(d.nodes)), "spec.nodes", allow_empty=False)
    clients = _name_list(doc, spec.get("clients", []), "spec.clients", allow_empty=True)
    for c in clients:
        if c in nodes:
            raise doc.error(f"'{c}' is both a node and a client", "spec.clients")
    proxy = spec.get("proxyMode", d.proxy_mode)
    if proxy not in PROXY_MODES:
        raise doc.error(f"proxyMode must be one of {', '.join(PROXY_MODES)}, got {proxy!r}",
                        "spec.proxyMode")
    routing = spec.get("routing", d.routing)
    if routing not in ROUTING_MODES:
        raise doc.error(f"routing must be one of {', '.join(ROUTING_MODES)}, got {routing!r}",
                        "spec.routing")
    cidrs = {}
    for key, default in (("podCIDR", d.pod_cidr), ("serviceCIDR", d.service_cidr),
                         ("nodeCIDR", d.node_cidr)):
        cidrs[key] = _cidr(doc, spec.get(key, default), f"spec.{key}")
    names = list(cidrs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if cidrs[a].overlaps(cidrs[b]):
                raise doc.error(f"{a} {cidrs[a]} overlaps {b} {cidrs[b]}", f"spec.{b}")
    pod = cidrs["podCIDR"]
    mask = spec.get("nodeCIDRMaskSize", d.node_mask)
    if isinstance(mask, bool) or not isinstance(mask, int) or not 16 <= mask <= 28:
        raise doc.error(f"nodeCIDRMaskSize must be a whole number from 16 to 28, got {mask!r}",
                        "spec.nodeCIDRMaskSize")
    if pod.prefixlen > mask or 2 ** (mask - pod.prefixlen) < len(nodes):
        raise doc.error(f"podCIDR {pod} is too small: each of the {len(nodes)} nodes needs a "
                        f"/{mask}", "spec.podCIDR")
    svc = cidrs["serviceCIDR"]
    if svc.prefixlen > 28:
        raise doc.error(f"serviceCIDR {svc} is too small (at most /28)", "spec.serviceCIDR")
    lan = cidrs["nodeCIDR"]
    if lan.num_addresses - 3 < len(nodes) + len(clients):
        raise doc.error(f"nodeCIDR {lan} has no room for {len(nodes) + len(clients)} hosts",
                        "spec.nodeCIDR")
    domain = spec.get("clusterDomain", d.cluster_domain)
    reason = validate.dns_subdomain(domain)
    if reason:
        raise doc.error(reason, "spec.clusterDomain")
    max_pods = spec.get("maxPods", d.max_pods)
    if isinstance(max_pods, bool) or not isinstance(max_pods, int) or not 1 <= max_pods <= 60000:
        raise doc.error(f"maxPods must be a whole number from 1 to 60000, got {max_pods!r}",
                        "spec.maxPods")
    images = _images(doc, spec.get("images") or {})
    return LabSpec(name=name, nodes=nodes, clients=clients, proxy_mode=proxy, routing=routing,
                   pod_cidr=str(pod), node_mask=mask, service_cidr=str(svc), node_cidr=str(lan),
                   cluster_domain=domain, max_pods=max_pods, images=images)


def _name_list(doc: Doc, value: object, field: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise doc.error("must be a list of names" + ("" if allow_empty else " (at least one)"),
                        field)
    for i, item in enumerate(value):
        reason = validate.dns_label(item)
        if reason:
            raise doc.error(reason, f"{field}[{i}]")
    if len(set(value)) != len(value):
        dup = next(v for v in value if value.count(v) > 1)
        raise doc.error(f"duplicate name '{dup}'", field)
    return tuple(value)


def _cidr(doc: Doc, value: object, field: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise doc.error(f"not a valid IPv4 CIDR: {exc}", field) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise doc.error("only IPv4 is supported", field)
    return net


def _images(doc: Doc, value: object) -> tuple[tuple[str, ImageApp], ...]:
    if not isinstance(value, dict):
        raise doc.error("must map image names to {app, ports}", "spec.images")
    out = []
    for image, conf in value.items():
        field = f"spec.images[{image}]"
        if isinstance(conf, str):
            conf = {"app": conf}
        if not isinstance(conf, dict) or set(conf) - {"app", "ports"}:
            raise doc.error("must be {app: web|idle, ports: [..]}", field)
        app = conf.get("app", "web")
        if app not in BUILTIN_APPS:
            raise doc.error(f"app must be one of {', '.join(BUILTIN_APPS)}, got {app!r}", field)
        ports = conf.get("ports") or []
        for p in ports:
            reason = validate.port_number(p)
            if reason:
                raise doc.error(reason, f"{field}.ports")
        out.append((str(image), ImageApp(app, tuple(ports))))
    return tuple(out)


# -- Kubernetes manifests ----------------------------------------------------------------------


def _api_version(doc: Doc) -> None:
    kind, api = doc.body.get("kind"), doc.body.get("apiVersion")
    expected = {"Pod": ("v1",), "Service": ("v1",), "Namespace": ("v1",),
                "Deployment": ("apps/v1",), "Check": ("netlab/v1",)}.get(kind)
    if expected and api not in expected:
        raise doc.error(f"apiVersion for {kind} must be {expected[0]}, got {api!r}", "apiVersion")


def _strict(doc: Doc, spec: dict) -> None:
    body = {k: v for k, v in doc.body.items() if k not in ("apiVersion", "kind")}
    for bad in schema.unknown_fields(body, spec):
        raise doc.error(f"unknown field {bad!r}", bad)


def _meta(doc: Doc, *, namespaced: bool, rule) -> tuple[str, str]:
    meta = doc.body.get("metadata")
    if not isinstance(meta, dict):
        raise doc.error("metadata with a name is required", "metadata")
    name = meta.get("name")
    reason = rule(name)
    if reason:
        raise doc.error(reason, "metadata.name")
    ns = meta.get("namespace", "default") if namespaced else ""
    if namespaced:
        reason = validate.dns_label(ns)
        if reason:
            raise doc.error(reason, "metadata.namespace")
    return name, ns


def _labels(doc: Doc, meta: dict, field: str = "metadata.labels") -> tuple[tuple[str, str], ...]:
    value = meta.get("labels") if isinstance(meta, dict) else None
    reason = validate.labels(value)
    if reason:
        raise doc.error(reason, field)
    return tuple(sorted((value or {}).items()))


def _str_list(doc: Doc, value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise doc.error("must be a list of strings", field)
    return tuple(str(v) for v in value)


def _pod_spec(doc: Doc, spec: object, field: str, lab: LabSpec) -> PodSpec:
    if not isinstance(spec, dict):
        raise doc.error("must be a mapping", field)
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise doc.error("at least one container is required", f"{field}.containers")
    out: list[Container] = []
    names: set[str] = set()
    port_owner: dict[tuple[int, str], str] = {}
    port_names: set[str] = set()
    for i, c in enumerate(containers):
        cf = f"{field}.containers[{i}]"
        if not isinstance(c, dict):
            raise doc.error("must be a mapping", cf)
        reason = validate.dns_label(c.get("name"))
        if reason:
            raise doc.error(reason, f"{cf}.name")
        if c["name"] in names:
            raise doc.error(f"duplicate container name '{c['name']}'", f"{cf}.name")
        names.add(c["name"])
        image = c.get("image")
        if not isinstance(image, str) or not image:
            raise doc.error("image is required", f"{cf}.image")
        ports = []
        for j, p in enumerate(c.get("ports") or []):
            pf = f"{cf}.ports[{j}]"
            reason = validate.port_number(p.get("containerPort"))
            if reason:
                raise doc.error(reason, f"{pf}.containerPort")
            proto = p.get("protocol", "TCP")
            if proto not in ("TCP", "UDP"):
                raise doc.error(f"protocol must be TCP or UDP, got {proto!r}", f"{pf}.protocol")
            pname = p.get("name", "")
            if pname:
                reason = validate.port_name(pname)
                if reason:
                    raise doc.error(reason, f"{pf}.name")
                if pname in port_names:
                    raise doc.error(f"duplicate port name '{pname}'", f"{pf}.name")
                port_names.add(pname)
            key = (p["containerPort"], proto)
            if key in port_owner:
                raise doc.error(f"port {key[0]}/{proto} is already used by container "
                                f"'{port_owner[key]}'", f"{pf}.containerPort")
            port_owner[key] = c["name"]
            ports.append(ContainerPort(p["containerPort"], pname, proto))
        probe_ports: list[int] = []
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            body = c.get(probe)
            if not isinstance(body, dict):
                continue
            for handler in ("httpGet", "tcpSocket"):
                h = body.get(handler)
                if isinstance(h, dict) and "port" in h:
                    port = h["port"]
                    if isinstance(port, int) and not isinstance(port, bool):
                        reason = validate.port_number(port)
                        if reason:
                            raise doc.error(reason, f"{cf}.{probe}.{handler}.port")
                        probe_ports.append(port)
                    elif not any(cp.name == port for cp in ports):
                        raise doc.error(f"probe port '{port}' names no port of this container",
                                        f"{cf}.{probe}.{handler}.port")
        env = []
        for j, e in enumerate(c.get("env") or []):
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                raise doc.error("must have a name", f"{cf}.env[{j}]")
            env.append((e["name"], str(e.get("value", ""))))
        out.append(Container(
            name=c["name"], image=image,
            command=_str_list(doc, c.get("command"), f"{cf}.command"),
            args=_str_list(doc, c.get("args"), f"{cf}.args"),
            ports=tuple(ports), probe_ports=tuple(dict.fromkeys(probe_ports)), env=tuple(env)))
    node = spec.get("nodeName") or ""
    if node and node not in lab.nodes:
        raise doc.error(f"node '{node}' is not a node of lab '{lab.name}' "
                        f"({', '.join(lab.nodes)})", f"{field}.nodeName")
    host_net = spec.get("hostNetwork", False)
    if not isinstance(host_net, bool):
        raise doc.error("must be true or false", f"{field}.hostNetwork")
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            reason = validate.dns_label(spec[key])
            if reason:
                raise doc.error(reason, f"{field}.{key}")
    return PodSpec(tuple(out), node_name=node, host_network=host_net,
                   hostname=spec.get("hostname") or "", subdomain=spec.get("subdomain") or "")


def _deployment(doc: Doc, name: str, ns: str, lab: LabSpec) -> Deployment:
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        raise doc.error("spec is required", "spec")
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise doc.error(f"replicas must be a whole number >= 0, got {replicas!r}",
                        "spec.replicas")
    selector = spec.get("selector") or {}
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    if selector.get("matchExpressions"):
        raise doc.error("matchExpressions are not supported yet; use matchLabels",
                        "spec.selector.matchExpressions")
    reason = validate.labels(match)
    if not match or reason:
        raise doc.error(reason or "selector.matchLabels is required", "spec.selector")
    template = spec.get("template")
    if not isinstance(template, dict):
        raise doc.error("template is required", "spec.template")
    tlabels = _labels(doc, template.get("metadata") or {}, "spec.template.metadata.labels")
    if not set(match.items()) <= set(tlabels):
        raise doc.error("selector does not match template labels", "spec.template.metadata.labels")
    pod = _pod_spec(doc, template.get("spec"), "spec.template.spec", lab)
    return Deployment(name, ns, replicas, tuple(sorted(match.items())), tlabels, pod,
                      _labels(doc, doc.body["metadata"]))


def _service(doc: Doc, name: str, ns: str) -> Service:
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        raise doc.error("spec is required", "spec")
    stype = spec.get("type", "ClusterIP")
    if stype != "ClusterIP":
        raise doc.error(f"type {stype} is not supported yet (ClusterIP is)", "spec.type")
    ports_raw = spec.get("ports")
    if not isinstance(ports_raw, list) or not ports_raw:
        raise doc.error("at least one port is required", "spec.ports")
    ports: list[ServicePort] = []
    for i, p in enumerate(ports_raw):
        pf = f"spec.ports[{i}]"
        if not isinstance(p, dict):
            raise doc.error("must be a mapping", pf)
        reason = validate.port_number(p.get("port"))
        if reason:
            raise doc.error(reason, f"{pf}.port")
        proto = p.get("protocol", "TCP")
        if proto not in ("TCP", "UDP"):
            raise doc.error(f"protocol must be TCP or UDP, got {proto!r}", f"{pf}.protocol")
        pname = p.get("name", "")
        if len(ports_raw) > 1 and not pname:
            raise doc.error("ports must be named when a service has more than one", f"{pf}.name")
        if pname:
            reason = validate.port_name(pname)
            if reason:
                raise doc.error(reason, f"{pf}.name")
        target = p.get("targetPort", p["port"])
        if isinstance(target, str):
            reason = validate.port_name(target)
        else:
            reason = validate.port_number(target)
        if reason:
            raise doc.error(reason, f"{pf}.targetPort")
        ports.append(ServicePort(p["port"], target, proto, pname))
    keys = [(p.port, p.protocol) for p in ports]
    if len(set(keys)) != len(keys):
        raise doc.error("duplicate port and protocol", "spec.ports")
    if len({p.name for p in ports}) != len(ports):
        raise doc.error("duplicate port name", "spec.ports")
    selector = spec.get("selector")
    reason = validate.labels(selector)
    if reason:
        raise doc.error(reason, "spec.selector")
    cip = spec.get("clusterIP", "") or ""
    if cip and cip != "None":
        try:
            ipaddress.IPv4Address(cip)
        except ValueError:
            raise doc.error(f"clusterIP {cip!r} is not an IPv4 address or None",
                            "spec.clusterIP") from None
    return Service(name, ns, tuple(ports),
                   tuple(sorted(selector.items())) if selector else None, stype, cip,
                   _labels(doc, doc.body["metadata"]))


# -- Check documents -----------------------------------------------------------------------------


def _check(doc: Doc) -> CheckSpec:
    body = doc.body
    for bad in schema.unknown_fields({k: v for k, v in body.items()
                                      if k not in ("apiVersion", "kind")}, schema.CHECK):
        raise doc.error(f"unknown field {bad!r}", bad)
    meta = body.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    reason = validate.dns_subdomain(name)
    if reason:
        raise doc.error(reason, "metadata.name")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise doc.error("spec is required", "spec")
    source = spec.get("from")
    if not isinstance(source, str) or "/" not in source or \
            source.split("/", 1)[0] not in SOURCE_KINDS:
        raise doc.error("from must be pod/NAME, deploy/NAME, node/NAME or client/NAME",
                        "spec.from")
    protos = [p for p in ("http", "ping", "tcp", "dns") if p in spec]
    if len(protos) != 1:
        raise doc.error("exactly one of http, ping, tcp, dns is required", "spec")
    proto = protos[0]
    target = spec[proto]
    if not isinstance(target, str) or not target:
        raise doc.error("must name a target (svc/NAME, pod/NAME, node/NAME, client/NAME, an "
                        "address or a DNS name)", f"spec.{proto}")
    port = spec.get("port")
    if port is not None:
        reason = validate.port_number(port)
        if reason:
            raise doc.error(reason, "spec.port")
    if proto == "tcp" and port is None:
        raise doc.error("a tcp check needs a port", "spec.port")
    attempts = spec.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise doc.error("attempts must be a whole number from 1 to 1000", "spec.attempts")
    timeout = spec.get("timeoutSeconds", 2)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise doc.error("timeoutSeconds must be between 0 and 60", "spec.timeoutSeconds")
    e = spec.get("expect") or {}
    if not isinstance(e, dict):
        raise doc.error("must be a mapping", "spec.expect")
    success = e.get("success", True)
    if not isinstance(success, bool):
        raise doc.error("must be true or false", "spec.expect.success")
    status = e.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise doc.error("must be an HTTP status code", "spec.expect.status")
    distinct = e.get("distinctBackends")
    if distinct is not None and (not isinstance(distinct, int) or distinct < 1):
        raise doc.error("must be a whole number >= 1", "spec.expect.distinctBackends")
    if distinct is not None and distinct > attempts:
        raise doc.error(f"{distinct} distinct backends cannot answer {attempts} attempts",
                        "spec.expect.distinctBackends")
    if proto != "http" and any(e.get(k) is not None for k in
                               ("status", "bodyContains", "distinctBackends", "sourceIP")):
        raise doc.error("status, bodyContains, distinctBackends and sourceIP apply to http "
                        "checks", "spec.expect")
    answers = e.get("answers") or []
    if not isinstance(answers, list):
        raise doc.error("must be a list", "spec.expect.answers")
    rtype = str(spec.get("type", "A")).upper()
    return CheckSpec(
        name=name, source=source, protocol=proto, target=target,
        namespace=str(spec.get("namespace", "default")), port=port,
        path=str(spec.get("path", "/")), attempts=attempts, timeout_s=float(timeout),
        record_type=rtype, server=str(spec.get("server", "")),
        expect=Expect(success=success, status=status,
                      body_contains=None if e.get("bodyContains") is None
                      else str(e["bodyContains"]),
                      distinct_backends=distinct,
                      source_ip=None if e.get("sourceIP") is None else str(e["sourceIP"]),
                      answers=tuple(str(a) for a in answers)))


# -- checks across documents -------------------------------------------------------------------


def _cross_checks(sc: Scenario, namespaces: set[str], seen: dict) -> None:
    for key, doc in seen.items():
        kind, ns, _name = key
        if kind in ("Pod", "Deployment", "Service") and ns not in namespaces:
            raise doc.error(f"namespace '{ns}' does not exist (add a Namespace document)",
                            "metadata.namespace")
    total = len(sc.pods) + sum(d.replicas for d in sc.deployments)
    if total > sc.lab.max_pods:
        raise ScenarioError(f"the scenario asks for {total} pods, more than the cap "
                            f"spec.maxPods={sc.lab.max_pods}", field="Lab spec.maxPods")
    per_node = 2 ** (32 - sc.lab.node_mask) - 3
    if total > per_node * len(sc.lab.nodes):
        raise ScenarioError(f"{total} pods do not fit in {len(sc.lab.nodes)} node "
                            f"/{sc.lab.node_mask} slices (at most {per_node} each; raise "
                            "nodeCIDRMaskSize's room with a smaller number, or add nodes)",
                            field="Lab spec.nodeCIDRMaskSize")
    svc_net = ipaddress.ip_network(sc.lab.service_cidr)
    ips: dict[str, str] = {}
    for svc in sc.services:
        if svc.cluster_ip and svc.cluster_ip != "None":
            doc = seen[("Service", svc.namespace, svc.name)]
            if ipaddress.ip_address(svc.cluster_ip) not in svc_net:
                raise doc.error(f"clusterIP {svc.cluster_ip} is not in serviceCIDR {svc_net}",
                                "spec.clusterIP")
            if svc.cluster_ip in ips:
                raise doc.error(f"clusterIP {svc.cluster_ip} is already used by "
                                f"{ips[svc.cluster_ip]}", "spec.clusterIP")
            ips[svc.cluster_ip] = f"{svc.namespace}/{svc.name}"
    # Deployment pods and plain pods share a namespace's names; generated names never clash
    # with a plain pod named like them in practice, but a plain pod that reuses a Deployment's
    # name is fine in Kubernetes too.
    for check in sc.checks:
        doc = seen[("Check", "", check.name)]
        kind, name = check.source.split("/", 1)
        known = {
            "pod": {p.name for p in sc.pods if p.namespace == check.namespace},
            "deploy": {d.name for d in sc.deployments if d.namespace == check.namespace},
            "node": set(sc.lab.nodes), "client": set(sc.lab.clients),
        }["deploy" if kind == "deployment" else kind]
        if name not in known:
            raise doc.error(f"{check.source} does not exist in the scenario", "spec.from")


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

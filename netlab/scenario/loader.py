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
    IPVS_SCHEDULERS,
    PROXY_MODES,
    ROUTING_MODES,
    CheckSpec,
    ClientSpec,
    Container,
    ContainerPort,
    Deployment,
    EndpointsManifest,
    Expect,
    ImageApp,
    LabSpec,
    PodManifest,
    PodSpec,
    Probe,
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
    endpoints: list[EndpointsManifest] = []
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
                services.append(_service(doc, name, ns, lab))
            elif kind == "Endpoints":
                endpoints += _endpoints(doc, name, ns, lab)
            elif kind == "EndpointSlice":
                endpoints.append(_endpoint_slice(doc, ns, lab))
        else:
            known = ", ".join(["Lab", "Check", *schema.KINDS])
            raise doc.error(f"unknown kind {kind!r} (netlab knows {known})", "kind")
        if key in seen:
            raise doc.error(f"duplicate {kind} {'/'.join(p for p in key[1:] if p)!s} "
                            f"(first defined in {seen[key].file}, document {seen[key].index + 1})",
                            "metadata.name")
        seen[key] = doc

    scenario = Scenario(lab, tuple(pods), tuple(deployments), tuple(services), tuple(checks),
                        sources, tuple(endpoints),
                        tuple({"file": d.file, "index": d.index, "body": d.body} for d in docs))
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
    clients, client_apps = _clients(doc, spec.get("clients", []))
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
    port_range = _port_range(doc, spec.get("nodePortRange", "30000-32767"))
    ipvs = spec.get("ipvs") or {}
    scheduler = ipvs.get("scheduler", "rr") if isinstance(ipvs, dict) else None
    if scheduler not in IPVS_SCHEDULERS:
        raise doc.error(f"ipvs.scheduler must be one of {', '.join(IPVS_SCHEDULERS)}, got "
                        f"{scheduler!r}", "spec.ipvs.scheduler")
    strict_arp = ipvs.get("strictARP", False)
    vip_filter = ipvs.get("vipFilter", False)
    for key, value in (("strictARP", strict_arp), ("vipFilter", vip_filter)):
        if not isinstance(value, bool):
            raise doc.error("must be true or false", f"spec.ipvs.{key}")
    cluster_dns = spec.get("clusterDNS", True)
    if not isinstance(cluster_dns, bool):
        raise doc.error("must be true or false", "spec.clusterDNS")
    outside = spec.get("outsideNames") or {}
    if not isinstance(outside, dict):
        raise doc.error("must map DNS names to client hosts", "spec.outsideNames")
    for dns_name, client in outside.items():
        reason = validate.dns_subdomain(str(dns_name).rstrip("."))
        if reason:
            raise doc.error(reason, f"spec.outsideNames[{dns_name}]")
        if client not in clients:
            raise doc.error(f"'{client}' is not a client host of the lab",
                            f"spec.outsideNames[{dns_name}]")
    return LabSpec(node_port_range=port_range, client_apps=client_apps, cluster_dns=cluster_dns,
                   ipvs_scheduler=scheduler, strict_arp=strict_arp, ipvs_vip_filter=vip_filter,
                   outside_names=tuple(sorted((str(k).rstrip("."), v)
                                              for k, v in outside.items())),
                   name=name, nodes=nodes, clients=clients, proxy_mode=proxy, routing=routing,
                   pod_cidr=str(pod), node_mask=mask, service_cidr=str(svc), node_cidr=str(lan),
                   cluster_domain=domain, max_pods=max_pods, images=images)


def _clients(doc: Doc, value: object) -> tuple[tuple[str, ...], tuple[ClientSpec, ...]]:
    """clients: [laptop, {name: origin, app: web, ports: [80]}]"""
    if not isinstance(value, list):
        raise doc.error("must be a list of names or {name, app, ports}", "spec.clients")
    names, apps = [], []
    for i, item in enumerate(value):
        field = f"spec.clients[{i}]"
        if isinstance(item, dict):
            if set(item) - {"name", "app", "ports"}:
                raise doc.error("a client is a name or {name, app: web, ports: [..]}", field)
            app = item.get("app", "web")
            if app != "web":
                raise doc.error(f"a client can run the web app only, got {app!r}", field)
            ports = item.get("ports") or [80]
            for p in ports:
                reason = validate.port_number(p)
                if reason:
                    raise doc.error(reason, f"{field}.ports")
            names.append(item.get("name"))
            apps.append(ClientSpec(str(item.get("name")), app, tuple(ports)))
        else:
            names.append(item)
    return _name_list(doc, names, "spec.clients", allow_empty=True), tuple(apps)


def _port_range(doc: Doc, value: object) -> tuple[int, int]:
    """kube-apiserver's --service-node-port-range syntax: "30000-32767"."""
    try:
        low, high = (int(x) for x in str(value).split("-", 1))
    except ValueError:
        raise doc.error(f"must look like 30000-32767, got {value!r}", "spec.nodePortRange") \
            from None
    if not 1 <= low <= high <= 65535 or high - low < 1:
        raise doc.error(f"{value!r} is not a port range", "spec.nodePortRange")
    return low, high


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
    expected = {"Pod": ("v1",), "Service": ("v1",), "Namespace": ("v1",), "Endpoints": ("v1",),
                "Deployment": ("apps/v1",), "Check": ("netlab/v1",),
                "EndpointSlice": ("discovery.k8s.io/v1",)}.get(kind)
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


def _port_proto(doc: Doc, p: object, key: str, field: str) -> tuple[int, str]:
    """The port number under KEY and the protocol (TCP or UDP) of a port mapping."""
    if not isinstance(p, dict):
        raise doc.error("must be a mapping", field)
    reason = validate.port_number(p.get(key))
    if reason:
        raise doc.error(reason, f"{field}.{key}")
    proto = p.get("protocol", "TCP")
    if proto not in ("TCP", "UDP"):
        raise doc.error(f"protocol must be TCP or UDP, got {proto!r}", f"{field}.protocol")
    return p[key], proto


def _probe(doc: Doc, body: object, field: str) -> Probe | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise doc.error("must be a mapping", field)
    kinds = [k for k in ("httpGet", "tcpSocket", "exec", "grpc") if k in body]
    if len(kinds) != 1:
        raise doc.error("exactly one of httpGet, tcpSocket, exec is required", field)
    if kinds[0] == "grpc":
        raise doc.error("grpc probes are not supported yet", f"{field}.grpc")
    numbers = {}
    for key, default, low in (("initialDelaySeconds", 0, 0), ("periodSeconds", 10, 1),
                              ("timeoutSeconds", 1, 1), ("successThreshold", 1, 1),
                              ("failureThreshold", 3, 1)):
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise doc.error(f"must be a whole number >= {low}", f"{field}.{key}")
        numbers[key] = value
    handler = body[kinds[0]] or {}
    common = dict(initial_delay=numbers["initialDelaySeconds"], period=numbers["periodSeconds"],
                  timeout=numbers["timeoutSeconds"],
                  success_threshold=numbers["successThreshold"],
                  failure_threshold=numbers["failureThreshold"])
    if kinds[0] == "exec":
        return Probe("exec", command=_str_list(doc, handler.get("command"),
                                               f"{field}.exec.command"), **common)
    kind = "http" if kinds[0] == "httpGet" else "tcp"
    return Probe(kind, port=handler.get("port", 0), path=str(handler.get("path", "/")), **common)


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
            _number, proto = _port_proto(doc, p, "containerPort", pf)
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
        probes = {k: _probe(doc, c.get(k), f"{cf}.{k}")
                  for k in ("readinessProbe", "livenessProbe")}
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
            ports=tuple(ports), probe_ports=tuple(dict.fromkeys(probe_ports)), env=tuple(env),
            readiness=probes["readinessProbe"], liveness=probes["livenessProbe"]))
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
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy not in ("ClusterFirst", "Default", "ClusterFirstWithHostNet", "None"):
        raise doc.error("dnsPolicy must be ClusterFirst, Default, ClusterFirstWithHostNet or "
                        f"None, got {policy!r}", f"{field}.dnsPolicy")
    conf = spec.get("dnsConfig") or {}
    if not isinstance(conf, dict) or set(conf) - {"nameservers", "searches", "options"}:
        raise doc.error("must be {nameservers, searches, options}", f"{field}.dnsConfig")
    servers = tuple(_ipv4(doc, ip, f"{field}.dnsConfig.nameservers[{i}]")
                    for i, ip in enumerate(conf.get("nameservers") or []))
    if policy == "None" and not servers:
        raise doc.error("dnsPolicy None needs at least one dnsConfig nameserver",
                        f"{field}.dnsConfig.nameservers")
    options = []
    for i, o in enumerate(conf.get("options") or []):
        if not isinstance(o, dict) or "name" not in o:
            raise doc.error("an option is {name, value}", f"{field}.dnsConfig.options[{i}]")
        options.append((str(o["name"]), "" if o.get("value") is None else str(o["value"])))
    links = spec.get("enableServiceLinks", True)
    if not isinstance(links, bool):
        raise doc.error("must be true or false", f"{field}.enableServiceLinks")
    return PodSpec(tuple(out), node_name=node, host_network=host_net,
                   hostname=spec.get("hostname") or "", subdomain=spec.get("subdomain") or "",
                   dns_policy=policy, dns_nameservers=servers,
                   dns_searches=_str_list(doc, conf.get("searches"), f"{field}.dnsConfig.searches"),
                   dns_options=tuple(options), enable_service_links=links)


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


SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def _ipv4(doc: Doc, value: object, field: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise doc.error(f"{value!r} is not an IPv4 address", field) from None


def _service(doc: Doc, name: str, ns: str, lab: LabSpec) -> Service:
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        raise doc.error("spec is required", "spec")
    stype = spec.get("type", "ClusterIP")
    if stype not in SERVICE_TYPES:
        raise doc.error(f"type must be one of {', '.join(SERVICE_TYPES)}, got {stype!r}",
                        "spec.type")
    external_name = ""
    if stype == "ExternalName":
        external_name = spec.get("externalName") or ""
        reason = validate.dns_subdomain(str(external_name).rstrip("."))
        if reason:
            raise doc.error(f"externalName {reason}", "spec.externalName")
        if spec.get("clusterIP") not in (None, "", "None"):
            raise doc.error("an ExternalName service has no clusterIP", "spec.clusterIP")
    ports_raw = spec.get("ports") or []
    if not isinstance(ports_raw, list) or (not ports_raw and stype != "ExternalName"):
        raise doc.error("at least one port is required", "spec.ports")
    low, high = lab.node_port_range
    ports: list[ServicePort] = []
    for i, p in enumerate(ports_raw):
        pf = f"spec.ports[{i}]"
        _number, proto = _port_proto(doc, p, "port", pf)
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
        node_port = p.get("nodePort", 0) or 0
        if node_port:
            if stype not in ("NodePort", "LoadBalancer"):
                raise doc.error(f"nodePort may only be set on NodePort and LoadBalancer "
                                f"services, not {stype}", f"{pf}.nodePort")
            if isinstance(node_port, bool) or not isinstance(node_port, int) or \
                    not low <= node_port <= high:
                raise doc.error(f"nodePort {node_port} is outside the node port range "
                                f"{low}-{high}", f"{pf}.nodePort")
        ports.append(ServicePort(p["port"], target, proto, pname, node_port))
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
    if stype == "ExternalName":
        cip = ""
    elif cip and cip != "None":
        cip = _ipv4(doc, cip, "spec.clusterIP")
    if cip == "None" and stype != "ClusterIP":
        raise doc.error(f"a {stype} service cannot be headless (clusterIP: None)",
                        "spec.clusterIP")
    external_ips = tuple(_ipv4(doc, ip, f"spec.externalIPs[{i}]")
                         for i, ip in enumerate(spec.get("externalIPs") or []))
    lb_ips: list[str] = []
    if stype == "LoadBalancer":
        if spec.get("loadBalancerIP"):
            lb_ips.append(_ipv4(doc, spec["loadBalancerIP"], "spec.loadBalancerIP"))
        status = doc.body.get("status") or {}
        ingress = ((status.get("loadBalancer") or {}).get("ingress") or []) \
            if isinstance(status, dict) else []
        for i, ing in enumerate(ingress):
            if isinstance(ing, dict) and ing.get("ip"):
                ip = _ipv4(doc, ing["ip"], f"status.loadBalancer.ingress[{i}].ip")
                if ip not in lb_ips:
                    lb_ips.append(ip)
    ranges = []
    for i, cidr in enumerate(spec.get("loadBalancerSourceRanges") or []):
        try:
            ranges.append(str(ipaddress.IPv4Network(str(cidr), strict=False)))
        except ValueError:
            raise doc.error(f"{cidr!r} is not an IPv4 CIDR",
                            f"spec.loadBalancerSourceRanges[{i}]") from None
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("None", "ClientIP"):
        raise doc.error(f"sessionAffinity must be None or ClientIP, got {affinity!r}",
                        "spec.sessionAffinity")
    timeout = 10800
    conf = spec.get("sessionAffinityConfig") or {}
    if isinstance(conf, dict) and isinstance(conf.get("clientIP"), dict):
        timeout = conf["clientIP"].get("timeoutSeconds", 10800)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or \
                not 0 < timeout <= 86400:
            raise doc.error("timeoutSeconds must be from 1 to 86400",
                            "spec.sessionAffinityConfig.clientIP.timeoutSeconds")
    etp = spec.get("externalTrafficPolicy") or "Cluster"
    itp = spec.get("internalTrafficPolicy") or "Cluster"
    for field, value in (("externalTrafficPolicy", etp), ("internalTrafficPolicy", itp)):
        if value not in ("Cluster", "Local"):
            raise doc.error(f"{field} must be Cluster or Local, got {value!r}", f"spec.{field}")
    if spec.get("externalTrafficPolicy") and stype not in ("NodePort", "LoadBalancer") \
            and not external_ips:
        raise doc.error("externalTrafficPolicy may only be set on externally reachable "
                        "services (NodePort, LoadBalancer, externalIPs)",
                        "spec.externalTrafficPolicy")
    hc = spec.get("healthCheckNodePort", 0) or 0
    if hc:
        if stype != "LoadBalancer" or etp != "Local":
            raise doc.error("healthCheckNodePort needs type LoadBalancer with "
                            "externalTrafficPolicy Local", "spec.healthCheckNodePort")
        if isinstance(hc, bool) or not isinstance(hc, int) or not low <= hc <= high:
            raise doc.error(f"healthCheckNodePort {hc} is outside the node port range "
                            f"{low}-{high}", "spec.healthCheckNodePort")
    publish = spec.get("publishNotReadyAddresses", False)
    if not isinstance(publish, bool):
        raise doc.error("must be true or false", "spec.publishNotReadyAddresses")
    return Service(name, ns, tuple(ports),
                   tuple(sorted(selector.items())) if selector else None, stype, cip,
                   _labels(doc, doc.body["metadata"]), external_ips=external_ips,
                   load_balancer_ips=tuple(lb_ips), load_balancer_source_ranges=tuple(ranges),
                   session_affinity=affinity, affinity_timeout=timeout,
                   external_traffic_policy=etp, internal_traffic_policy=itp,
                   health_check_node_port=hc, external_name=str(external_name).rstrip("."),
                   publish_not_ready=publish)


def _endpoint_ports(doc: Doc, ports: object, field: str) -> tuple[tuple[str, str, int], ...]:
    out = []
    for i, p in enumerate(ports or []):
        number, proto = _port_proto(doc, p, "port", f"{field}[{i}]")
        out.append((p.get("name") or "", proto, number))
    return tuple(out)


def _endpoint_node(doc: Doc, node: object, field: str, lab: LabSpec) -> str:
    if node and node not in lab.nodes:
        raise doc.error(f"node '{node}' is not a node of lab '{lab.name}'", field)
    return str(node or "")


def _endpoints(doc: Doc, name: str, ns: str, lab: LabSpec) -> list[EndpointsManifest]:
    reason = validate.dns1035_label(name)
    if reason:
        raise doc.error(f"an Endpoints object is named after its Service: {reason}",
                        "metadata.name")
    out = []
    for i, subset in enumerate(doc.body.get("subsets") or []):
        sf = f"subsets[{i}]"
        ports = _endpoint_ports(doc, subset.get("ports"), f"{sf}.ports")
        addrs = []
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for j, a in enumerate(subset.get(key) or []):
                ip = _ipv4(doc, a.get("ip"), f"{sf}.{key}[{j}].ip")
                addrs.append((ip, ready, _endpoint_node(doc, a.get("nodeName"),
                                                        f"{sf}.{key}[{j}].nodeName", lab)))
        out.append(EndpointsManifest(name, ns, ports, tuple(addrs)))
    return out


def _endpoint_slice(doc: Doc, ns: str, lab: LabSpec) -> EndpointsManifest:
    labels = (doc.body.get("metadata") or {}).get("labels") or {}
    service = labels.get("kubernetes.io/service-name")
    if not service:
        raise doc.error("an EndpointSlice needs the label kubernetes.io/service-name",
                        "metadata.labels")
    if doc.body.get("addressType", "IPv4") != "IPv4":
        raise doc.error("only addressType IPv4 is supported", "addressType")
    ports = _endpoint_ports(doc, doc.body.get("ports"), "ports")
    addrs = []
    for i, ep in enumerate(doc.body.get("endpoints") or []):
        conditions = ep.get("conditions") or {}
        ready = conditions.get("ready", True) is not False
        node = _endpoint_node(doc, ep.get("nodeName"), f"endpoints[{i}].nodeName", lab)
        for j, ip in enumerate(ep.get("addresses") or []):
            addrs.append((_ipv4(doc, ip, f"endpoints[{i}].addresses[{j}]"), ready, node))
    return EndpointsManifest(service, ns, ports, tuple(addrs))


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
    count = e.get("answerCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise doc.error("must be a whole number >= 0", "spec.expect.answerCount")
    if proto != "dns" and (answers or count is not None):
        raise doc.error("answers and answerCount apply to dns checks", "spec.expect")
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
                      answers=tuple(str(a) for a in answers), answer_count=count))


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
    used_ports: dict[tuple[int, str], str] = {}
    for svc in sc.services:
        doc = seen[("Service", svc.namespace, svc.name)]
        wanted = [(p.node_port, p.protocol) for p in svc.ports if p.node_port]
        if svc.health_check_node_port:
            wanted.append((svc.health_check_node_port, "TCP"))
        for port, proto in wanted:
            if (port, proto) in used_ports:
                raise doc.error(f"node port {port}/{proto} is already allocated to "
                                f"{used_ports[(port, proto)]}", "spec.ports")
            used_ports[(port, proto)] = f"{svc.namespace}/{svc.name}"
    for ep in sc.endpoints:
        svc = next((s for s in sc.services if s.name == ep.name
                    and s.namespace == ep.namespace), None)
        if svc is not None and svc.selector is not None:
            raise ScenarioError(f"Endpoints for {ep.namespace}/{ep.name}: the Service has a "
                                "selector, so its endpoints are computed (remove one)",
                                field=f"Endpoints/{ep.name}")
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

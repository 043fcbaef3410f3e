"""Pod (v1), and the pod spec every workload's template holds: containers, their ports,
probes and environment, node placement, hostNetwork, hostname, DNS policy and config."""

from __future__ import annotations

from netlab.model import Container, ContainerPort, LabSpec, PodManifest, PodSpec, Probe
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, ipv4, labels, port_proto, str_list, whole
from netlab.scenario.registry import Loaded, Meta, kind

DNS_POLICIES = ("ClusterFirst", "Default", "ClusterFirstWithHostNet", "None")
# (field, default, lowest, highest): a lab runs for minutes, not days; an hour of delay,
# period or timeout is already more than any lesson waits for
PROBE_NUMBERS = (("initialDelaySeconds", 0, 0, 3600), ("periodSeconds", 10, 1, 3600),
                 ("timeoutSeconds", 1, 1, 3600), ("successThreshold", 1, 1, 1000),
                 ("failureThreshold", 3, 1, 1000))


@kind("Pod", ("v1",), schema.KINDS["Pod"])
def load_pod(body: dict, meta: Meta, r: Report, loaded: Loaded) -> None:
    spec = pod_spec(r, body.get("spec"), Path("spec"), loaded.lab)
    pod_labels = labels(r, Path("metadata", "labels"), (body.get("metadata") or {}).get("labels"))
    if spec is not None:
        loaded.pods.append(PodManifest(meta.name, meta.namespace, pod_labels, spec))


def pod_spec(r: Report, spec: object, path: Path, lab: LabSpec) -> PodSpec | None:
    if not isinstance(spec, dict):
        r.add(path, "must be a mapping")
        return None
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        r.add(path.child("containers"), "at least one container is required")
        containers = []
    out: list[Container] = []
    names: set[str] = set()
    port_owner: dict[tuple[int, str], str] = {}
    port_names: set[str] = set()
    for i, c in enumerate(containers):
        made = _container(r, c, path.child("containers").index(i), names, port_owner,
                          port_names)
        if made is not None:
            out.append(made)
    node = spec.get("nodeName") or ""
    if node and node not in lab.nodes:
        r.add(path.child("nodeName"), f"node '{node}' is not a node of lab '{lab.name}' "
                                      f"({', '.join(lab.nodes)})")
    host_net = boolean(r, spec.get("hostNetwork", False), path.child("hostNetwork"), False)
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            r.check(path.child(key), validate.dns_label(spec[key]))
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy not in DNS_POLICIES:
        r.add(path.child("dnsPolicy"), "dnsPolicy must be ClusterFirst, Default, "
                                       f"ClusterFirstWithHostNet or None, got {policy!r}")
    servers, searches, options = _dns_config(r, spec.get("dnsConfig") or {},
                                             path.child("dnsConfig"))
    if policy == "None" and not servers:
        r.add(path.child("dnsConfig", "nameservers"),
              "dnsPolicy None needs at least one dnsConfig nameserver")
    links = boolean(r, spec.get("enableServiceLinks", True), path.child("enableServiceLinks"),
                    True)
    if len(out) != len(containers):
        return None
    return PodSpec(tuple(out), node_name=node, host_network=host_net,
                   hostname=spec.get("hostname") or "", subdomain=spec.get("subdomain") or "",
                   dns_policy=policy, dns_nameservers=servers, dns_searches=searches,
                   dns_options=options, enable_service_links=links)


def _container(r: Report, c: object, path: Path, names: set[str],
               port_owner: dict[tuple[int, str], str],
               port_names: set[str]) -> Container | None:
    if not isinstance(c, dict):
        r.add(path, "must be a mapping")
        return None
    before = len(r.errors)
    name = c.get("name")
    if r.check(path.child("name"), validate.dns_label(name)):
        if name in names:
            r.add(path.child("name"), f"duplicate container name '{name}'")
        names.add(name)
    image = c.get("image")
    if not isinstance(image, str) or not image:
        r.add(path.child("image"), "image is required")
    ports = []
    for j, p in enumerate(c.get("ports") or []):
        port = _container_port(r, p, path.child("ports").index(j), str(name), port_owner,
                               port_names)
        if port is not None:
            ports.append(port)
    probes = {k: probe(r, c.get(k), path.child(k)) for k in ("readinessProbe", "livenessProbe")}
    probe_ports = _probe_ports(r, c, path, ports)
    env = []
    for j, e in enumerate(c.get("env") or []):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            r.add(path.child("env").index(j), "must have a name")
            continue
        env.append((e["name"], str(e.get("value", ""))))
    command = str_list(r, c.get("command"), path.child("command"))
    args = str_list(r, c.get("args"), path.child("args"))
    if len(r.errors) > before:
        return None
    return Container(name=name, image=image, command=command, args=args, ports=tuple(ports),
                     probe_ports=tuple(dict.fromkeys(probe_ports)), env=tuple(env),
                     readiness=probes["readinessProbe"], liveness=probes["livenessProbe"])


def _container_port(r: Report, p: object, path: Path, container: str,
                    port_owner: dict[tuple[int, str], str],
                    port_names: set[str]) -> ContainerPort | None:
    number_proto = port_proto(r, p, "containerPort", path)
    if number_proto is None:
        return None
    pname = p.get("name", "")
    if pname and r.check(path.child("name"), validate.port_name(pname)):
        if pname in port_names:
            r.add(path.child("name"), f"duplicate port name '{pname}'")
        port_names.add(pname)
    if number_proto in port_owner:
        r.add(path.child("containerPort"), f"port {number_proto[0]}/{number_proto[1]} is "
                                           f"already used by container "
                                           f"'{port_owner[number_proto]}'")
    port_owner.setdefault(number_proto, container)
    return ContainerPort(number_proto[0], pname, number_proto[1])


def _probe_ports(r: Report, c: dict, path: Path, ports: list[ContainerPort]) -> list[int]:
    """The numeric ports the container's probes use (a web app listens on them)."""
    out: list[int] = []
    for kind_ in ("readinessProbe", "livenessProbe", "startupProbe"):
        body = c.get(kind_)
        if not isinstance(body, dict):
            continue
        for handler in ("httpGet", "tcpSocket"):
            h = body.get(handler)
            if not isinstance(h, dict) or "port" not in h:
                continue
            port, p = h["port"], path.child(kind_, handler, "port")
            if isinstance(port, int) and not isinstance(port, bool):
                if r.check(p, validate.port_number(port)):
                    out.append(port)
            elif not any(cp.name == port for cp in ports):
                r.add(p, f"probe port '{port}' names no port of this container")
    return out


def probe(r: Report, body: object, path: Path) -> Probe | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        r.add(path, "must be a mapping")
        return None
    kinds = [k for k in ("httpGet", "tcpSocket", "exec", "grpc") if k in body]
    if len(kinds) != 1:
        r.add(path, "exactly one of httpGet, tcpSocket, exec is required")
        return None
    if kinds[0] == "grpc":
        r.add(path.child("grpc"), "grpc probes are not supported yet")
        return None
    n = {key: whole(r, body.get(key, default), path.child(key), low, high,
                    f"must be a whole number from {low} to {high}", default)
         for key, default, low, high in PROBE_NUMBERS}
    handler = body[kinds[0]] or {}
    common = dict(initial_delay=n["initialDelaySeconds"], period=n["periodSeconds"],
                  timeout=n["timeoutSeconds"], success_threshold=n["successThreshold"],
                  failure_threshold=n["failureThreshold"])
    if kinds[0] == "exec":
        return Probe("exec", command=str_list(r, handler.get("command"),
                                              path.child("exec", "command")), **common)
    kind_ = "http" if kinds[0] == "httpGet" else "tcp"
    return Probe(kind_, port=handler.get("port", 0), path=str(handler.get("path", "/")),
                 **common)


def _dns_config(r: Report, conf: object, path: Path
                ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    if not isinstance(conf, dict) or set(conf) - {"nameservers", "searches", "options"}:
        r.add(path, "must be {nameservers, searches, options}")
        return (), (), ()
    checked = [ipv4(r, v, path.child("nameservers").index(i))
               for i, v in enumerate(conf.get("nameservers") or [])]
    servers = tuple(ip for ip in checked if ip)
    options = []
    for i, o in enumerate(conf.get("options") or []):
        if not isinstance(o, dict) or "name" not in o:
            r.add(path.child("options").index(i), "an option is {name, value}")
            continue
        options.append((str(o["name"]), "" if o.get("value") is None else str(o["value"])))
    return servers, str_list(r, conf.get("searches"), path.child("searches")), tuple(options)

"""Pod (v1), and the pod spec every workload's template holds: containers, their ports,
probes and environment, node placement, hostNetwork, hostname, DNS policy and config."""

from __future__ import annotations

import posixpath

from netlab.model import (
    Container,
    ContainerPort,
    Hook,
    LabSpec,
    PodManifest,
    PodSpec,
    Probe,
    SecurityContext,
    VolumeMount,
)
from netlab.plan.security import CAP_NUMBER, cap_name
from netlab.scenario import schema, validate
from netlab.scenario.fieldpath import Path, Report
from netlab.scenario.kinds.common import boolean, ipv4, labels, port_proto, str_list, whole
from netlab.scenario.registry import Loaded, Meta, kind

DNS_POLICIES = ("ClusterFirst", "Default", "ClusterFirstWithHostNet", "None")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
MAX_ID = 2**31 - 1
# volume sources netlab does not give a pod (yet), and why
REFUSED_VOLUMES = {"hostPath": "hostPath volumes are refused: a lab's pods never reach the "
                               "host's files"}
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
    volumes = _volumes(r, spec.get("volumes") or [], path.child("volumes"))
    for i, c in enumerate(containers):
        made = _container(r, c, path.child("containers").index(i), names, port_owner,
                          port_names, volumes)
        if made is not None:
            out.append(made)
    inits: list[Container] = []
    raw_inits = spec.get("initContainers") or []
    for i, c in enumerate(raw_inits if isinstance(raw_inits, list) else []):
        ipath = path.child("initContainers").index(i)
        if isinstance(c, dict):
            for k in ("readinessProbe", "livenessProbe", "startupProbe"):
                if c.get(k) is not None:
                    r.add(ipath.child(k), "an init container may not have probes")
        made = _container(r, c, ipath, names, {}, set(), volumes)
        if made is not None:
            inits.append(made)
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
    pod_sec, groups = _pod_security(r, spec.get("securityContext") or {},
                                    path.child("securityContext"))
    share = boolean(r, spec.get("shareProcessNamespace", False),
                    path.child("shareProcessNamespace"), False)
    grace = whole(r, spec.get("terminationGracePeriodSeconds", 30),
                  path.child("terminationGracePeriodSeconds"), 0, 3600,
                  "must be a whole number of seconds from 0 to 3600", 30)
    restart = spec.get("restartPolicy") or "Always"
    if restart not in RESTART_POLICIES:
        r.add(path.child("restartPolicy"), f"restartPolicy must be Always, OnFailure or Never, "
                                           f"got {restart!r}")
    selector = _node_selector(r, spec.get("nodeSelector"), path.child("nodeSelector"))
    tolerations = _tolerations(r, spec.get("tolerations"), path.child("tolerations"))
    if len(out) != len(containers) or len(inits) != len(raw_inits):
        return None
    return PodSpec(tuple(out), node_name=node, host_network=host_net,
                   hostname=spec.get("hostname") or "", subdomain=spec.get("subdomain") or "",
                   dns_policy=policy, dns_nameservers=servers, dns_searches=searches,
                   dns_options=options, enable_service_links=links,
                   init_containers=tuple(inits), security=pod_sec, supplemental_groups=groups,
                   share_process_namespace=share, volumes=tuple(volumes), restart_policy=restart,
                   termination_grace=grace, node_selector=selector, tolerations=tolerations)


def _node_selector(r: Report, value: object, path: Path) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    reason = validate.labels(value)
    if reason:
        r.add(path, reason)
        return ()
    return tuple(sorted(value.items()))


TOLERATION_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def _tolerations(r: Report, value: object, path: Path) -> tuple[tuple[str, str, str, str], ...]:
    """(key, operator, value, effect) as the apiserver validates them."""
    if value is None:
        return ()
    if not isinstance(value, list):
        r.add(path, "must be a list")
        return ()
    out = []
    for i, t in enumerate(value):
        tp = path.index(i)
        if not isinstance(t, dict):
            r.add(tp, "must be a mapping")
            continue
        key, op = str(t.get("key") or ""), str(t.get("operator") or "Equal")
        val, effect = str(t.get("value") or ""), str(t.get("effect") or "")
        if op not in ("Equal", "Exists"):
            r.add(tp.child("operator"), f'Unsupported value: "{op}": supported values: '
                                        '"Equal", "Exists"')
        elif op == "Exists" and val:
            r.add(tp.child("operator"), "value must be empty when `operator` is 'Exists'")
        elif not key and op != "Exists":
            r.add(tp.child("operator"), "operator must be Exists when `key` is empty, which "
                                        "means \"match all values and all keys\"")
        if effect not in TOLERATION_EFFECTS:
            r.add(tp.child("effect"), f'Unsupported value: "{effect}": supported values: '
                                      '"NoExecute", "NoSchedule", "PreferNoSchedule"')
        out.append((key, "Exists" if op == "Exists" else "", val, effect))
    return tuple(out)


def _id(r: Report, value: object, path: Path) -> int | None:
    if value is None:
        return None
    return r.value(path, value, lambda v: not isinstance(v, bool) and isinstance(v, int)
                   and 0 <= v <= MAX_ID, f"must be a user or group id from 0 to {MAX_ID}", None)


def _pod_security(r: Report, sc: object, path: Path
                  ) -> tuple[SecurityContext, tuple[int, ...]]:
    if not isinstance(sc, dict):
        r.add(path, "must be a mapping")
        return SecurityContext(), ()
    groups = sc.get("supplementalGroups") or []
    if not isinstance(groups, list):
        r.add(path.child("supplementalGroups"), "must be a list of group ids")
        groups = []
    ids = [g for i, g in enumerate(groups)
           if _id(r, g, path.child("supplementalGroups").index(i)) is not None]
    return SecurityContext(
        run_as_user=_id(r, sc.get("runAsUser"), path.child("runAsUser")),
        run_as_group=_id(r, sc.get("runAsGroup"), path.child("runAsGroup")),
        run_as_non_root=boolean(r, sc.get("runAsNonRoot", False), path.child("runAsNonRoot"),
                                False)), tuple(ids)


def _container_security(r: Report, sc: object, path: Path) -> SecurityContext:
    if not isinstance(sc, dict):
        r.add(path, "must be a mapping")
        return SecurityContext()
    caps = sc.get("capabilities") or {}
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("add", "drop"):
        names = caps.get(key) or [] if isinstance(caps, dict) else []
        if not isinstance(names, list):
            r.add(path.child("capabilities", key), "must be a list of capability names")
            names = []
        for i, n in enumerate(names):
            if not isinstance(n, str) or (cap_name(n) not in CAP_NUMBER and cap_name(n) != "ALL"):
                r.add(path.child("capabilities", key).index(i),
                      f"{n!r} is not a Linux capability (NET_ADMIN, SYS_TIME, ALL...)")
        lists[key] = tuple(str(n) for n in names)
    escalation = sc.get("allowPrivilegeEscalation")
    if escalation is not None and not isinstance(escalation, bool):
        r.add(path.child("allowPrivilegeEscalation"), "must be true or false")
        escalation = None
    return SecurityContext(
        run_as_user=_id(r, sc.get("runAsUser"), path.child("runAsUser")),
        run_as_group=_id(r, sc.get("runAsGroup"), path.child("runAsGroup")),
        run_as_non_root=boolean(r, sc.get("runAsNonRoot", False), path.child("runAsNonRoot"),
                                False),
        privileged=boolean(r, sc.get("privileged", False), path.child("privileged"), False),
        allow_privilege_escalation=escalation, add_caps=lists["add"], drop_caps=lists["drop"],
        read_only_root=boolean(r, sc.get("readOnlyRootFilesystem", False),
                               path.child("readOnlyRootFilesystem"), False))


def _volumes(r: Report, value: object, path: Path) -> list[str]:
    """The pod's volumes: emptyDir ones, by name (the others are refused, saying why)."""
    if not isinstance(value, list):
        r.add(path, "must be a list")
        return []
    names: list[str] = []
    for i, v in enumerate(value):
        vp = path.index(i)
        if not isinstance(v, dict) or not r.check(vp.child("name"),
                                                  validate.dns_label(v.get("name"))):
            continue
        sources = [k for k in v if k != "name"]
        if sources != ["emptyDir"]:
            kind_ = sources[0] if len(sources) == 1 else ""
            r.add(vp, REFUSED_VOLUMES.get(kind_) or (
                f"volume type {kind_} is not supported yet; netlab gives pods emptyDir volumes"
                if kind_ else "a volume needs exactly one source (emptyDir)"))
            continue
        if v["name"] in names:
            r.add(vp.child("name"), f"duplicate volume name '{v['name']}'")
        names.append(v["name"])
    return names


def _mounts(r: Report, value: object, path: Path, volumes: list[str]) -> tuple[VolumeMount, ...]:
    if not isinstance(value, list):
        r.add(path, "must be a list")
        return ()
    out = []
    for i, m in enumerate(value):
        mp = path.index(i)
        if not isinstance(m, dict):
            r.add(mp, "must be a mapping")
            continue
        if m.get("name") not in volumes:
            r.add(mp.child("name"), f"no volume named {m.get('name')!r} in this pod")
            continue
        target = m.get("mountPath")
        if not isinstance(target, str) or not target.startswith("/") or target == "/" or \
                ".." in target.split("/") or posixpath.normpath(target) != target:
            r.add(mp.child("mountPath"), f"must be an absolute, normalised path other than /, "
                                         f"got {target!r}")
            continue
        if m.get("subPath") or m.get("subPathExpr"):
            r.add(mp.child("subPath"), "subPath is not supported yet")
            continue
        out.append(VolumeMount(m["name"], target, boolean(r, m.get("readOnly", False),
                                                          mp.child("readOnly"), False)))
    return tuple(out)


def _container(r: Report, c: object, path: Path, names: set[str],
               port_owner: dict[tuple[int, str], str], port_names: set[str],
               volumes: list[str]) -> Container | None:
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
    security = _container_security(r, c.get("securityContext") or {},
                                   path.child("securityContext"))
    mounts = _mounts(r, c.get("volumeMounts") or [], path.child("volumeMounts"), volumes)
    workdir = c.get("workingDir") or ""
    if workdir and (not isinstance(workdir, str) or not workdir.startswith("/")):
        r.add(path.child("workingDir"), f"must be an absolute path, got {workdir!r}")
    pre_stop = _pre_stop(r, c.get("lifecycle"), path.child("lifecycle"))
    if len(r.errors) > before:
        return None
    return Container(name=name, image=image, command=command, args=args, ports=tuple(ports),
                     probe_ports=tuple(dict.fromkeys(probe_ports)), env=tuple(env),
                     readiness=probes["readinessProbe"], liveness=probes["livenessProbe"],
                     security=security, volume_mounts=mounts, working_dir=workdir,
                     pre_stop=pre_stop)


def _pre_stop(r: Report, lifecycle: object, path: Path) -> Hook | None:
    """lifecycle.preStop: exec, httpGet, tcpSocket or sleep (postStart is accepted and not
    run: netlab's containers have nothing to wait for)."""
    if lifecycle is None:
        return None
    if not isinstance(lifecycle, dict) or set(lifecycle) - {"preStop", "postStart",
                                                           "stopSignal"}:
        r.add(path, "must be {preStop, postStart}")
        return None
    body = lifecycle.get("preStop")
    if body is None:
        return None
    path = path.child("preStop")
    kinds = [k for k in ("exec", "httpGet", "tcpSocket", "sleep") if k in (body or {})] \
        if isinstance(body, dict) else []
    if len(kinds) != 1:
        r.add(path, "exactly one of exec, httpGet, tcpSocket, sleep is required")
        return None
    handler = body[kinds[0]] or {}
    if kinds[0] == "exec":
        return Hook("exec", command=str_list(r, handler.get("command"),
                                             path.child("exec", "command")))
    if kinds[0] == "sleep":
        return Hook("sleep", seconds=whole(r, handler.get("seconds"), path.child("sleep",
                                                                                "seconds"),
                                           0, 3600, "must be a whole number from 0 to 3600",
                                           0))
    port = handler.get("port", 0)
    return Hook("http" if kinds[0] == "httpGet" else "tcp", port=port,
                path=str(handler.get("path", "/")))


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
    host_port = p.get("hostPort", 0)
    if host_port and not (isinstance(host_port, int) and not isinstance(host_port, bool)
                          and 0 < host_port < 65536):
        r.add(path.child("hostPort"), f"must be between 1 and 65535, inclusive, got "
                                      f"{host_port!r}")
        host_port = 0
    return ContainerPort(number_proto[0], pname, number_proto[1], host_port or 0)


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

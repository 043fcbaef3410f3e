"""Pods as a CNI runtime sees them: ADD (namespaces, veth, address, route, then the
containers), DEL (containers stopped, veth and namespaces removed) and CHECK (is the pod still
wired as planned). Namespaces are journalled before they are created, processes right after.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace

from netlab.dns.resolv import hosts_file, kube_dns_ip, resolv_conf, service_env
from netlab.errors import NetlabError
from netlab.ingress.gateway import GATEWAY_LABEL
from netlab.ingress.nginx import TRAEFIK_API_PORT
from netlab.ingress.routes import APP_FLAVOURS
from netlab.kernel.api import Launcher, PodAttachment
from netlab.kernel.ns import netns_path
from netlab.lifecycle.network import VXLAN_MTU
from netlab.lifecycle.runtime import Paths, Runtime
from netlab.model import Container, LabPlan, PodInfo
from netlab.model.state import ContainerState, Proc, Terminating
from netlab.plan import kubelet
from netlab.plan.ipam import HostLocal
from netlab.plan.naming import host_veth_index, pod_hostname
from netlab.plan.security import run_as_root_refused, security

log = logging.getLogger("netlab")


def attachment(plan: LabPlan, pod: PodInfo) -> PodAttachment:
    """What POD needs from its node's network (pure)."""
    node = plan.node(pod.node)
    return PodAttachment(
        node_netns=node.netns, netns=pod.netns, uts=pod.uts,
        hostname=pod_hostname(pod.spec.hostname or pod.name), host_veth=pod.host_veth, ip=pod.ip,
        prefixlen=ipaddress.ip_network(node.pod_cidr).prefixlen, gateway=node.gateway,
        mtu=VXLAN_MTU if plan.spec.routing == "vxlan" else 0,
        veth_index=host_veth_index(pod.ip, node.pod_cidr))


def read_host_resolv() -> str:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def write_pod_files(paths: Paths, plan: LabPlan, pod: PodInfo, host_resolv: str) -> None:
    """The pod's resolv.conf (by its dnsPolicy) and kubelet-style hosts file, and its emptyDir
    volumes (writable by any user, as the kubelet makes them)."""
    etc = paths.etc(pod)
    os.makedirs(etc, exist_ok=True)
    for name in pod.spec.volumes:
        os.makedirs(paths.volume(pod, name), exist_ok=True)
        os.chmod(paths.volume(pod, name), 0o777)
    if any(kubelet.plays_controller(plan.spec, c) for c in pod.spec.containers):
        os.makedirs(paths.volume(pod, INGRESS_STATUS), exist_ok=True)
    dns_ip = kube_dns_ip(plan.spec.service_cidr) if plan.spec.cluster_dns else ""
    with open(f"{etc}/resolv.conf", "w", encoding="utf-8") as f:
        f.write(resolv_conf(pod, plan.spec.cluster_domain, dns_ip, host_resolv))
    with open(f"{etc}/hosts", "w", encoding="utf-8") as f:
        f.write(hosts_file(pod, plan.spec.cluster_domain))


def container_env(plan: LabPlan, pod: PodInfo, c: Container) -> dict[str, str]:
    """Container C's environment as the kubelet sets it: service links of POD's namespace
    (unless disabled), then its own env."""
    links = service_env(plan.services, pod.namespace) if pod.spec.enable_service_links else {}
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": pod_hostname(pod.spec.hostname or pod.name), "HOME": "/root", **links,
            **dict(c.env)}


def container_request(plan: LabPlan, pod: PodInfo, c: Container, paths: Paths,
                      pid_namespace: str = "") -> dict:
    """What the launcher runs for container C of POD, sandboxed as Kubernetes runs it (pure
    apart from the paths). PID_NAMESPACE: the pod's shared one (shareProcessNamespace)."""
    env = container_env(plan, pod, c)
    sec = security(pod.spec, c)
    etc = paths.etc(pod)
    box = {"template": paths.template, "scratch": paths.scratch,
           "exit": paths.exit_file(pod, c.name),
           "files": [[f"{etc}/resolv.conf", "/etc/resolv.conf"], [f"{etc}/hosts", "/etc/hosts"]],
           "volumes": [[paths.volume(pod, m.name), m.mount_path, m.read_only]
                       for m in c.volume_mounts],
           "pid_namespace": pid_namespace, "privileged": sec.privileged,
           "read_only_root": c.security.read_only_root, "security": sec.as_request()}
    req = {"netns": netns_path(pod.netns), "uts": pod.uts, "log": paths.log(pod, c.name),
           "env": env, "cgroup": paths.container_cgroup(pod, c.name),
           "workdir": c.working_dir, "sandbox": box}
    image = plan.spec.image_app(c.image)
    if kubelet.runs_own_argv(plan.spec, c):
        return dict(req, app="exec", argv=list(c.command) + list(c.args))
    app = image.app if image else "web"
    if app == "idle":
        return dict(req, app="idle")
    if app == "dns":  # the cluster DNS reads the lab's state, as CoreDNS reads the API
        box["api"] = paths.lab
        return dict(req, app="dns", state=paths.state,
                    state_in_sandbox="/run/netlab-api/state.json")
    tcp = [p.container_port for p in c.ports if p.protocol == "TCP"]
    udp = [p.container_port for p in c.ports if p.protocol == "UDP"]
    if app in APP_FLAVOURS:  # a controller following the lab, as CoreDNS does
        box["api"] = paths.lab
        box["volumes"].append([paths.volume(pod, INGRESS_STATUS), "/run/netlab-ingress", False])
        ports = tcp or list(image.ports)
        http = 80 if 80 in ports or not ports else ports[0]
        return dict(req, app="ingress", flavour=APP_FLAVOURS[app], run_dir="/tmp/nginx",
                    http_port=http, api_port=TRAEFIK_API_PORT if app == "traefik"
                    and TRAEFIK_API_PORT in ports else None, state=paths.state,
                    state_in_sandbox="/run/netlab-api/state.json",
                    status=f"{paths.volume(pod, INGRESS_STATUS)}/status.json",  # before the box
                    status_in_sandbox="/run/netlab-ingress/status.json",
                    gateway=f"{pod.namespace}/{pod.label_map.get(GATEWAY_LABEL, '')}")
    if not tcp and not udp:
        tcp = list(image.ports) if image and image.ports else list(c.probe_ports) or [80]
    return dict(req, app="web", tcp=tcp, udp=udp, ips=[pod.ip])


INGRESS_STATUS = "(ingress)"  # the controller's status folder, among the pod's volumes


def ingress_report(paths: Paths, pod: PodInfo) -> dict | None:
    """The last report of the ingress controller in POD (None before its first)."""
    try:
        with open(f"{paths.volume(pod, INGRESS_STATUS)}/status.json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pause_request(pod: PodInfo, paths: Paths) -> dict:
    """The pod's pause process, PID 1 of the PID namespace its containers share."""
    box = {"template": paths.template, "scratch": paths.scratch,
           "exit": paths.exit_file(pod, "(pause)"), "files": [], "volumes": [],
           "pid_namespace": "", "privileged": False,
           "security": {"uid": 65535, "gid": 65535, "caps": [], "no_new_privs": True}}
    return {"netns": netns_path(pod.netns), "uts": pod.uts, "env": {},
            "log": paths.log(pod, "(pause)"), "cgroup": paths.container_cgroup(pod, "(pause)"),
            "app": "idle", "comm": "pause", "sandbox": box}


def runs_nothing(plan: LabPlan, c: Container) -> bool:
    """An init container with no command whose image is no built-in app of netlab's: there
    is nothing it could run, so it completes at once."""
    return not kubelet.runs_own_argv(plan.spec, c) and plan.spec.image_app(c.image) is None


def with_uts(rt: Runtime, pod: PodInfo) -> PodInfo:
    """A hostNetwork pod runs in its node's UTS namespace."""
    return pod if pod.uts else replace(pod, uts=rt.host_uts(pod.node))


def add(rt: Runtime, pods: Sequence[PodInfo], launcher: Launcher, *,
        scheduled: bool = True) -> None:
    """CNI ADD of every pod (its cgroup, namespaces, veth, address, route), then what the
    kubelet starts first: its first init container, or its app containers. The launcher starts
    them while the next pods are wired."""
    host_resolv = read_host_resolv()
    paths = rt.paths
    tickets: list = []
    try:
        for done, pod in enumerate(pods):
            rt.progress("pods", done, len(pods))
            rt.state.pod_created.setdefault(pod.key, rt.clock())
            if scheduled:
                rt.event(pod.key, "Normal", "Scheduled",
                         f"Successfully assigned {pod.key} to {pod.node}")
            rt.ld.record({"kind": "cgroup", "path": paths.pod_cgroup(pod)})
            rt.kernel.cgroups.create(paths.pod_cgroup(pod))
            if not pod.spec.host_network:
                rt.ld.record({"kind": "netns", "name": pod.netns, "pod": pod.key,
                              "node": pod.node, "veth": pod.host_veth, "uts": pod.uts},
                             {"kind": "uts", "path": pod.uts})
                try:
                    rt.kernel.pods.add(attachment(rt.plan, pod))
                except FileExistsError:
                    raise NetlabError(f"namespace {pod.netns} or {pod.uts} already exists and "
                                      "is not this lab's") from None
            pod = with_uts(rt, pod)
            write_pod_files(paths, rt.plan, pod, host_resolv)
            if pod.spec.share_process_namespace:
                _start_pause(rt, launcher, pod)
            tickets += _steps(rt, launcher, pod)
    finally:
        rt.kernel.pods.close()
        _collect(rt, tickets)
    rt.progress("pods", len(pods), len(pods))


def advance(rt: Runtime, launcher: Launcher, pods: Sequence[PodInfo]) -> bool:
    """The kubelet's next steps for PODS (``plan/kubelet.py``): the next init container, the
    app containers, restarts that are due, back-offs. True when anything changed."""
    tickets: list = []
    changed = False
    for pod in pods:
        before = dict(rt.state.processes.get(pod.key, {}))
        tickets += _steps(rt, launcher, with_uts(rt, pod))
        changed |= before != rt.state.processes.get(pod.key, {})
    _collect(rt, tickets)
    return changed or bool(tickets)


def _steps(rt: Runtime, launcher: Launcher, pod: PodInfo) -> list:
    """Apply the kubelet's steps for POD; the containers to start are submitted (tickets)."""
    now = rt.clock()
    states = rt.state.processes.setdefault(pod.key, {})

    def refused(c: Container) -> str:
        return run_as_root_refused(pod.spec, c)

    while True:
        steps = kubelet.next_steps(pod.spec, states, now, lambda c: runs_nothing(rt.plan, c),
                                   refused)
        if not steps or steps[0].kind != "skip":
            break
        c = steps[0].container
        states[c.name] = ContainerState("terminated", started=now, finished=now, exit_code=0,
                                        reason="Completed")
        rt.event(pod.key, "Normal", "Completed",
                 f"Init container {c.name} has no command and its image {c.image} runs no "
                 "built-in app in netlab: it completes at once")
    tickets = []
    for step in steps:
        c = step.container
        if step.kind == "refuse":
            states[c.name] = ContainerState("waiting", reason="CreateContainerConfigError",
                                            message=step.why)
            rt.event(pod.key, "Warning", "Failed", f"Error: {step.why}")
        elif step.kind == "back-off":
            states[c.name] = kubelet.backing_off(states[c.name], c, pod_ref(pod), now)
            rt.event(pod.key, "Warning", "BackOff",
                     f"Back-off restarting failed container {c.name} in pod {pod_ref(pod)}")
        else:
            cgroup = rt.paths.container_cgroup(pod, c.name)
            rt.kernel.cgroups.remove(cgroup)  # whatever its last run left behind
            rt.kernel.cgroups.create(cgroup)
            req = container_request(rt.plan, pod, c, rt.paths, shared_pid_namespace(rt, pod))
            tickets.append((pod.key, c.name, launcher, launcher.submit(req)))
    return tickets


def pod_ref(pod: PodInfo) -> str:
    """How the kubelet names a pod in its messages: name_namespace(uid)."""
    return f"{pod.name}_{pod.namespace}({pod.uid})"


def _start_pause(rt: Runtime, launcher: Launcher, pod: PodInfo) -> None:
    """The pod's pause process: PID 1 of the PID namespace its containers share."""
    rt.kernel.cgroups.create(rt.paths.container_cgroup(pod, "(pause)"))
    pid, start = launcher.start(pause_request(pod, rt.paths))
    rt.ld.record({"kind": "proc", "pid": pid, "start": start, "pod": pod.key,
                  "container": "(pause)"})
    rt.state.pauses[pod.key] = Proc(pid, start)


def shared_pid_namespace(rt: Runtime, pod: PodInfo) -> str:
    pause = rt.state.pauses.get(pod.key)
    return f"/proc/{pause.pid}/ns/pid" if pause else ""


def _collect(rt: Runtime, tickets: list) -> None:
    """Wait for every container submitted; record the processes (``down`` also finds any
    that started but were not recorded, by their cgroups)."""
    records = []
    for key, name, launcher, ticket in tickets:
        states = rt.state.processes.setdefault(key, {})
        now = rt.clock()
        try:
            pid, start = launcher.result(ticket)
        except NetlabError as exc:
            log.warning("lab %s: pod %s container %s failed to start: %s",
                        rt.plan.spec.name, key, name, exc)
            states[name] = kubelet.start_failed(states.get(name), str(exc), now)
            rt.event(key, "Warning", "Failed", f"Error: {exc}")
            continue
        records.append({"kind": "proc", "pid": pid, "start": start, "pod": key,
                        "container": name})
        states[name] = kubelet.running(states.get(name), pid, start, now)
        rt.event(key, "Normal", "Started", f"Started container {name}")
    if records:
        rt.ld.record(*records)


def ended(rt: Runtime, pod: PodInfo, c: Container) -> None:
    """Container C of POD has ended: its state says how (from its shim's exit file)."""
    states = rt.state.processes.setdefault(pod.key, {})
    text = rt.kernel.processes.exit_status(rt.paths.exit_file(pod, c.name))
    states[c.name] = kubelet.ended(states[c.name], text, rt.clock())


def delete(rt: Runtime, pods: Sequence[PodInfo]) -> None:
    """CNI DEL: stop the pods' containers (SIGTERM, then everything left in their cgroups is
    killed, whatever it forked), then remove their veths and namespaces. Already gone is
    success."""
    procs = [(st.pid, st.start) for pod in pods
             for st in rt.state.processes.get(pod.key, {}).values() if st.pid]
    rt.kernel.processes.stop(procs)
    paths = rt.paths
    for pod in pods:
        rt.kernel.cgroups.remove(paths.pod_cgroup(pod))
        rt.state.processes.pop(pod.key, None)
        rt.state.pod_created.pop(pod.key, None)
        rt.state.pauses.pop(pod.key, None)
        if not pod.spec.host_network:
            rt.kernel.pods.delete(attachment(rt.plan, pod))


def check(rt: Runtime, pod: PodInfo) -> list[str]:
    """CNI CHECK: what is missing from a pod's wiring (empty when all is as planned)."""
    if pod.spec.host_network:
        return []
    return rt.kernel.pods.check(attachment(rt.plan, pod))


# -- graceful termination -------------------------------------------------------------------


def terminate(rt: Runtime, pods_: Sequence[PodInfo], grace: int | None = None,
              owners: dict[str, str] | None = None) -> None:
    """Begin deleting PODS_ as the kubelet does: each is Terminating for its
    terminationGracePeriodSeconds (or GRACE): its endpoint turns terminating at once (serving
    while it still runs), its preStop hooks run (the controller runs them), then SIGTERM;
    whatever is left at the deadline is killed with its cgroup. The pod keeps its address
    until it is gone, under the name OWNERS gives (the change renamed it in its IPAM).
    Nothing is signalled here: ``begin_stopping`` does, once the change that deleted them has
    succeeded."""
    now = rt.clock()
    for pod in pods_:
        g = pod.spec.termination_grace if grace is None else grace
        hooks = g > 0 and any(c.pre_stop for c in pod.spec.containers)
        states = rt.state.processes.get(pod.key, {})
        serving = bool(states) and all(
            (st := states.get(c.name)) is not None and st.running and st.ready is not False
            and not (st.ready is None and c.readiness is not None)
            for c in pod.spec.containers)
        owner = (owners or {}).get(pod.key, "")
        rt.state.terminating[pod.key] = Terminating(pod, now, now + g,
                                                    "prestop" if hooks else "stopping",
                                                    serving, owner)
        for c in pod.spec.containers:
            rt.event(pod.key, "Normal", "Killing", f"Stopping container {c.name}")


def begin_stopping(rt: Runtime) -> None:
    """SIGTERM the containers of terminating pods past their hooks (or without any)."""
    for key, t in rt.state.terminating.items():
        if t.stage == "stopping":
            sigterm(rt, key)


def sigterm(rt: Runtime, key: str) -> None:
    procs = [(st.pid, st.start) for st in rt.state.processes.get(key, {}).values()
             if st.running and st.pid]
    rt.kernel.processes.terminate(procs)


def still_running(rt: Runtime, key: str) -> bool:
    return any(st.running and rt.kernel.processes.alive(st.pid, st.start)
               for st in rt.state.processes.get(key, {}).values())


def finish_terminating(rt: Runtime, now: float, force: set[str] | None = None) -> list[str]:
    """Remove the terminating pods that are done: every container exited, or the deadline
    passed (or FORCE names them): cgroup killed, CNI DEL, address released. Their keys."""
    done = []
    for key, t in list(rt.state.terminating.items()):
        forced = force is not None and key in force
        if not forced and (t.stage == "prestop" and now < t.deadline):
            continue
        if not forced and now < t.deadline and still_running(rt, key):
            continue
        delete(rt, [t.pod])
        if t.ipam_owner and t.pod.node in rt.state.ipam:
            ipam = HostLocal.from_dict(rt.state.ipam[t.pod.node])
            ipam.release(t.ipam_owner)
            rt.state.ipam[t.pod.node] = ipam.to_dict()
        del rt.state.terminating[key]
        done.append(key)
    return done


def kill_container(rt: Runtime, pod: PodInfo, c: Container) -> None:
    """Stop container C of POD (a failed liveness probe): SIGTERM, then its whole cgroup is
    killed; its state says how it ended. The next ``advance`` restarts it."""
    st = rt.state.processes.get(pod.key, {}).get(c.name)
    if st is None or not st.running:
        return
    rt.kernel.processes.stop([(st.pid, st.start)], grace_s=1.0)
    rt.kernel.cgroups.kill(rt.paths.container_cgroup(pod, c.name))
    ended(rt, pod, c)

"""The lab's own processes besides containers: client hosts that stand in for outside
servers, kube-proxy's HTTP endpoints on each node (its health and metrics servers, and the
health check node ports of LoadBalancer Services with externalTrafficPolicy Local), and the
API server's stand-in behind the ``kubernetes`` Service. They must run: a failure fails the
build. They live in the lab's system cgroup."""

from __future__ import annotations

from netlab.kernel.api import Launcher
from netlab.kernel.ns import netns_path
from netlab.lifecycle.runtime import Runtime
from netlab.model.state import Proc
from netlab.plan.build import APISERVER_PORT, kubernetes_ip

KUBE_PROXY = "kube-proxy/"  # system process keys: kube-proxy/NODE, apiserver, client/NAME
APISERVER = "apiserver"


def client_requests(rt: Runtime) -> list[tuple[str, dict]]:
    out = []
    for c in rt.plan.clients:
        if c.app == "web":
            req = {"netns": netns_path(c.netns), "uts": rt.host_uts(c.name),
                   "log": rt.ld.log_path(f"client.{c.name}"), "env": {"HOSTNAME": c.name},
                   "cgroup": rt.paths.system_cgroup,
                   "app": "web", "tcp": list(c.ports), "udp": [], "ips": [c.lan_ip]}
            out.append((f"client/{c.name}", req))
    return out


def kube_proxy_requests(rt: Runtime) -> list[tuple[str, dict]]:
    """One per node: kube-proxy's health (10256) and metrics (127.0.0.1:10249) servers, and
    the health check node port of every Local LoadBalancer Service."""
    plan = rt.plan
    health = [[i.service.health_check_node_port, i.service.namespace, i.service.name]
              for i in plan.services if i.service.health_check_node_port]
    out = []
    for node in plan.nodes:
        req = {"netns": netns_path(node.netns), "uts": rt.host_uts(node.name),
               "log": rt.ld.log_path(f"kube-proxy.{node.name}"), "env": {},
               "cgroup": rt.paths.system_cgroup, "app": "kube-proxy", "node": node.name,
               "state": rt.paths.state, "mode": plan.spec.proxy_mode, "health_ports": health}
        out.append((f"{KUBE_PROXY}{node.name}", req))
    return out


def apiserver_requests(rt: Runtime) -> list[tuple[str, dict]]:
    """The kubernetes Service's endpoint, on the control-plane node (the first)."""
    plan = rt.plan
    node = plan.nodes[0]
    domain = plan.spec.cluster_domain
    req = {"netns": netns_path(node.netns), "uts": rt.host_uts(node.name),
           "log": rt.ld.log_path("apiserver"), "env": {}, "cgroup": rt.paths.system_cgroup,
           "app": "apiserver", "port": APISERVER_PORT,
           "cert": f"{rt.ld.path}/apiserver.crt", "key": f"{rt.ld.path}/apiserver.key",
           "names": ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     f"kubernetes.default.svc.{domain}", node.name],
           "ips": [kubernetes_ip(plan.spec.service_cidr), node.lan_ip]}
    return [(APISERVER, req)]


SPEAKER = "speaker/"


def speaker_requests(rt: Runtime) -> list[tuple[str, dict]]:
    """MetalLB's speakers, one per node, when MetalLB is the lab's provider."""
    if not rt.plan.pools:
        return []
    return [(f"{SPEAKER}{node.name}",
             {"netns": netns_path(node.netns), "uts": rt.host_uts(node.name),
              "log": rt.ld.log_path(f"speaker.{node.name}"), "env": {},
              "cgroup": rt.paths.system_cgroup, "app": "speaker", "node": node.name,
              "state": rt.paths.state, "iface": "eth0"}) for node in rt.plan.nodes]


def ensure_speakers(rt: Runtime, launcher: Launcher) -> None:
    """Speakers started or stopped as the provider comes or goes."""
    wanted = dict(speaker_requests(rt))
    for what, proc in list(rt.state.system.items()):
        if what.startswith(SPEAKER) and what not in wanted:
            rt.kernel.processes.stop([(proc.pid, proc.start)])
            del rt.state.system[what]
    missing = set(wanted) - set(rt.state.system)
    if missing:
        collect(rt, launcher, submit(rt, launcher, "speakers", only=missing))


GROUPS = {"clients": client_requests, "kube-proxies": kube_proxy_requests,
          "apiserver": apiserver_requests, "speakers": speaker_requests}


def submit(rt: Runtime, launcher: Launcher, *groups: str, only: set[str] | None = None) -> list:
    """Start the lab's own processes of GROUPS (default: all), those named in ONLY if given;
    tickets for ``collect``."""
    reqs = [r for g in groups or GROUPS for r in GROUPS[g](rt)]
    return [(key, launcher.submit(req)) for key, req in reqs if only is None or key in only]


def collect(rt: Runtime, launcher: Launcher, tickets: list) -> None:
    """Wait for every ticket and record what started; then, if one failed, raise its error
    (these must run: a failure fails the build or the change, which undo what started)."""
    records, error = [], None
    for what, ticket in tickets:
        try:
            pid, start = launcher.result(ticket)
        except Exception as exc:
            error = error or exc
            continue
        records.append({"kind": "proc", "pid": pid, "start": start, "system": what})
        rt.state.system[what] = Proc(pid, start)
    if records:
        rt.ld.record(*records)
    if error is not None:
        raise error


def stop_kube_proxies(rt: Runtime) -> None:
    names = [k for k in rt.state.system if k.startswith(KUBE_PROXY)]
    rt.kernel.processes.stop([(rt.state.system[k].pid, rt.state.system[k].start)
                              for k in names])
    for k in names:
        del rt.state.system[k]


def start_kube_proxies(rt: Runtime, launcher: Launcher) -> None:
    collect(rt, launcher, submit(rt, launcher, "kube-proxies"))

"""Running readiness and liveness probes, from the node's network namespace like the kubelet."""

from __future__ import annotations

import socket
import subprocess

from netlab.kernel.ns import WORKER
from netlab.kernel.run import container_argv
from netlab.model import Container, Hook, PodInfo, Probe
from netlab.plan.security import security


def probe_port(probe: Probe, container: Container) -> int | None:
    if isinstance(probe.port, int):
        return probe.port
    for p in container.ports:
        if p.name == probe.port:
            return p.container_port
    return None


def run_probe(probe: Probe, pod: PodInfo, container: Container, node_netns: str,
              pid: int) -> tuple[bool, str]:
    """One probe attempt: success (HTTP 200-399, a TCP connect, exit status 0) and, on
    failure, the message the kubelet would put in its event. An exec probe runs in the view
    of the container's process PID, as its user, like ``kubectl exec``."""
    if probe.kind == "exec":
        argv = container_argv(pid, security(pod.spec, container).as_request(),
                              list(probe.command))
        try:
            r = subprocess.run(argv,
                               capture_output=True, text=True, timeout=probe.timeout,
                               check=False)
        except subprocess.TimeoutExpired:
            return False, f"command timed out after {probe.timeout:g}s"
        except OSError as exc:
            return False, str(exc)
        return r.returncode == 0, (r.stdout + r.stderr).strip()[:200]
    port = probe_port(probe, container)
    if port is None:
        return False, f"port {probe.port!r} is not a port of container {container.name}"
    sock = WORKER.socket_in(node_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(probe.timeout)
    url = f"http://{pod.ip}:{port}{probe.path}"
    try:
        sock.connect((pod.ip, port))
        if probe.kind == "tcp":
            return True, ""
        request = (f"GET {probe.path} HTTP/1.1\r\nHost: {pod.ip}:{port}\r\n"
                   "User-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        sock.sendall(request.encode())
        status_line = sock.makefile("rb").readline(256).decode(errors="replace").split()
        if len(status_line) >= 2 and status_line[1].isdigit() and \
                200 <= int(status_line[1]) < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {' '.join(status_line[1:2])}"
    except OSError as exc:
        what = f'Get "{url}"' if probe.kind == "http" else "dial"
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else \
            (exc.strerror or str(exc)).lower()
        return False, f"{what}: dial tcp {pod.ip}:{port}: connect: {reason}"
    finally:
        sock.close()


def run_hook(hook: Hook, pod: PodInfo, container: Container, node_netns: str, pid: int,
             timeout: float) -> str:
    """Run a preStop hook as the kubelet does, within TIMEOUT seconds; "" when it worked,
    else the message of its FailedPreStopHook event."""
    import time

    if timeout <= 0:
        return "the grace period ended before the hook could run"
    if hook.kind == "sleep":
        time.sleep(min(hook.seconds, timeout))
        return ""
    if hook.kind == "exec":
        argv = container_argv(pid, security(pod.spec, container).as_request(),
                              list(hook.command))
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               check=False)
        except subprocess.TimeoutExpired:
            return f"PreStopHook exec {list(hook.command)} timed out after {timeout:g}s"
        if r.returncode != 0:
            return (f"PreStopHook {list(hook.command)} failed with exit code {r.returncode}: "
                    f"{(r.stdout + r.stderr).strip()[:200]}")
        return ""
    probe = Probe(hook.kind, port=hook.port, path=hook.path, timeout=min(timeout, 10))
    ok, message = run_probe(probe, pod, container, node_netns, pid)
    return "" if ok or hook.kind == "http" and "statuscode" in message else \
        f"PreStopHook failed: {message}"

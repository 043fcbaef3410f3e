"""Running readiness and liveness probes, from the node's network namespace like the kubelet."""

from __future__ import annotations

import socket
import subprocess

from netlab.kernel.ns import WORKER
from netlab.kernel.run import ns_argv
from netlab.model import Container, PodInfo, Probe


def probe_port(probe: Probe, container: Container) -> int | None:
    if isinstance(probe.port, int):
        return probe.port
    for p in container.ports:
        if p.name == probe.port:
            return p.container_port
    return None


def run_probe(probe: Probe, pod: PodInfo, container: Container, node_netns: str) -> bool:
    """One probe attempt: True on success (HTTP 200-399, a TCP connect, exit status 0)."""
    if probe.kind == "exec":
        try:
            r = subprocess.run(ns_argv(pod.netns, list(probe.command), pod.uts),
                               capture_output=True, timeout=probe.timeout, check=False)
        except (subprocess.TimeoutExpired, OSError):
            return False
        return r.returncode == 0
    port = probe_port(probe, container)
    if port is None:
        return False
    sock = WORKER.socket_in(node_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(probe.timeout)
    try:
        sock.connect((pod.ip, port))
        if probe.kind == "tcp":
            return True
        request = (f"GET {probe.path} HTTP/1.1\r\nHost: {pod.ip}:{port}\r\n"
                   "User-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        sock.sendall(request.encode())
        status_line = sock.makefile("rb").readline(256).decode(errors="replace").split()
        return len(status_line) >= 2 and status_line[1].isdigit() and \
            200 <= int(status_line[1]) < 400
    except OSError:
        return False
    finally:
        sock.close()

"""The default web app: answers every path, /index.html included, with a whoami-style page.

The page names the pod (its hostname, which is the pod name through the pod's UTS namespace) and
the address the request came from, so checks can count distinct backends and see source NAT:

    Hostname: web-5d9c8b7f6d-x2x7q
    IP: 10.244.1.3
    RemoteAddr: 10.244.0.5:51234
    GET / HTTP/1.1
    Host: 10.96.12.34

UDP ports answer each datagram with the same first lines.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def page(hostname: str, ips: list[str], remote: tuple[str, int], request_line: str,
         headers: list[tuple[str, str]]) -> str:
    lines = [f"Hostname: {hostname}"]
    lines += [f"IP: {ip}" for ip in ips]
    lines.append(f"RemoteAddr: {remote[0]}:{remote[1]}")
    if request_line:
        lines.append(request_line)
        lines += [f"{k}: {v}" for k, v in headers]
    return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server_version = "netlab-web/1"
    ips: list[str] = []

    def handle(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE[0] += 1
        try:
            super().handle()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE[0] -= 1

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = page(socket.gethostname(), self.ips, self.client_address[:2],
                    self.requestline, list(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.client_address[0]} - {fmt % args}", flush=True)


_ACTIVE = [0]  # requests being answered now
_ACTIVE_LOCK = threading.Lock()
DRAIN_S = 5.0  # the longest a SIGTERM waits for the requests being answered


def _graceful(servers: list) -> None:
    """On SIGTERM, as a well-behaved server does: stop accepting, finish the requests being
    answered, exit 0 (a container's PID 1 that did not handle it would wait for SIGKILL)."""
    import os
    import signal
    import time

    def stop(_signum, _frame) -> None:
        for item in servers:
            sock = item[1] if isinstance(item, tuple) else item.socket
            try:
                sock.close()
            except OSError:
                pass
        deadline = time.monotonic() + DRAIN_S
        while _ACTIVE[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up in DNS (getfqdn), which inside a pod
        # without reachable DNS waits for a resolver timeout; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]


def _udp(sock: socket.socket, ips: list[str]) -> None:
    while True:
        _data, addr = sock.recvfrom(2048)
        sock.sendto(page(socket.gethostname(), ips, addr, "", []).encode(), addr)


def bind(tcp_ports: list[int], udp_ports: list[int], ips: list[str]) -> list:
    """Open every listening socket (so the caller can report readiness), serve nothing yet."""
    handler = type("Handler", (_Handler,), {"ips": ips})
    servers: list = [_Server(("0.0.0.0", p), handler) for p in tcp_ports]
    for p in udp_ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", p))
        servers.append(("udp", sock))
    return servers


def serve(bound: list, ips: list[str]) -> None:
    _graceful(bound)
    threads = []
    for item in bound:
        if isinstance(item, tuple):
            t = threading.Thread(target=_udp, args=(item[1], ips), daemon=True)
        else:
            # serve_forever wakes every poll_interval to check for shutdown, which is never
            # asked for here: a long interval keeps a thousand idle pods from using the CPU.
            t = threading.Thread(target=item.serve_forever, kwargs={"poll_interval": 3600},
                                 daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


def main() -> None:  # python -m netlab.apps.web PORT... (for running by hand)
    import sys

    ports = [int(p) for p in sys.argv[1:]] or [80]
    serve(bind(ports, [], []), [])


if __name__ == "__main__":
    main()

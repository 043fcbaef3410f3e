"""kube-proxy's service health check server, for one Service on one node.

For a LoadBalancer Service with externalTrafficPolicy Local, kube-proxy answers on the
healthCheckNodePort of every node: 200 when the node has local endpoints, 503 when it has none,
so that a load balancer only sends traffic to nodes that can keep the client's address. The
body and headers are kube-proxy's (pkg/proxy/healthcheck/service_health.go).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from netlab.apps.web import _Server


def body(namespace: str, name: str, count: int, healthy: bool = True) -> str:
    return json.dumps({"service": {"namespace": namespace, "name": name},
                       "localEndpoints": count, "serviceProxyHealthy": healthy}, indent=1)


def bind(port: int, namespace: str, name: str, count: int) -> _Server:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            data = body(namespace, name, count).encode()
            self.send_response(200 if count > 0 else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Load-Balancing-Endpoint-Weight", str(count))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    return _Server(("0.0.0.0", port), Handler)

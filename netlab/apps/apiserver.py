"""The ``kubernetes`` Service's endpoint: an HTTPS port on the control-plane node that answers
as kube-apiserver answers a client without credentials.

There is no API behind it: ``/version``, ``/healthz``, ``/livez`` and ``/readyz`` answer as
they do for anyone (system:public-info-viewer), every other path is 403 Forbidden for
``system:anonymous``, with the Status body kubectl and client libraries print. Enough for a pod
to resolve ``kubernetes.default.svc``, connect through the ClusterIP, and see a TLS server.
"""

from __future__ import annotations

import json
import ssl
from http.server import BaseHTTPRequestHandler

from netlab.apps.web import _Server

VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "netlab",
           "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z",
           "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}


def forbidden(path: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'forbidden: User "system:anonymous" cannot get path "{path}"',
            "reason": "Forbidden", "details": {}, "code": 403}


def bind(port: int, cert: str, key: str) -> _Server:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            if path == "/version":
                code, body, ctype = 200, json.dumps(VERSION, indent=2), "application/json"
            elif path in ("/healthz", "/livez", "/readyz"):
                code, body, ctype = 200, "ok", "text/plain; charset=utf-8"
            else:
                code, body, ctype = 403, json.dumps(forbidden(path)), "application/json"
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    server = _Server(("0.0.0.0", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server

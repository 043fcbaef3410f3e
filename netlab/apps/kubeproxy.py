"""kube-proxy's own HTTP endpoints on one node, read from the lab's saved state.

- ``0.0.0.0:10256`` ``/healthz`` and ``/livez``: the proxy health server, 200 while the node's
  rules were synced within twice the sync period, 503 after (pkg/proxy/healthcheck/
  proxy_health.go writes the same JSON body).
- ``127.0.0.1:10249`` ``/proxyMode`` (the mode, as text), ``/metrics`` (the sync counters a
  user looks at, in Prometheus' text format) and ``/healthz``.
- every ``healthCheckNodePort`` of a LoadBalancer Service with externalTrafficPolicy Local:
  200 with the node's ready local endpoints, 503 when it has none (service_health.go), as the
  endpoints are now, not as they were when the lab was built.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from netlab.apps.web import _Server

HEALTHZ_PORT, METRICS_PORT = 10256, 10249


class StateView:
    """The lab's saved state, read again only when the file changed."""

    def __init__(self, path: str) -> None:
        self.path, self._stamp, self._data = path, (0, 0), {}

    def data(self) -> dict:
        try:
            st = os.stat(self.path)
        except OSError:
            return self._data
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            try:
                with open(self.path, encoding="utf-8") as f:
                    self._data = json.load(f)
                self._stamp = (st.st_mtime_ns, st.st_size)
            except (OSError, ValueError):  # caught mid-write: the last good one
                pass
        return self._data


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def health(data: dict, node: str, now: float) -> tuple[bool, str]:
    """The proxy health server's verdict and body."""
    metrics = (data.get("proxy_metrics") or {}).get(node) or {}
    last = float(metrics.get("last_sync") or 0.0)
    period = float(((data.get("plan") or {}).get("spec") or {}).get("sync_period") or 5.0)
    healthy = bool(last) and now - last <= 2 * period
    body = json.dumps({"lastUpdated": _ts(last) if last else "", "currentTime": _ts(now),
                       "nodeName": node, "nodeHealthy": healthy, "nodeEligible": True})
    return healthy, body


def local_endpoints(data: dict, node: str, namespace: str, name: str) -> int:
    plan = data.get("plan") or {}
    ips = set()
    for se in plan.get("endpoints") or []:
        if (se.get("namespace"), se.get("name")) != (namespace, name):
            continue
        for _port, _proto, addr, _num in se.get("entries") or []:
            if addr.get("ready") and addr.get("node") == node:
                ips.add(addr.get("ip"))
    return len(ips)


def metrics_text(data: dict, node: str) -> str:
    """kube-proxy's sync metrics for NODE (names as in pkg/proxy/metrics)."""
    m = (data.get("proxy_metrics") or {}).get(node) or {}
    out: list[str] = []

    def head(name: str, kind: str, help_: str) -> None:
        out.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}"])

    for name, help_, count, total in (
            ("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
             "syncs", "duration_sum"),
            ("kubeproxy_sync_full_proxy_rules_duration_seconds",
             "SyncProxyRules latency in seconds for full resyncs", "full_syncs",
             "full_duration_sum"),
            ("kubeproxy_sync_partial_proxy_rules_duration_seconds",
             "SyncProxyRules latency in seconds for partial resyncs", "partial_syncs",
             "partial_duration_sum")):
        head(name, "histogram", help_)
        out += [f'{name}_bucket{{le="+Inf"}} {m.get(count, 0)}',
                f"{name}_sum {float(m.get(total, 0.0))!r}", f"{name}_count {m.get(count, 0)}"]
    for name, kind, help_, key in (
            ("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge",
             "The last time proxy rules were successfully synced", "last_sync"),
            ("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", "counter",
             "Cumulative proxy iptables restore failures", "restore_failures"),
            ("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total", "counter",
             "Cumulative proxy iptables partial restore failures", "partial_restore_failures"),
            ("kubeproxy_sync_proxy_rules_service_changes_total", "counter",
             "Cumulative proxy rules Service changes", "service_changes")):
        head(name, kind, help_)
        value = m.get(key, 0)
        out.append(f"{name} {float(value)!r}" if isinstance(value, float) else f"{name} {value}")
    name = "kubeproxy_sync_proxy_rules_iptables_total"
    head(name, "gauge", "Total number of iptables rules owned by kube-proxy")
    out += [f'{name}{{table="{t}"}} {n}' for t, n in sorted((m.get("rules") or {}).items())]
    return "\n".join(out) + "\n"


def bind(node: str, state: str, mode: str, health_ports: list[tuple[int, str, str]]) -> list:
    """The node's kube-proxy servers; HEALTH_PORTS: (port, namespace, name) per Service."""
    view = StateView(state)

    class Handler(BaseHTTPRequestHandler):
        port = 0

        def _send(self, code: int, body: str, ctype: str, headers=()) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            data = view.data()
            if self.port == METRICS_PORT and path == "/proxyMode":
                return self._send(200, mode, "text/plain; charset=utf-8")
            if self.port == METRICS_PORT and path == "/metrics":
                return self._send(200, metrics_text(data, node),
                                  "text/plain; version=0.0.4; charset=utf-8")
            if path in ("/healthz", "/livez") and self.port in (HEALTHZ_PORT, METRICS_PORT):
                ok, body = health(data, node, time.time())
                return self._send(200 if ok else 503, body, "application/json")
            for port, ns, name in health_ports:
                if self.port == port:
                    count = local_endpoints(data, node, ns, name)
                    body = json.dumps({"service": {"namespace": ns, "name": name},
                                       "localEndpoints": count,
                                       "serviceProxyHealthy": health(data, node,
                                                                     time.time())[0]},
                                      indent=1)
                    return self._send(200 if count else 503, body, "application/json",
                                      [("X-Load-Balancing-Endpoint-Weight", str(count))])
            return self._send(404, "404 page not found\n", "text/plain; charset=utf-8")

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    servers = []
    for addr, port in [("0.0.0.0", HEALTHZ_PORT), ("127.0.0.1", METRICS_PORT),
                       *(("0.0.0.0", p) for p, _ns, _n in health_ports)]:
        servers.append(_Server((addr, port), type("H", (Handler,), {"port": port})))
    return servers

"""The ingress controller's process, PID 1 of its container, as ingress-nginx's controller
is: it follows the lab's objects (the saved state, as the controller watches the API server),
renders nginx.conf, tests it with ``nginx -t`` before it swaps it in, and reloads nginx
gracefully (SIGHUP: new workers take new connections, old ones finish theirs). A
configuration that fails the test is not used: nginx keeps serving the previous one, and the
Ingresses that make it fail (each tested alone) are reported in the status file the lab's
controller turns into events."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import replace

from netlab.ingress.gateway import GatewayPlan, gateway_plan
from netlab.ingress.gateway_nginx import render_gateway
from netlab.ingress.nginx import cert_path, render
from netlab.ingress.routes import routes
from netlab.model import LabPlan, TlsSecret
from netlab.model.codec import from_data
from netlab.state.watch import StateWatch

log = logging.getLogger("netlab.ingress")
NGINX = "/usr/sbin/nginx"
POLL_S = 0.2


def nginx_test(conf_path: str, run_dir: str) -> tuple[bool, str]:
    r = subprocess.run([NGINX, "-t", "-q", "-e", "stderr", "-p", run_dir, "-c", conf_path],
                       capture_output=True, text=True, check=False)
    lines = [ln for ln in r.stderr.splitlines() if "[emerg]" in ln or "[alert]" in ln]
    return r.returncode == 0, (lines[0] if lines else r.stderr.strip())


def may_change_user() -> bool:
    """Does this process hold CAP_SETUID and CAP_SETGID (for nginx's workers)?"""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(eff & (1 << 6)) and bool(eff & (1 << 7))


class IngressController:
    def __init__(self, state_path: str, flavour: str, run_dir: str, status_path: str,
                 http_port: int = 80, api_port: int | None = None, gateway: str = "") -> None:
        self.watch = StateWatch(state_path)
        self.flavour, self.run_dir, self.status_path = flavour, run_dir, status_path
        self.http_port, self.api_port, self.gateway = http_port, api_port, gateway
        self.conf_path = f"{run_dir}/nginx.conf"
        self.user = "www-data www-data"
        self.current = ""
        self.nginx: subprocess.Popen | None = None
        self.status = {"reloads": 0, "ok": True, "error": "", "culprits": [], "claimed": [],
                       "config": ""}

    def _render(self, plan: LabPlan) -> tuple[str, list[str], list[TlsSecret]]:
        """The configuration, the Ingresses it serves (a Gateway's: none) and the Secrets
        whose certificates it names."""
        if self.flavour == "gateway":
            gw = next((g for g in plan.gateways if g.key == self.gateway), None)
            gp = gateway_plan(plan, gw) if gw is not None else GatewayPlan(self.gateway)
            return render_gateway(gp, self.run_dir, self.user), [], list(gp.certs.values())
        r = routes(plan, self.flavour)
        return (render(r, self.run_dir, self.http_port, self.api_port, self.user), r.claimed,
                list(r.certs.values()))

    def step(self) -> bool:
        """Follow the lab once: True when nginx was (re)loaded."""
        if self.nginx is not None and self.nginx.poll() is not None:
            log.warning("nginx exited (%s); starting it again", self.nginx.returncode)
            self.nginx, self.current = None, ""
            self.watch.forget()
        state = self.watch.changed()
        if state is None:
            return False
        plan = from_data(LabPlan, state["plan"])
        conf, claimed, certs = self._render(plan)
        if conf == self.current:
            return False
        self._write_certs(certs)
        candidate = f"{self.conf_path}.new"
        with open(candidate, "w", encoding="utf-8") as f:
            f.write(conf)
        ok, error = nginx_test(candidate, self.run_dir)
        if not ok:
            culprits = self._culprits(plan)
            log.error("Error reloading NGINX: %s (Ingresses %s); the previous configuration "
                      "stays", error, ", ".join(culprits) or "?")
            self._report(ok=False, error=error, culprits=culprits, claimed=claimed)
            self.current = conf  # tried: not again until something changes
            return False
        os.replace(candidate, self.conf_path)
        if self.nginx is None:
            self.nginx = subprocess.Popen([NGINX, "-e", "stderr", "-p", self.run_dir,
                                           "-c", self.conf_path])
        else:
            self.nginx.send_signal(signal.SIGHUP)
        self.current = conf
        log.info("NGINX reload triggered due to a change in configuration")
        self._report(ok=True, error="", culprits=[], claimed=claimed,
                     config=hashlib.sha256(conf.encode()).hexdigest()[:16])
        return True

    def _write_certs(self, certs: list[TlsSecret]) -> None:
        """The Secrets' certificates where the configuration names them (mode 0600)."""
        os.makedirs(f"{self.run_dir}/certs", mode=0o700, exist_ok=True)
        for secret in certs:
            path = cert_path(self.run_dir, secret.key_name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secret.key.rstrip("\n") + "\n" + secret.cert)

    def _culprits(self, plan: LabPlan) -> list[str]:
        """The Ingresses whose configuration fails nginx -t on its own."""
        out = []
        path = f"{self.conf_path}.one"
        for ing in plan.ingresses:
            conf, claimed, _certs = self._render(replace(plan, ingresses=(ing,)))
            if not claimed:
                continue
            with open(path, "w", encoding="utf-8") as f:
                f.write(conf)
            if not nginx_test(path, self.run_dir)[0]:
                out.append(ing.key)
        return out

    def _report(self, **fields: object) -> None:
        self.status.update(fields)
        if fields.get("ok"):
            self.status["reloads"] = int(self.status["reloads"]) + 1
        self.status["time"] = time.time()
        tmp = f"{self.status_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.status, f)
        os.replace(tmp, self.status_path)

    def serve(self) -> None:
        """Runs as the container (its capabilities decided by then)."""
        os.makedirs(self.run_dir, exist_ok=True)
        if not may_change_user():
            self.user = "root root"
        while True:
            try:
                self.step()
            except Exception:
                log.exception("ingress controller: sync failed")
                self.watch.forget()
            time.sleep(POLL_S)

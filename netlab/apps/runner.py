"""python -m netlab.apps.runner: the container launcher with netlab's built-in apps.

The launcher itself (``kernel/launcher.py``) forks containers into their namespaces; this module
gives it the apps it can run besides a container's own argv: the web app, kube-proxy's HTTP
endpoints, the API server's stand-in and the cluster DNS server.
"""

from __future__ import annotations

from collections.abc import Callable

# imported before the launcher forks, so a container does not pay an import (the cluster DNS
# server, one per lab, imports its own on start)
from netlab.apps import kubeproxy, web
from netlab.kernel import launcher


def web_app(req: dict) -> Callable[[], None]:
    bound = web.bind(req.get("tcp") or [], req.get("udp") or [], req.get("ips") or [])
    return lambda: web.serve(bound, req.get("ips") or [])


def kube_proxy_app(req: dict) -> Callable[[], None]:
    servers = kubeproxy.bind(req["node"], req["state"], req["mode"],
                             [tuple(p) for p in req.get("health_ports", [])])
    return lambda: web.serve(servers, [])


def apiserver_app(req: dict) -> Callable[[], None]:
    import os

    from netlab.apps import apiserver
    from netlab.kernel import tls

    if not os.path.exists(req["cert"]):
        tls.self_signed(req["cert"], req["key"], req["names"], req["ips"])
    server = apiserver.bind(req["port"], req["cert"], req["key"])
    return lambda: web.serve([server], [])


def dns_app(req: dict) -> Callable[[], None]:
    from netlab.dns import server

    udp, tcp = server.bind(req["state"])

    def serve() -> None:
        if req.get("state_in_sandbox"):  # the lab's folder, bound read-only in the container
            udp.zone_source.watch.path = req["state_in_sandbox"]
        server.run(udp, tcp)
    return serve


def speaker_app(req: dict) -> Callable[[], None]:
    import logging

    from netlab.apps import speaker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sock, announcer = speaker.bind(req["state"], req["node"], req.get("iface", "eth0"))
    return lambda: speaker.serve(sock, announcer)


def ingress_app(req: dict) -> Callable[[], None]:
    """An ingress controller (ingress-nginx's, or Traefik's behaviour) running real nginx."""
    import logging
    import os

    from netlab.ingress.run import IngressController
    from netlab.kernel import tls

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = os.path.dirname(req["status"])  # the pod's, seen at /run/netlab-ingress inside
    if req["flavour"] != "traefik" and not os.path.exists(f"{folder}/default.crt"):
        # ingress-nginx's own default certificate, for hosts without a Secret of their own
        tls.self_signed(f"{folder}/default.crt", f"{folder}/default.key", ["ingress.local"],
                        [], "/O=Acme Co/CN=Kubernetes Ingress Controller Fake Certificate")
    controller = IngressController(req["state"], req["flavour"], req["run_dir"],
                                   req["status"], req["http_port"], req.get("api_port"),
                                   req.get("gateway", ""))

    def serve() -> None:
        if req.get("state_in_sandbox"):  # the lab's folder, bound read-only in the container
            controller.watch.path = req["state_in_sandbox"]
        if req.get("status_in_sandbox"):
            controller.status_path = req["status_in_sandbox"]
        controller.serve()
    return serve


APPS = {"web": web_app, "kube-proxy": kube_proxy_app, "apiserver": apiserver_app,
        "dns": dns_app, "speaker": speaker_app, "ingress": ingress_app}

if __name__ == "__main__":
    launcher.main(APPS)

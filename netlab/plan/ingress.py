"""The ingress controller a lab runs (pure): ingress-nginx as its manifests install it, a
Deployment ``ingress-nginx-controller`` in namespace ``ingress-nginx`` with IngressClass
``nginx``, exposed by a LoadBalancer Service (externalTrafficPolicy Local, the cloud
manifest), a NodePort Service (the bare-metal manifest), or as a hostNetwork DaemonSet."""

from __future__ import annotations

from dataclasses import replace

from netlab.ingress.gateway import CONTROLLER as GATEWAY_CONTROLLER
from netlab.ingress.gateway import GATEWAY_LABEL
from netlab.ingress.routes import (
    NGINX_CONTROLLER,
    NGINX_NAME,
    NGINX_NAMESPACE,
    TRAEFIK_CONTROLLER,
    class_of,
    controller_of,
    running,
)
from netlab.model import (
    GATEWAY_IMAGE,
    INGRESS_NGINX_IMAGE,
    Container,
    ContainerPort,
    Deployment,
    IngressClass,
    PodSpec,
    Probe,
    Scenario,
    Service,
    ServicePort,
)

NAMESPACE, NAME = NGINX_NAMESPACE, NGINX_NAME
LABELS = (("app.kubernetes.io/component", "controller"),
          ("app.kubernetes.io/instance", "ingress-nginx"),
          ("app.kubernetes.io/name", "ingress-nginx"))


def wants_nginx(sc: Scenario) -> bool:
    """Whether an Ingress goes to ingress-nginx: its class (or the default class) is nginx or
    an IngressClass of ingress-nginx's; or it has no class and no Traefik serves it."""
    traefik = "traefik" in running(sc.lab, sc.deployments)
    for ing in sc.ingresses:
        name = class_of(sc.ingress_classes, ing)
        if (not name and not traefik) or \
                (name and controller_of(sc.ingress_classes, name) == NGINX_CONTROLLER):
            return True
    return False


def with_ingress_nginx(sc: Scenario) -> Scenario:
    """Add ingress-nginx's controller when the Lab asks for it (or, with ``auto``, when an
    Ingress wants it and the manifests deploy none of their own)."""
    mode = sc.lab.ingress_controller
    if mode == "none" or "nginx" in running(sc.lab, sc.deployments) or \
            (mode == "auto" and not wants_nginx(sc)):
        return sc
    host_network = sc.lab.ingress_service == "hostNetwork"
    container = Container(
        name="controller", image=INGRESS_NGINX_IMAGE,
        args=("/nginx-ingress-controller", f"--publish-service={NAMESPACE}/{NAME}",
              "--election-id=ingress-nginx-leader", f"--controller-class={NGINX_CONTROLLER}",
              "--ingress-class=nginx"),
        ports=(ContainerPort(80, "http", "TCP", 80 if host_network else 0),
               ContainerPort(443, "https", "TCP", 443 if host_network else 0)),
        # ingress-nginx probes /healthz on 10254 every 10 s; a lab checks every second
        readiness=Probe("http", 10254, "/healthz", period=1, failure_threshold=3))
    spec = PodSpec((container,), host_network=host_network,
                   dns_policy="ClusterFirstWithHostNet" if host_network else "ClusterFirst")
    deploy = Deployment(NAME, NAMESPACE, 1, LABELS, LABELS, spec, LABELS,
                        kind="DaemonSet" if host_network else "Deployment")
    services = sc.services
    if not host_network:
        lb = sc.lab.ingress_service == "LoadBalancer"
        services = (*services, Service(
            NAME, NAMESPACE, (ServicePort(80, "http", "TCP", "http"),
                              ServicePort(443, "https", "TCP", "https")), LABELS,
            type="LoadBalancer" if lb else "NodePort",
            external_traffic_policy="Local" if lb else "Cluster", labels=LABELS))
    classes = sc.ingress_classes
    if not any(c.name == "nginx" for c in classes):
        # marked default, as minikube's addon does: Ingresses without a class are its own
        classes = (*classes, IngressClass("nginx", NGINX_CONTROLLER,
                                          default=not any(c.default for c in classes)))
    return replace(sc, deployments=(*sc.deployments, deploy), services=services,
                   ingress_classes=classes)


def with_gateways(sc: Scenario) -> Scenario:
    """A Deployment and a LoadBalancer Service per Gateway of a class netlab serves (NGINX
    Gateway Fabric's controllerName), named <gateway>-<class> in the Gateway's namespace, as
    that controller provisions them."""
    ours = {c.name for c in sc.gateway_classes if c.controller == GATEWAY_CONTROLLER}
    deployments, services = list(sc.deployments), list(sc.services)
    for gw in sc.gateways:
        if gw.class_name not in ours:
            continue
        name = f"{gw.name}-{gw.class_name}"
        labels = ((GATEWAY_LABEL, gw.name), ("app.kubernetes.io/instance", gw.name),
                  ("app.kubernetes.io/name", name))
        ports = sorted({lst.port for lst in gw.listeners})
        container = Container(
            name="nginx", image=GATEWAY_IMAGE,
            ports=tuple(ContainerPort(p, f"port-{p}", "TCP") for p in ports),
            readiness=Probe("http", 10254, "/healthz", period=1, failure_threshold=3))
        deployments.append(Deployment(name, gw.namespace, 1, labels, labels,
                                      PodSpec((container,)), labels))
        services.append(Service(name, gw.namespace, tuple(
            ServicePort(p, p, "TCP", f"port-{p}") for p in ports), labels,
            type="LoadBalancer", external_traffic_policy="Local", labels=labels))
    return replace(sc, deployments=tuple(deployments), services=tuple(services))


def with_traefik_class(sc: Scenario) -> Scenario:
    """Traefik's IngressClass, when the manifests run Traefik and do not define it."""
    if "traefik" not in running(sc.lab, sc.deployments) or \
            any(c.name == "traefik" for c in sc.ingress_classes):
        return sc
    return replace(sc, ingress_classes=(*sc.ingress_classes,
                                        IngressClass("traefik", TRAEFIK_CONTROLLER)))

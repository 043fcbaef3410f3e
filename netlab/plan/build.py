"""The lab plan: every namespace, address and name decided before anything is created. Pure."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from netlab.dns.resolv import kube_dns_ip
from netlab.errors import ScenarioError
from netlab.model import (
    COREDNS_IMAGE,
    ClientInfo,
    Container,
    ContainerPort,
    Deployment,
    EndpointsManifest,
    LabPlan,
    NodeInfo,
    PodInfo,
    PodSpec,
    ReplicaSet,
    Scenario,
    Service,
    ServiceInfo,
    ServicePort,
)
from netlab.plan import naming, workloads
from netlab.plan.endpoints import compute_endpoints
from netlab.plan.ingress import with_gateways, with_ingress_nginx, with_traefik_class
from netlab.plan.ipam import (
    HostLocal,
    RangeFull,
    allocate_cluster_ip,
    allocate_node_port,
    node_subnets,
)

LAN_BRIDGE = "lab0"


def plan_nodes(sc: Scenario) -> tuple[NodeInfo, ...]:
    lab = sc.lab
    lan = ipaddress.ip_network(lab.node_cidr)
    subnets = node_subnets(lab.pod_cidr, len(lab.nodes), lab.node_mask)
    out = []
    for i, name in enumerate(lab.nodes):
        out.append(NodeInfo(
            name=name, index=i, netns=naming.node_netns(lab.name, name),
            lan_ip=str(lan.network_address + 2 + i),
            lan_veth=naming.lan_port("node", name),
            pod_cidr=str(subnets[i]), gateway=str(subnets[i].network_address + 1),
            vtep_mac=naming.vtep_mac(lab.name, name)))
    return tuple(out)


def plan_clients(sc: Scenario) -> tuple[ClientInfo, ...]:
    lab = sc.lab
    lan = ipaddress.ip_network(lab.node_cidr)
    out = []
    for i, name in enumerate(lab.clients):
        app = lab.client_app(name)
        out.append(ClientInfo(name=name, netns=naming.client_netns(lab.name, name),
                              lan_ip=str(lan.broadcast_address - 1 - i),
                              lan_veth=naming.lan_port("client", name),
                              app=app.app if app else "", ports=app.ports if app else ()))
    return tuple(out)


def desired_pods(sc: Scenario, sets: tuple[ReplicaSet, ...]
                 ) -> list[tuple[str, str, tuple, PodSpec, str, str]]:
    """(namespace, name, labels, spec, owner, template hash) for every pod, in creation order:
    the bare pods, the pods the ReplicaSets SETS hold, one per eligible node for each
    DaemonSet."""
    out = [(p.namespace, p.name, p.labels, p.spec, "", "") for p in sc.pods]
    for rs in sets:
        owner = f"Deployment/{rs.owner}" if rs.owner else f"{rs.kind}/{rs.name}"
        out += [(rs.namespace, name, rs.labels, rs.template, owner, rs.hash)
                for name in rs.pods]
    used: set = set()  # (node, port, protocol) host ports the DaemonSets so far hold
    for d in sc.deployments:
        if d.kind == "DaemonSet":
            out += workloads.daemon_pods(sc.lab, d, used)
    return out


def initial_rollout(sc: Scenario, now: float = 0.0) -> workloads.Outcome:
    """The ReplicaSets of a new lab: every Deployment's first revision, scaled up at once."""
    sc = with_cluster_services(sc)
    status = workloads.Status(taken=frozenset(f"{p.namespace}/{p.name}" for p in sc.pods),
                              now=now)
    return workloads.reconcile(sc.lab.name, sc.deployments, {}, status)


def with_cluster_dns(sc: Scenario) -> Scenario:
    """Add kube-dns as kubeadm installs it: a CoreDNS Deployment in kube-system (pinned to the
    first node, like a control-plane add-on) behind the kube-dns Service at the tenth address
    of the service CIDR."""
    if not sc.lab.cluster_dns or any(s.namespace == "kube-system" and s.name == "kube-dns"
                                     for s in sc.services):
        return sc
    ip = kube_dns_ip(sc.lab.service_cidr)
    for s in sc.services:
        if s.cluster_ip == ip:
            raise ScenarioError(f"clusterIP {ip} of {s.namespace}/{s.name} is kube-dns's "
                                "address (set clusterDNS: false to use it)",
                                field=f"Service/{s.name} spec.clusterIP")
    labels = (("k8s-app", "kube-dns"),)
    container = Container(name="coredns", image=COREDNS_IMAGE, ports=(
        ContainerPort(53, "dns", "UDP"), ContainerPort(53, "dns-tcp", "TCP"),
        ContainerPort(9153, "metrics", "TCP")))
    deploy = Deployment("coredns", "kube-system", 1, labels, labels,
                        PodSpec((container,), node_name=sc.lab.nodes[0], dns_policy="Default"),
                        labels)
    service = Service("kube-dns", "kube-system", (
        ServicePort(53, "dns", "UDP", "dns"), ServicePort(53, "dns-tcp", "TCP", "dns-tcp"),
        ServicePort(9153, "metrics", "TCP", "metrics")), labels, cluster_ip=ip,
        labels=(("k8s-app", "kube-dns"), ("kubernetes.io/name", "CoreDNS")))
    return replace(sc, deployments=(*sc.deployments, deploy), services=(*sc.services, service))


APISERVER_PORT = 6443


def kubernetes_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr).network_address + 1)


def apiserver_ip(sc: Scenario) -> str:
    """The control-plane node's address (the first node's), where the API server listens."""
    return str(ipaddress.ip_network(sc.lab.node_cidr).network_address + 2)


def with_kubernetes_service(sc: Scenario) -> Scenario:
    """Add what every cluster has: the ``default/kubernetes`` Service at the first service
    address, port 443 (https), whose endpoint is the API server on the control-plane node
    (6443), as kube-apiserver maintains it."""
    if any(s.namespace == "default" and s.name == "kubernetes" for s in sc.services):
        return sc
    ip = kubernetes_ip(sc.lab.service_cidr)
    for s in sc.services:
        if s.cluster_ip == ip:
            raise ScenarioError(f"clusterIP {ip} of {s.namespace}/{s.name} is the kubernetes "
                                "Service's address (the first of serviceCIDR)",
                                field=f"Service/{s.name} spec.clusterIP")
    service = Service("kubernetes", "default", (ServicePort(443, APISERVER_PORT, "TCP",
                                                            "https"),), None, cluster_ip=ip,
                      labels=(("component", "apiserver"), ("provider", "kubernetes")))
    # kube-apiserver's endpoint reconciler writes the address without a nodeName
    endpoints = EndpointsManifest("kubernetes", "default", (("https", "TCP", APISERVER_PORT),),
                                  ((apiserver_ip(sc), True, "", True, False),))
    return replace(sc, services=(service, *sc.services), endpoints=(endpoints, *sc.endpoints))


def with_cluster_services(sc: Scenario) -> Scenario:
    """The Services every cluster has: kubernetes, and kube-dns unless the Lab leaves it out;
    with k3s' ServiceLB, a svclb DaemonSet per LoadBalancer Service."""
    return with_servicelb(with_gateways(with_traefik_class(with_ingress_nginx(
        with_cluster_dns(with_kubernetes_service(sc))))))


def with_servicelb(sc: Scenario) -> Scenario:
    """k3s' ServiceLB: for each LoadBalancer Service, a DaemonSet in kube-system whose pods
    hold the Service's ports as host ports on every node (one container per port)."""
    from netlab.lb.allocate import handled, svclb_name
    from netlab.model import KLIPPER_IMAGE

    if lb_provider(sc) != "servicelb":
        return sc
    extra = []
    for svc in sc.services:
        if not handled(svc):
            continue
        name = svclb_name(svc)
        labels = (("app", name), ("svccontroller.k3s.cattle.io/svcname", svc.name),
                  ("svccontroller.k3s.cattle.io/svcnamespace", svc.namespace))
        containers = tuple(Container(
            f"lb-{p.protocol.lower()}-{p.port}", KLIPPER_IMAGE,
            ports=(ContainerPort(p.port, f"lb-{p.protocol.lower()}-{p.port}", p.protocol,
                                 p.port),),
            env=(("SRC_PORT", str(p.port)), ("DEST_PROTO", p.protocol),
                 ("DEST_PORT", str(p.port)))) for p in svc.ports)
        extra.append(Deployment(name, "kube-system", 0, (("app", name),), labels,
                                PodSpec(containers), labels, kind="DaemonSet",
                                strategy="RollingUpdate"))
    return replace(sc, deployments=(*sc.deployments, *extra))


def plan_lab(sc: Scenario, ipam: dict[str, dict] | None = None,
             previous: LabPlan | None = None,
             released: frozenset[str] = frozenset(),
             sets: tuple[ReplicaSet, ...] | None = None) -> tuple[LabPlan, dict]:
    """Decide the whole lab. IPAM is the persisted allocator state (node -> HostLocal dict);
    the updated state is returned with the plan. PREVIOUS (a running lab's plan) keeps its
    ClusterIPs and node ports for the services that are still there. SETS are the
    ReplicaSets the Deployment controller decided (None: a new lab's)."""
    if sets is None:
        sets = tuple(initial_rollout(sc).sets.values())
    sc = with_cluster_services(sc)
    lab = sc.lab
    nodes = plan_nodes(sc)
    clients = plan_clients(sc)
    allocators = {n.name: HostLocal.from_dict(ipam[n.name]) if ipam and n.name in ipam
                  else HostLocal(n.pod_cidr) for n in nodes}
    by_name = {n.name: n for n in nodes}
    cursor = 0
    pods: list[PodInfo] = []
    seen: set[tuple[str, str]] = set()
    host_veths: dict[tuple[str, str], str] = {}
    # A running lab's pods that stay as they are keep everything: a running pod is never
    # placed again (its node, address and namespaces are real).
    kept = {p.key: p for p in previous.pods} if previous else {}
    wanted = desired_pods(sc, sets)
    load = {n.name: 0 for n in nodes}
    for ns, name, labels, spec, _o, _t in wanted:
        old = kept.get(f"{ns}/{name}")
        if old is not None and (old.labels, old.spec) == (labels, spec):
            load[old.node] += 1
        elif spec.node_name:
            load[spec.node_name] += 1
    for ns, name, labels, spec, owner, thash in wanted:
        if (ns, name) in seen:
            raise ScenarioError(f"two pods are named {ns}/{name}", field=f"Pod/{name}")
        seen.add((ns, name))
        old = kept.get(f"{ns}/{name}")
        if old is not None and (old.labels, old.spec) == (labels, spec):
            allocators[old.node].allocate(old.key)  # it holds its address already
            if old.host_veth:
                host_veths[(old.node, old.host_veth)] = old.key
            pods.append(old)
            continue
        fits = [n for n in nodes if workloads.schedulable(lab, spec, n.name)]
        if spec.node_name:
            node = by_name[spec.node_name]
        elif not fits:
            raise ScenarioError(f"pod {ns}/{name} fits no node: 0/{len(nodes)} nodes match its "
                                "nodeSelector and tolerate their taints", field=f"Pod/{name}")
        elif previous is not None:  # a change: the least loaded node, as the scheduler would
            node = min(fits, key=lambda n: (load[n.name], n.index))
            load[node.name] += 1
        else:
            while not workloads.schedulable(lab, spec, nodes[cursor % len(nodes)].name):
                cursor += 1
            node = nodes[cursor % len(nodes)]
            cursor += 1
        if spec.host_network:
            pods.append(PodInfo(name, ns, node.name, node.netns, "", node.lan_ip, "", labels,
                                spec, owner, thash))
            continue
        try:
            ip = allocators[node.name].allocate(f"{ns}/{name}")
        except RangeFull as exc:
            raise ScenarioError(f"{exc}: too many pods on node {node.name}",
                                field=f"Pod/{name}") from None
        veth = naming.pod_host_veth(ns, name)
        if (node.name, veth) in host_veths:
            raise ScenarioError(f"interface name clash between {host_veths[(node.name, veth)]} "
                                f"and {ns}/{name}; rename one", field=f"Pod/{name}")
        host_veths[(node.name, veth)] = f"{ns}/{name}"
        pods.append(PodInfo(name, ns, node.name, naming.pod_netns(lab.name, ns, name),
                            naming.pod_uts_path(lab.name, ns, name), ip, veth, labels, spec,
                            owner, thash))
    services = plan_services(sc, previous.services if previous else (), released)
    if lb_provider(sc) == "servicelb":
        services = _servicelb_status(services, pods, nodes)
    endpoints = compute_endpoints(services, pods, manifests=sc.endpoints)
    lan = ipaddress.ip_network(lab.node_cidr)
    plan = LabPlan(spec=lab, lan_netns=naming.lan_netns(lab.name), lan_bridge=LAN_BRIDGE,
                   lan_gateway=str(lan.network_address + 1), nodes=nodes, clients=clients,
                   pods=tuple(pods), services=services, endpoints=endpoints,
                   manifests=sc.endpoints, workloads=sc.deployments,
                   pools=sc.pools if lb_provider(sc) == "metallb" else (),
                   advertisements=sc.advertisements,
                   replicasets=tuple(sorted(sets, key=lambda rs: rs.key)),
                   ingresses=sc.ingresses, ingress_classes=sc.ingress_classes,
                   tls_secrets=_named_tls(sc), gateway_classes=sc.gateway_classes,
                   gateways=sc.gateways, http_routes=sc.http_routes,
                   reference_grants=sc.reference_grants)
    return plan, {k: v.to_dict() for k, v in allocators.items()}


def _named_tls(sc: Scenario) -> tuple:
    """The TLS Secrets an Ingress or a Gateway's listener names (the controllers read only
    those)."""
    named = {f"{i.namespace}/{secret}" for i in sc.ingresses for _hosts, secret in i.tls}
    named |= {c for g in sc.gateways for lst in g.listeners for c in lst.certs}
    return tuple(s for s in sc.tls_secrets if s.key_name in named)


def _check_held(sc: Scenario, before: dict[str, ServiceInfo]) -> None:
    """A ClusterIP or node port a manifest asks for must not be one a running lab gave
    another Service that stays (the manifests' own clashes are the loader's)."""
    staying = {f"{s.namespace}/{s.name}" for s in sc.services}
    kept = {k: i for k, i in before.items() if k in staying}
    ips = {i.cluster_ip: k for k, i in kept.items() if i.cluster_ip not in ("", "None")}
    held = {(p.node_port, p.protocol): key for key, info in kept.items()
            for p in info.service.ports if p.node_port}
    held |= {(info.service.health_check_node_port, "TCP"): key for key, info in kept.items()
             if info.service.health_check_node_port}
    for svc in sc.services:
        key = f"{svc.namespace}/{svc.name}"
        owner = ips.get(svc.cluster_ip)
        if svc.cluster_ip and owner and owner != key:
            raise ScenarioError(f"clusterIP {svc.cluster_ip} is already allocated to {owner}",
                                field=f"Service/{svc.name} spec.clusterIP")
        wanted = [(p.node_port, p.protocol) for p in svc.ports if p.node_port]
        if svc.health_check_node_port:
            wanted.append((svc.health_check_node_port, "TCP"))
        for port, proto in wanted:
            owner = held.get((port, proto))
            if owner and owner != key:
                raise ScenarioError(f"node port {port}/{proto} is already allocated to "
                                    f"{owner}", field=f"Service/{svc.name} spec.ports")


def plan_services(sc: Scenario, previous: tuple[ServiceInfo, ...] = (),
                  released: frozenset[str] = frozenset()) -> tuple[ServiceInfo, ...]:
    """ClusterIPs, node ports and health check ports: the ones the manifests ask for, those a
    running lab already gave the same services, then allocated ones (stable for the same
    names). RELEASED addresses (of services deleted from a running lab) are not handed out
    again, so a recreated Service gets a new ClusterIP, as in a cluster."""
    before = {i.key: i for i in previous}
    _check_held(sc, before)
    used = {s.cluster_ip for s in sc.services if s.cluster_ip and s.cluster_ip != "None"}
    used |= set(released)
    used_ports = {p.node_port for s in sc.services for p in s.ports if p.node_port} | \
        {s.health_check_node_port for s in sc.services if s.health_check_node_port}
    kept: dict[str, ServiceInfo] = {}
    for svc in sc.services:
        old = before.get(f"{svc.namespace}/{svc.name}")
        if old and old.cluster_ip not in ("", "None") and old.cluster_ip not in used and \
                not svc.cluster_ip and svc.type != "ExternalName":
            kept[old.key] = old
            used.add(old.cluster_ip)
            used_ports |= {p.node_port for p in old.service.ports if p.node_port}

    out = []
    for svc in sc.services:
        key = f"{svc.namespace}/{svc.name}"
        if svc.type == "ExternalName":
            out.append(ServiceInfo(svc, ""))
            continue
        old_ports = {(p.port, p.protocol): p.node_port for p in kept[key].service.ports} \
            if key in kept else {}
        if key in kept and svc.type in ("NodePort", "LoadBalancer"):
            svc = replace(svc, ports=tuple(
                replace(p, node_port=p.node_port or old_ports.get((p.port, p.protocol), 0))
                for p in svc.ports))
        ip = kept[key].cluster_ip if key in kept else svc.cluster_ip
        if not ip:
            ip = allocate_cluster_ip(sc.lab.service_cidr, key, used)
            used.add(ip)
        ports = []
        for p in svc.ports:
            if (svc.type == "NodePort" or (svc.type == "LoadBalancer" and
                                           svc.allocate_lb_node_ports)) and not p.node_port:
                try:
                    port = allocate_node_port(sc.lab.node_port_range,
                                              f"{key}:{p.port}/{p.protocol}", used_ports)
                except RangeFull as exc:
                    raise ScenarioError(str(exc), field=f"Service/{svc.name} spec.ports") \
                        from None
                used_ports.add(port)
                p = replace(p, node_port=port)
            ports.append(p)
        hc = svc.health_check_node_port
        if svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local" and not hc:
            hc = allocate_node_port(sc.lab.node_port_range, f"{key}/healthcheck", used_ports)
            used_ports.add(hc)
        out.append(ServiceInfo(replace(svc, ports=tuple(ports), health_check_node_port=hc), ip))
    if lb_provider(sc) == "metallb":
        out = _metallb(sc, out, before)
    return tuple(out)


def _servicelb_status(services: tuple[ServiceInfo, ...], pods: list[PodInfo],
                      nodes: tuple[NodeInfo, ...]) -> tuple[ServiceInfo, ...]:
    """ServiceLB's status: the addresses of the nodes its svclb pods run on; none (pending)
    when its ports are taken on every node."""
    from netlab.lb.allocate import handled, svclb_name

    out = []
    for info in services:
        if handled(info.service):
            ds = f"DaemonSet/{svclb_name(info.service)}"
            on = {p.node for p in pods if p.owner == ds and p.namespace == "kube-system"}
            ips = tuple(n.lan_ip for n in nodes if n.name in on)
            info = replace(info, service=replace(info.service, load_balancer_ips=ips),
                           lb_pending="" if ips else "no node has its ports free "
                                                     "(another Service holds them)")
        out.append(info)
    return tuple(out)


def lb_provider(sc: Scenario) -> str:
    """The lab's LoadBalancer provider: as the Lab says; "auto" is MetalLB when the manifests
    configure it, else none (the addresses the manifests state)."""
    if sc.lab.lb_provider != "auto":
        return sc.lab.lb_provider
    return "metallb" if sc.pools else "none"


def _metallb(sc: Scenario, infos: list[ServiceInfo], before: dict[str, ServiceInfo]
             ) -> list[ServiceInfo]:
    """MetalLB's controller: the addresses it allocates replace what the manifests state."""
    from netlab.lb.allocate import allocate, handled

    previous = {k: i.service.load_balancer_ips for k, i in before.items() if i.lb_pool}
    got = allocate([i.service for i in infos], sc.pools, previous)
    out = []
    for info in infos:
        if handled(info.service):
            info = replace(info, service=replace(info.service,
                                                 load_balancer_ips=got.ips.get(info.key, ())),
                           lb_pool=got.pools.get(info.key, ""),
                           lb_pending=got.pending.get(info.key, ""))
        out.append(info)
    return out

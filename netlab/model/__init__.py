"""Plain data: what a scenario asks for (spec side) and what a lab is (runtime side).

Everything here is a frozen dataclass without behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROXY_MODES = ("iptables", "ipvs", "nftables")
ROUTING_MODES = ("host-gw", "vxlan")
# the schedulers kube-proxy's IPVS mode accepts (each is a kernel module ip_vs_<name>)
IPVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh")
BUILTIN_APPS = ("web", "idle", "dns", "ingress-nginx", "traefik", "gateway")
KLIPPER_IMAGE = "rancher/klipper-lb:v0.4.13"  # k3s' ServiceLB pods
INGRESS_NGINX_IMAGE = "registry.k8s.io/ingress-nginx/controller:v1.13.3"
TRAEFIK_IMAGE = "traefik"  # any tag: Traefik 1.7's DaemonSet, as the workshop deploys it
GATEWAY_IMAGE = "ghcr.io/nginx/nginx-gateway-fabric/nginx:2.2.1"  # a Gateway's data plane
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"


# -- spec side: what the user wrote --------------------------------------------------------


@dataclass(frozen=True)
class ImageApp:
    """What an image name runs: a built-in app and, optionally, its ports."""

    app: str = "web"
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class ClientSpec:
    """A host outside the cluster; it may run a built-in app (an outside server)."""

    name: str
    app: str = ""  # "" (nothing), "web"
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    name: str
    nodes: tuple[str, ...] = ("node1",)
    clients: tuple[str, ...] = ()
    proxy_mode: str = "iptables"
    routing: str = "host-gw"
    pod_cidr: str = "10.244.0.0/16"
    node_mask: int = 24  # each node's slice of pod_cidr (kube-controller-manager's
    # --node-cidr-mask-size, default 24)
    service_cidr: str = "10.96.0.0/12"
    node_cidr: str = "172.18.0.0/24"
    cluster_domain: str = "cluster.local"
    max_pods: int = 2000
    images: tuple[tuple[str, ImageApp], ...] = ()
    node_port_range: tuple[int, int] = (30000, 32767)
    client_apps: tuple[ClientSpec, ...] = ()
    cluster_dns: bool = True  # run kube-dns (a CoreDNS-like pod and Service in kube-system)
    ipvs_scheduler: str = "rr"  # kube-proxy's ipvs.scheduler
    strict_arp: bool = False  # kube-proxy's ipvs.strictARP
    ipvs_vip_filter: bool = False  # kube-proxy >= 1.27's KUBE-IPVS-FILTER (VIPs stop answering
    # ping and ports no service claims); off: the classic behaviour, where a ClusterIP pings
    outside_names: tuple[tuple[str, str], ...] = ()  # DNS name -> the client host serving it
    sync_period: float = 5.0  # seconds between full resyncs and drift checks
    control_plane_taint: bool = False  # the first node carries kubeadm's NoSchedule taint
    lb_provider: str = "auto"  # metallb | servicelb | none | auto (metallb if configured)
    lb_routes: tuple[str, ...] = ()  # clients get a route to these pool CIDRs via a node
    ingress_controller: str = "auto"  # nginx | none | auto (nginx when an Ingress wants it)
    ingress_service: str = "LoadBalancer"  # LoadBalancer | NodePort | hostNetwork

    def client_app(self, name: str) -> ClientSpec | None:
        for c in self.client_apps:
            if c.name == name:
                return c
        return None

    def image_app(self, image: str) -> ImageApp | None:
        bare = image.split("@")[0]
        for name, app in self.images:
            if name in (image, bare, bare.rsplit(":", 1)[0]):
                return app
        if bare.rsplit(":", 1)[0] == COREDNS_IMAGE.rsplit(":", 1)[0]:
            return ImageApp("dns", (53,))
        if bare.rsplit(":", 1)[0] == KLIPPER_IMAGE.rsplit(":", 1)[0]:
            return ImageApp("idle")  # holds its host ports; kube-proxy catches the traffic
        if bare.rsplit(":", 1)[0] == INGRESS_NGINX_IMAGE.rsplit(":", 1)[0]:
            return ImageApp("ingress-nginx", (80, 443))
        if bare.rsplit(":", 1)[0] == GATEWAY_IMAGE.rsplit(":", 1)[0]:
            return ImageApp("gateway", (80, 443))
        if bare.rsplit(":", 1)[0].rsplit("/", 1)[-1] == TRAEFIK_IMAGE:
            return ImageApp("traefik", (80,))
        return None


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"
    host_port: int = 0  # the node's port the CNI portmap plugin forwards (0: none)


@dataclass(frozen=True)
class Probe:
    """A readiness or liveness probe, with Kubernetes' defaults."""

    kind: str  # http | tcp | exec
    port: int | str = 0  # a number or a container port name
    path: str = "/"
    command: tuple[str, ...] = ()
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class SecurityContext:
    """What a container runs as (container securityContext over the pod's)."""

    run_as_user: int | None = None  # None: the image's user (root, for netlab's images)
    run_as_group: int | None = None
    run_as_non_root: bool = False
    privileged: bool = False
    allow_privilege_escalation: bool | None = None  # False: no_new_privs
    add_caps: tuple[str, ...] = ()  # capability names, without CAP_
    drop_caps: tuple[str, ...] = ()  # ALL drops every capability
    read_only_root: bool = False


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False


@dataclass(frozen=True)
class Hook:
    """A container lifecycle hook (preStop): what the kubelet runs before it sends SIGTERM."""

    kind: str  # exec | http | tcp | sleep
    command: tuple[str, ...] = ()
    port: int | str = 0
    path: str = "/"
    seconds: int = 0


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    probe_ports: tuple[int, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    readiness: Probe | None = None
    liveness: Probe | None = None
    security: SecurityContext = field(default_factory=SecurityContext)
    volume_mounts: tuple[VolumeMount, ...] = ()
    working_dir: str = ""
    pre_stop: Hook | None = None

    @property
    def runs_command(self) -> bool:
        """Does the container run a command of its own? ``command`` does; ``args`` alone do
        when they name a program (busybox: ``args: [sleep, "3600"]``), not when they are flags
        for the image's entrypoint (traefik: ``args: [--api]``), which netlab's stand-in app
        plays."""
        return bool(self.command) or bool(self.args and not self.args[0].startswith("-"))


@dataclass(frozen=True)
class PodSpec:
    containers: tuple[Container, ...]
    node_name: str = ""
    host_network: bool = False
    hostname: str = ""
    subdomain: str = ""
    dns_policy: str = "ClusterFirst"  # ClusterFirst | Default | ClusterFirstWithHostNet | None
    dns_nameservers: tuple[str, ...] = ()  # dnsConfig
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[tuple[str, str], ...] = ()  # (name, value or "")
    enable_service_links: bool = True
    init_containers: tuple[Container, ...] = ()
    security: SecurityContext = field(default_factory=SecurityContext)  # the pod's defaults
    supplemental_groups: tuple[int, ...] = ()
    share_process_namespace: bool = False
    volumes: tuple[str, ...] = ()  # emptyDir volumes, by name
    restart_policy: str = "Always"  # Always | OnFailure | Never
    termination_grace: int = 30  # terminationGracePeriodSeconds
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[str, str, str, str], ...] = ()  # (key, operator, value, effect)


@dataclass(frozen=True)
class PodManifest:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    spec: PodSpec


@dataclass(frozen=True)
class Deployment:
    """A Deployment (apps/v1), or on its own a ReplicaSet (kind "ReplicaSet"), a DaemonSet
    (one pod per eligible node) or a Job (pods that run to completion)."""

    name: str
    namespace: str
    replicas: int
    selector: tuple[tuple[str, str], ...]
    template_labels: tuple[tuple[str, str], ...]
    template: PodSpec
    labels: tuple[tuple[str, str], ...] = ()
    strategy: str = "RollingUpdate"  # RollingUpdate | Recreate (DaemonSet: | OnDelete)
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    min_ready: int = 0  # minReadySeconds
    history: int = 10  # revisionHistoryLimit
    raw_template: str = ""  # spec.template as written (JSON): what rollout undo puts back
    change_cause: str = ""  # the kubernetes.io/change-cause annotation
    kind: str = "Deployment"  # Deployment | ReplicaSet | DaemonSet | Job
    completions: int = 1  # Job
    parallelism: int = 1  # Job
    backoff_limit: int = 6  # Job
    template_annotations: tuple[tuple[str, str], ...] = ()  # (a restart's restartedAt)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ReplicaSet:
    """A ReplicaSet as the Deployment controller keeps it: a revision of the pod template and
    how many pods of it there should be, its pods by name (oldest first)."""

    name: str
    namespace: str
    owner: str  # the Deployment's name ("" for a ReplicaSet of its own)
    hash: str  # pod-template-hash
    revision: int
    replicas: int
    labels: tuple[tuple[str, str], ...]  # its pods' labels (pod-template-hash included)
    template: PodSpec
    pods: tuple[str, ...] = ()
    created: float = 0.0
    raw_template: str = ""
    change_cause: str = ""
    kind: str = "ReplicaSet"  # or "Job": a Job's pods, kept the same way
    done: str = ""  # a Job's end: Complete | Failed ("" while it runs)
    finished: float = 0.0  # wall clock of that end

    @property
    def key(self) -> str:
        return f"{self.kind.lower()}:{self.namespace}/{self.name}" if self.kind == "Job" \
            else f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class AddressPool:
    """A MetalLB address pool (IPAddressPool, or one of the legacy ConfigMap's
    address-pools)."""

    name: str
    ranges: tuple[tuple[str, str], ...]  # (first, last), inclusive
    auto_assign: bool = True
    avoid_buggy_ips: bool = False  # skip the .0 and .255 addresses
    priority: int = 0  # serviceAllocation.priority (lower first; 0: after those with one)
    namespaces: tuple[str, ...] = ()  # serviceAllocation.namespaces
    service_selector: tuple[tuple[str, str], ...] = ()  # serviceAllocation.serviceSelectors
    namespace: str = "metallb-system"


@dataclass(frozen=True)
class L2Advertisement:
    """Which pools are announced over ARP, and from which nodes (MetalLB's
    L2Advertisement; the legacy ConfigMap announces every layer2 pool from every node)."""

    name: str
    pools: tuple[str, ...] = ()  # () : every pool
    node_selector: tuple[tuple[str, str], ...] = ()  # () : every node
    interfaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngressBackend:
    """A backend of an Ingress path (or its default backend): a Service and its port, by
    number or by name (the v1 form; the legacy serviceName/servicePort converted)."""

    service: str
    port: int | str


@dataclass(frozen=True)
class IngressPath:
    path: str  # "" : every path (a legacy Ingress without one)
    path_type: str  # Exact | Prefix | ImplementationSpecific
    backend: IngressBackend


@dataclass(frozen=True)
class IngressRule:
    host: str  # "" : any host; "*.example.com" : one label under example.com
    paths: tuple[IngressPath, ...]


@dataclass(frozen=True)
class Ingress:
    name: str
    namespace: str
    class_name: str = ""  # spec.ingressClassName, or the kubernetes.io/ingress.class annotation
    annotations: tuple[tuple[str, str], ...] = ()
    rules: tuple[IngressRule, ...] = ()
    default_backend: IngressBackend | None = None
    tls: tuple[tuple[tuple[str, ...], str], ...] = ()  # (hosts, secretName)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def annotation(self, name: str, default: str = "") -> str:
        return dict(self.annotations).get(name, default)


@dataclass(frozen=True)
class TlsSecret:
    """A Secret of type kubernetes.io/tls: what an Ingress's spec.tls names."""

    name: str
    namespace: str
    cert: str  # PEM
    key: str  # PEM

    @property
    def key_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class IngressClass:
    name: str
    controller: str  # k8s.io/ingress-nginx, traefik.io/ingress-controller, ...
    default: bool = False  # ingressclass.kubernetes.io/is-default-class


@dataclass(frozen=True)
class GatewayClass:
    name: str
    controller: str  # spec.controllerName


@dataclass(frozen=True)
class Listener:
    name: str
    protocol: str  # HTTP | HTTPS
    port: int
    hostname: str = ""  # "" : any; "*.example.com" : one or more labels
    certs: tuple[str, ...] = ()  # HTTPS: the Secrets (namespace/name) of certificateRefs
    from_namespaces: str = "Same"  # allowedRoutes.namespaces.from: Same | All


@dataclass(frozen=True)
class Gateway:
    name: str
    namespace: str
    class_name: str
    listeners: tuple[Listener, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RouteMatch:
    """One HTTPRouteMatch: every part must hold."""

    path_type: str = "PathPrefix"  # Exact | PathPrefix | RegularExpression
    path: str = "/"
    headers: tuple[tuple[str, str, str], ...] = ()  # (type Exact|RegularExpression, name, value)
    queries: tuple[tuple[str, str, str], ...] = ()  # (type, name, value)
    method: str = ""


@dataclass(frozen=True)
class RouteFilter:
    kind: str  # RequestHeaderModifier | RequestRedirect | URLRewrite
    set_headers: tuple[tuple[str, str], ...] = ()
    add_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()
    scheme: str = ""  # RequestRedirect
    hostname: str = ""  # RequestRedirect, URLRewrite
    port: int = 0  # RequestRedirect
    status: int = 302  # RequestRedirect
    path_type: str = ""  # ReplaceFullPath | ReplacePrefixMatch (redirect or rewrite)
    path: str = ""


@dataclass(frozen=True)
class BackendRef:
    name: str
    namespace: str
    port: int
    weight: int = 1


@dataclass(frozen=True)
class RouteRule:
    matches: tuple[RouteMatch, ...]
    filters: tuple[RouteFilter, ...] = ()
    backends: tuple[BackendRef, ...] = ()


@dataclass(frozen=True)
class HTTPRoute:
    name: str
    namespace: str
    parents: tuple[tuple[str, str, str], ...]  # (namespace, gateway, sectionName or "")
    hostnames: tuple[str, ...] = ()
    rules: tuple[RouteRule, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ReferenceGrant:
    """Lets objects of FROM (kind, namespace) refer to TO (kind, name or "") in its own
    namespace."""

    name: str
    namespace: str
    sources: tuple[tuple[str, str], ...]  # (kind, namespace)
    targets: tuple[tuple[str, str], ...]  # (kind, name or "" for any)


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str = ""
    node_port: int = 0


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    ports: tuple[ServicePort, ...]
    selector: tuple[tuple[str, str], ...] | None = None
    type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer | ExternalName
    cluster_ip: str = ""  # "" = allocate; "None" = headless
    labels: tuple[tuple[str, str], ...] = ()
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress, spec.loadBalancerIP
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity: str = "None"  # None | ClientIP
    affinity_timeout: int = 10800
    external_traffic_policy: str = "Cluster"  # Cluster | Local
    internal_traffic_policy: str = "Cluster"
    health_check_node_port: int = 0
    external_name: str = ""
    publish_not_ready: bool = False
    allocate_lb_node_ports: bool = True  # spec.allocateLoadBalancerNodePorts
    annotations: tuple[tuple[str, str], ...] = ()
    lb_class: str = ""  # spec.loadBalancerClass
    lb_ip: str = ""  # spec.loadBalancerIP, the address asked for

    @property
    def externally_accessible(self) -> bool:
        return bool(self.external_ips or self.load_balancer_ips
                    or any(p.node_port for p in self.ports))


@dataclass(frozen=True)
class EndpointsManifest:
    """Hand-written Endpoints (or an EndpointSlice) for a Service without a selector."""

    name: str  # the service's name
    namespace: str
    # (port name, protocol, port) and the addresses that serve them, with their conditions:
    # (ip, ready, node, serving, terminating)
    ports: tuple[tuple[str, str, int], ...]
    addresses: tuple[tuple[str, bool, str, bool, bool], ...]


@dataclass(frozen=True)
class Expect:
    success: bool = True
    status: int | None = None
    body_contains: str | None = None
    distinct_backends: int | None = None
    source_ip: str | None = None  # literal IP or a reference such as pod/client, node/node1
    answers: tuple[str, ...] = ()
    answer_count: int | None = None
    max_outage: float | None = None  # during a node stop: seconds until answers come back
    backend_share: tuple[tuple[str, float, float], ...] = ()  # (pod name prefix, min %, max %)
    masqueraded: bool | None = None  # trace: every path that gets through is (not) masqueraded
    via: str | None = None  # trace: a chain (or its prefix) every path goes through
    endpoint_on_node: str | None = None  # trace: every path that gets through ends on it


@dataclass(frozen=True)
class CheckSpec:
    name: str
    source: str  # pod/NAME, deploy/NAME, node/NAME, client/NAME
    protocol: str  # http | ping | tcp | dns | trace
    target: str  # svc/NAME, pod/NAME, node/NAME, client/NAME, an IP, or a DNS name
    namespace: str = "default"
    port: int | None = None
    path: str = "/"
    attempts: int = 1
    timeout_s: float = 2.0
    record_type: str = "A"
    server: str = ""
    expect: Expect = field(default_factory=Expect)
    during: str = ""  # deploy/NAME: through a restarted rollout; node/NAME: a node stop
    headers: tuple[tuple[str, str], ...] = ()  # http: request headers (Host, a canary's)
    udp: bool = False  # trace: a UDP flow


@dataclass(frozen=True)
class Scenario:
    lab: LabSpec
    pods: tuple[PodManifest, ...] = ()
    deployments: tuple[Deployment, ...] = ()
    services: tuple[Service, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    sources: tuple[str, ...] = ()
    endpoints: tuple[EndpointsManifest, ...] = ()
    documents: tuple[dict, ...] = ()  # the raw documents, kept so a running lab can change
    passive: tuple[tuple[str, str, str], ...] = ()  # (kind, name, note): accepted, not acted on
    pools: tuple[AddressPool, ...] = ()  # MetalLB's
    advertisements: tuple[L2Advertisement, ...] = ()
    ingresses: tuple[Ingress, ...] = ()
    ingress_classes: tuple[IngressClass, ...] = ()
    tls_secrets: tuple[TlsSecret, ...] = ()
    gateway_classes: tuple[GatewayClass, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    http_routes: tuple[HTTPRoute, ...] = ()
    reference_grants: tuple[ReferenceGrant, ...] = ()


# -- runtime side: what the plan decided ---------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    name: str
    index: int
    netns: str
    lan_ip: str
    lan_veth: str  # the node's port on the lab network bridge (lives in the lan namespace)
    pod_cidr: str  # this node's /24
    gateway: str  # cni0 address
    vtep_mac: str


@dataclass(frozen=True)
class ClientInfo:
    name: str
    netns: str
    lan_ip: str
    lan_veth: str
    app: str = ""
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    node: str
    netns: str  # the pod's own namespace, or the node's for hostNetwork pods
    uts: str  # path of the pod's UTS namespace bind mount ("" for hostNetwork)
    ip: str
    host_veth: str  # "" for hostNetwork
    labels: tuple[tuple[str, str], ...]
    spec: PodSpec
    owner: str = ""  # "Deployment/NAME" or ""
    template_hash: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def uid(self) -> str:
        """The pod's UID: stable for its namespace, name and pod namespace file."""
        import uuid

        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"netlab:{self.netns}:{self.key}"))

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class ServiceInfo:
    """A Service with its ClusterIP, node ports and health check port decided."""

    service: Service  # node ports filled in
    cluster_ip: str  # "None" for headless, "" for ExternalName
    lb_pool: str = ""  # the MetalLB pool its load balancer addresses came from
    lb_pending: str = ""  # why it has none yet (MetalLB could not allocate)

    @property
    def key(self) -> str:
        return f"{self.service.namespace}/{self.service.name}"


@dataclass(frozen=True)
class EndpointAddress:
    """One address of a Service's endpoints, with its EndpointSlice conditions."""

    ip: str
    pod: str  # namespace/name of the target pod, "" when hand-written
    node: str
    ready: bool = True
    serving: bool | None = None  # None: as ready
    terminating: bool = False

    @property
    def is_serving(self) -> bool:
        return self.ready if self.serving is None else self.serving


@dataclass(frozen=True)
class EndpointPort:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True)
class ServiceEndpoints:
    """One Service's endpoints: addresses with the port each service port resolves to.

    ``ports`` maps a service port name to its resolved port per address, since a named
    targetPort can resolve to a different number in each pod.
    """

    namespace: str
    name: str
    # (service port name, protocol, address, port)
    entries: tuple[tuple[str, str, EndpointAddress, int], ...] = ()


@dataclass(frozen=True)
class LabPlan:
    spec: LabSpec
    lan_netns: str
    lan_bridge: str
    lan_gateway: str
    nodes: tuple[NodeInfo, ...]
    clients: tuple[ClientInfo, ...]
    pods: tuple[PodInfo, ...]
    services: tuple[ServiceInfo, ...]
    endpoints: tuple[ServiceEndpoints, ...]
    manifests: tuple[EndpointsManifest, ...] = ()  # hand-written Endpoints/EndpointSlices
    workloads: tuple[Deployment, ...] = ()  # Deployments, ReplicaSets, DaemonSets, Jobs
    pools: tuple[AddressPool, ...] = ()  # MetalLB's, when it is the lab's provider
    advertisements: tuple[L2Advertisement, ...] = ()
    replicasets: tuple[ReplicaSet, ...] = ()  # what the Deployment controller keeps
    ingresses: tuple[Ingress, ...] = ()
    ingress_classes: tuple[IngressClass, ...] = ()
    tls_secrets: tuple[TlsSecret, ...] = ()  # what the Ingresses' and Gateways' TLS name
    gateway_classes: tuple[GatewayClass, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    http_routes: tuple[HTTPRoute, ...] = ()
    reference_grants: tuple[ReferenceGrant, ...] = ()

    def node(self, name: str) -> NodeInfo:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

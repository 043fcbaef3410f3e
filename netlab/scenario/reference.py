"""Every field of netlab's own documents (Lab and Check), with its default and meaning.

The README's field reference is generated from these tables (``python -m
netlab.scenario.reference`` prints it), and a test holds them against the schema (every field
the loader accepts is here, nothing else) and against the loader (each default is what a
document without the field gets), so the reference cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    path: str
    default: str  # as YAML writes it; "" when the field is required or has no default
    means: str
    attr: str = ""  # where the loaded value lives (LabSpec / CheckSpec attribute path)


LAB_FIELDS = (
    Field("metadata.name", "", "the lab's name (required): a DNS label of at most 40 "
          "characters; kernel objects carry it"),
    Field("metadata.labels", "", "accepted, no effect"),
    Field("metadata.annotations", "", "accepted, no effect"),
    Field("spec.nodes", "[node1]", "the nodes (names are DNS labels)", "nodes"),
    Field("spec.clients", "[]", "hosts outside the cluster on the lab network: a name, or "
          "`{name, app: web, ports: [80]}` for a client that serves the web app", "clients"),
    Field("spec.proxyMode", "iptables", "`iptables`, `ipvs` or `nftables`, as kube-proxy's "
          "--proxy-mode",
          "proxy_mode"),
    Field("spec.routing", "host-gw", "pod traffic between nodes: `host-gw` (routes) or "
          "`vxlan` (flannel-style overlay)", "routing"),
    Field("spec.podCIDR", "10.244.0.0/16", "pod addresses; each node gets a slice",
          "pod_cidr"),
    Field("spec.nodeCIDRMaskSize", "24", "the size of each node's slice of podCIDR (16 to 28)",
          "node_mask"),
    Field("spec.serviceCIDR", "10.96.0.0/12", "ClusterIPs; cluster DNS takes the tenth address",
          "service_cidr"),
    Field("spec.nodeCIDR", "172.18.0.0/24", "the lab network that nodes and clients share",
          "node_cidr"),
    Field("spec.nodePortRange", "30000-32767", "node ports, as kube-apiserver's "
          "--service-node-port-range", "node_port_range"),
    Field("spec.clusterDomain", "cluster.local", "the cluster's DNS domain", "cluster_domain"),
    Field("spec.clusterDNS", "true", "run kube-dns (a CoreDNS-like pod and the kube-dns "
          "Service)", "cluster_dns"),
    Field("spec.maxPods", "2000", "refuse scenarios with more pods than this", "max_pods"),
    Field("spec.images", "{}", "image name to built-in app: `{app: web|idle|dns, ports: "
          "[..]}` (unlisted images run the web app)", "images"),
    Field("spec.outsideNames", "{}", "DNS name outside the cluster to the client host that "
          "serves it", "outside_names"),
    Field("spec.syncPeriod", "5s", "how often the lab's controller resyncs every node's rules "
          "in full and repairs what was changed by hand (kube-proxy resyncs at least "
          "hourly); 1s to 60m", "sync_period"),
    Field("spec.controlPlaneTaint", "false", "the first node (the control plane) carries "
          "kubeadm's taint node-role.kubernetes.io/control-plane:NoSchedule; pods and "
          "DaemonSets without a toleration stay off it (false: schedulable, as k3s' server)",
          "control_plane_taint"),
    Field("spec.loadBalancer.provider", "auto", "who gives LoadBalancer Services their "
          "addresses: metallb (pools from MetalLB's IPAddressPool/L2Advertisement or legacy "
          "ConfigMap, a speaker per node answering ARP), servicelb (k3s' svclb DaemonSets: "
          "the nodes' addresses), none (the addresses the manifests state), auto (metallb "
          "when the manifests configure it)", "lb_provider"),
    Field("spec.loadBalancer.clientRoutes", "[]", "pool CIDRs outside the lab network that "
          "the clients reach on-link (they ARP for the addresses, as the workshop's route "
          "makes them)", "lb_routes"),
    Field("spec.ingress.controller", "auto", "nginx: run ingress-nginx's controller "
          "(Deployment ingress-nginx-controller in namespace ingress-nginx, IngressClass nginx, "
          "real nginx inside); none: no controller; auto: nginx when an Ingress wants the "
          "nginx class (or no class) and the manifests do not deploy a controller of their "
          "own", "ingress_controller"),
    Field("spec.ingress.service", "LoadBalancer", "how the controller is exposed: "
          "LoadBalancer (externalTrafficPolicy Local, as ingress-nginx's cloud manifest), "
          "NodePort (its bare-metal manifest) or hostNetwork (a DaemonSet on every node's "
          "ports 80 and 443)", "ingress_service"),
    Field("spec.ipvs.scheduler", "rr", "IPVS scheduler (kube-proxy's list: rr, wrr, lc, wlc, "
          "lblc, lblcr, sh, dh, sed, nq, mh)", "ipvs_scheduler"),
    Field("spec.ipvs.strictARP", "false", "kube-proxy's strictARP: arp_ignore=1, "
          "arp_announce=2 in the nodes", "strict_arp"),
    Field("spec.ipvs.vipFilter", "false", "kube-proxy 1.27+'s KUBE-IPVS-FILTER: ClusterIPs "
          "stop answering ping and unclaimed ports", "ipvs_vip_filter"),
)

CHECK_FIELDS = (
    Field("metadata.name", "", "the check's name (required)"),
    Field("metadata.labels", "", "accepted, no effect"),
    Field("metadata.annotations", "", "accepted, no effect"),
    Field("spec.from", "", "where the probe runs (required): pod/, deploy/, node/ or "
          "client/NAME"),
    Field("spec.namespace", "default", "the namespace of pod/, deploy/ and svc/ names",
          "namespace"),
    Field("spec.http", "", "target of an HTTP check (curl): svc/, pod/, deploy/, node/, "
          "client/NAME, an address, a DNS name or a URL; exactly one of http, ping, tcp, dns, "
          "trace"),
    Field("spec.ping", "", "target of a ping check"),
    Field("spec.tcp", "", "target of a TCP connect check (needs port)"),
    Field("spec.trace", "", "destination of a trace check, as `netlab trace` takes it "
          "(svc/NAME[:port], node/NAME:port, ADDRESS:port): the path of a new connection "
          "through the rules loaded in the node it enters, judged by expect.success, "
          "masqueraded, via and endpointOnNode; no connection is made (to a LoadBalancer "
          "address from a client, one ARP request asks which node answers)"),
    Field("spec.udp", "false", "trace: a UDP flow", "udp"),
    Field("spec.dns", "", "the name a DNS check asks for (dig, through the source's "
          "resolv.conf search list)"),
    Field("spec.port", "", "port (default: the Service's first port, a pod's first container "
          "port, else 80)", "port"),
    Field("spec.path", "/", "HTTP path", "path"),
    Field("spec.headers", "{}", "HTTP request headers, {Name: value}: a Host for an Ingress "
          "rule, a canary's header, a Cookie", "headers"),
    Field("spec.attempts", "1", "how many probes (HTTP requests, pings, connects); all must "
          "succeed, or all fail when success is false", "attempts"),
    Field("spec.timeoutSeconds", "2", "each probe's own timeout", "timeout_s"),
    Field("spec.type", "A", "DNS record type", "record_type"),
    Field("spec.server", "", "DNS server to ask (an address or a svc/, client/ reference); "
          "default: the source's resolv.conf", "server"),
    Field("spec.during.rolloutRestart", "", "deploy/NAME: restart that Deployment's rollout "
          "(as kubectl rollout restart) and send the http or tcp probes one after the other "
          "until it has finished; expect.success true passes when none failed, false when "
          "some did (the downtime of a Recreate)", "during"),
    Field("spec.during.nodeStop", "", "NODE or announcer (the node announcing the target "
          "address): take it off the lab network, probe until the target answers again, put it "
          "back; the outage is reported", "during"),
    Field("spec.expect.maxOutageSeconds", "", "during a node stop: the longest outage that "
          "passes", "expect.max_outage"),
    Field("spec.expect.success", "true", "false: pass only when every probe ran and the "
          "traffic failed", "expect.success"),
    Field("spec.expect.status", "", "HTTP status every answer must have", "expect.status"),
    Field("spec.expect.bodyContains", "", "text every HTTP answer must contain",
          "expect.body_contains"),
    Field("spec.expect.distinctBackends", "", "at least this many different pods answer",
          "expect.distinct_backends"),
    Field("spec.expect.sourceIP", "", "the client address the backend must see (an address or "
          "pod/, node/, client/NAME)", "expect.source_ip"),
    Field("spec.expect.backendShare", "{}", "{POD-NAME-PREFIX: [MIN, MAX]}: the percentage of "
          "the HTTP answers that pods whose name starts so must give (a canary's weight)",
          "expect.backend_share"),
    Field("spec.expect.masqueraded", "", "trace: every path that gets through is (true) or "
          "is not (false) masqueraded", "expect.masqueraded"),
    Field("spec.expect.via", "", "trace: a chain every path goes through (a name, or a "
          "prefix such as KUBE-SVL-)", "expect.via"),
    Field("spec.expect.endpointOnNode", "", "trace: every path that gets through ends at an "
          "endpoint on this node", "expect.endpoint_on_node"),
    Field("spec.expect.answers", "[]", "DNS answers that must be among the answers",
          "expect.answers"),
    Field("spec.expect.answerCount", "", "exactly this many DNS answers",
          "expect.answer_count"),
)


def _table(fields: tuple[Field, ...]) -> list[str]:
    lines = ["| field | default | meaning |", "| --- | --- | --- |"]
    for f in fields:
        default = f"`{f.default}`" if f.default else ""
        lines.append(f"| `{f.path}` | {default} | {f.means} |")
    return lines


def markdown() -> str:
    """The README's field reference."""
    return "\n".join(["**Lab** (`apiVersion: netlab/v1`, `kind: Lab`; one per scenario, "
                      "optional with `--name`)", "", *_table(LAB_FIELDS), "",
                      "**Check** (`apiVersion: netlab/v1`, `kind: Check`)", "",
                      *_table(CHECK_FIELDS)])


if __name__ == "__main__":
    print(markdown())

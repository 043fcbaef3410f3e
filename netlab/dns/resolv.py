"""What a pod's resolver sees: /etc/resolv.conf by dnsPolicy, and the kubelet's /etc/hosts.
Pure (the host's resolv.conf is passed in)."""

from __future__ import annotations

import ipaddress

from netlab.model import PodInfo, ServiceInfo
from netlab.plan.naming import pod_hostname

MAX_NAMESERVERS = 3  # glibc reads at most three; the kubelet keeps the first three


def parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    servers, searches, options = [], [], []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            searches = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    return servers, searches, options


def resolv_conf(pod: PodInfo, domain: str, dns_ip: str, host_resolv: str) -> str:
    """The pod's resolv.conf: ClusterFirst (cluster DNS, search paths, ndots:5), Default (the
    node's resolver; also what ClusterFirst means for hostNetwork pods),
    ClusterFirstWithHostNet, None (dnsConfig only); dnsConfig is merged as the kubelet does."""
    spec = pod.spec
    policy = spec.dns_policy
    cluster = (policy == "ClusterFirst" and not spec.host_network) or \
        policy == "ClusterFirstWithHostNet"
    if policy == "None":
        servers, searches, options = [], [], []
    elif cluster and dns_ip:
        servers = [dns_ip]
        searches = [f"{pod.namespace}.svc.{domain}", f"svc.{domain}", domain]
        options = ["ndots:5"]
    else:
        servers, searches, options = parse_resolv(host_resolv)
    servers = list(dict.fromkeys([*servers, *spec.dns_nameservers]))[:MAX_NAMESERVERS]
    searches = list(dict.fromkeys([*searches, *spec.dns_searches]))
    merged: dict[str, str] = {}
    for opt in options:
        name, _, value = opt.partition(":")
        merged[name] = value
    for name, value in spec.dns_options:
        merged[name] = value
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines += [f"nameserver {s}" for s in servers]
    if merged:
        lines.append("options " + " ".join(f"{k}:{v}" if v else k for k, v in merged.items()))
    return "\n".join(lines) + "\n"


def hosts_file(pod: PodInfo, domain: str) -> str:
    """The kubelet-managed /etc/hosts of a pod."""
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    name = pod_hostname(pod.spec.hostname or pod.name)
    if pod.spec.subdomain:
        fqdn = f"{name}.{pod.spec.subdomain}.{pod.namespace}.svc.{domain}"
        lines.append(f"{pod.ip}\t{fqdn}\t{name}")
    else:
        lines.append(f"{pod.ip}\t{name}")
    return "\n".join(lines) + "\n"


def service_env(services: tuple[ServiceInfo, ...], namespace: str) -> dict[str, str]:
    """Docker-links style variables for the services of NAMESPACE that exist when a container
    starts (kubelet's getServiceEnvVarMap)."""
    env: dict[str, str] = {}
    for info in services:
        svc = info.service
        if svc.namespace != namespace or info.cluster_ip in ("", "None") or not svc.ports:
            continue
        prefix = svc.name.upper().replace("-", "_")
        first = svc.ports[0]
        env[f"{prefix}_SERVICE_HOST"] = info.cluster_ip
        env[f"{prefix}_SERVICE_PORT"] = str(first.port)
        for p in svc.ports:
            if p.name:
                env[f"{prefix}_SERVICE_PORT_{p.name.upper().replace('-', '_')}"] = str(p.port)
        env[f"{prefix}_PORT"] = f"{first.protocol.lower()}://{info.cluster_ip}:{first.port}"
        for p in svc.ports:
            base = f"{prefix}_PORT_{p.port}_{p.protocol}"
            env[base] = f"{p.protocol.lower()}://{info.cluster_ip}:{p.port}"
            env[f"{base}_PROTO"] = p.protocol.lower()
            env[f"{base}_PORT"] = str(p.port)
            env[f"{base}_ADDR"] = info.cluster_ip
    return env


def kube_dns_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr).network_address + 10)

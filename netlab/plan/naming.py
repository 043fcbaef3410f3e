"""Names of kernel objects and generated Kubernetes objects. Pure functions.

Interface names are hashed so that any object name fits the kernel's 15-byte limit; namespace
names carry the lab name so that two labs never share an object.
"""

from __future__ import annotations

import hashlib
import json

IFNAMSIZ = 15
NAME_MAX = 255  # bytes of one path component (a namespace file, a log file)
HOST_NAME_MAX = 63  # the kubelet truncates a pod's hostname to 63 characters
# Kubernetes' rand.SafeEncodeString alphabet: no vowels, no 0/1/3, so no words are spelled.
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
RUN_DIR = "/run/netlab"
NS_PREFIX = "netlab"


def check_ifname(name: str) -> str:
    size = len(name.encode())
    if size > IFNAMSIZ or size == 0:
        raise ValueError(f"interface name '{name}' is {size} bytes, the limit is {IFNAMSIZ}")
    return name


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def fit(name: str, limit: int = NAME_MAX, keep: str = "") -> str:
    """NAME if it fits LIMIT bytes, else cut and made unique again with a hash of the whole;
    KEEP is a suffix that always stays (".log"). Kubernetes allows names longer than the
    kernel's path components (a pod name of 253 characters)."""
    if len((name + keep).encode()) <= limit:
        return name + keep
    tag = "-" + _digest("fit", name)[:12]
    room = limit - len(tag.encode()) - len(keep.encode())
    return name.encode()[:room].decode(errors="ignore") + tag + keep


def pod_hostname(name: str) -> str:
    """The pod's hostname: its name, truncated to 63 characters without a trailing '-' or
    '.' (the kubelet's truncateHostname)."""
    return name[:HOST_NAME_MAX].rstrip("-.") if len(name) > HOST_NAME_MAX else name


def pod_file(namespace: str, pod: str, *more: str, keep: str = "") -> str:
    """A file or folder name for a pod (its UTS namespace, its /etc files, its logs)."""
    return fit(".".join([namespace, pod, *more]), keep=keep)


def lab_dir(lab: str) -> str:
    return f"{RUN_DIR}/{lab}"


def node_netns(lab: str, node: str) -> str:
    return f"{NS_PREFIX}.{lab}.node.{node}"


def client_netns(lab: str, client: str) -> str:
    return f"{NS_PREFIX}.{lab}.client.{client}"


def lan_netns(lab: str) -> str:
    return f"{NS_PREFIX}.{lab}.lan"


def pod_netns(lab: str, namespace: str, pod: str) -> str:
    return fit(f"{NS_PREFIX}.{lab}.pod.{namespace}.{pod}")


def lab_netns_prefix(lab: str) -> str:
    return f"{NS_PREFIX}.{lab}."


def pod_uts_path(lab: str, namespace: str, pod: str) -> str:
    return f"{lab_dir(lab)}/uts/{pod_file(namespace, pod)}"


def pod_host_veth(namespace: str, pod: str) -> str:
    """Host side of a pod's veth (in the node namespace), like the CNI bridge plugin's vethXXXX."""
    return check_ifname("veth" + _digest("pod", namespace, pod)[:8])


def host_veth_index(pod_ip: str, node_cidr: str) -> int:
    """A pod's veth index in its node (known up front, it saves a lookup): unique because the
    pod's address is unique there."""
    import ipaddress

    net = ipaddress.ip_network(node_cidr)
    return 1000 + int(ipaddress.ip_address(pod_ip)) - int(net.network_address)


def lan_port(kind: str, name: str) -> str:
    """A node's or client's port on the lab network bridge (in the lan namespace)."""
    return check_ifname("lan" + _digest(kind, name)[:8])


def vtep_mac(lab: str, node: str) -> str:
    """A stable, locally administered unicast MAC for a node's VXLAN device."""
    d = _digest("vtep", lab, node)
    octets = [0x0E] + [int(d[i:i + 2], 16) for i in range(0, 10, 2)]
    return ":".join(f"{o:02x}" for o in octets)


def safe_encode(text: str) -> str:
    return "".join(SAFE_ALPHANUMS[ord(c) % len(SAFE_ALPHANUMS)] for c in text)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def pod_template_hash(template: object) -> str:
    """Like Kubernetes' ComputeHash: fnv32a of the template, digits mapped to safe letters."""
    blob = json.dumps(template, sort_keys=True, default=repr).encode()
    return safe_encode(str(fnv32a(blob)))


def generated_suffix(*seed: str) -> str:
    """Five characters from the safe alphabet, stable for the same seed (Kubernetes: random)."""
    d = hashlib.sha256("/".join(seed).encode()).digest()
    return "".join(SAFE_ALPHANUMS[b % len(SAFE_ALPHANUMS)] for b in d[:5])


def deployment_pod_name(deploy: str, template_hash: str, suffix: str) -> str:
    """<deployment>-<pod-template-hash>-<5 chars>, base truncated as generateName does."""
    base = f"{deploy}-{template_hash}-"
    return base[: 63 - 5] + suffix

"""Everything checked before a lab is built or changed: root, tools, and a kernel that has
every module the lab needs loaded and every sysctl it will write."""

from __future__ import annotations

import os
import platform

from netlab.errors import KernelFeatureError, NotRootError, UsageError, setup_command
from netlab.kernel import features
from netlab.kernel.run import require_tool
from netlab.model import LabSpec, Scenario
from netlab.plan import kernel as kernel_needs


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError()


def preflight() -> None:
    require_root()
    for tool in ("nsenter", "iptables", "iptables-restore", "iptables-save"):
        require_tool(tool)
    if not os.path.exists("/proc/self/ns/net"):
        raise UsageError("this kernel has no network namespaces (CONFIG_NET_NS)")


def protocols(sc: Scenario) -> frozenset[str]:
    """Every protocol the scenario's Services and containers use."""
    return frozenset({p.protocol for s in sc.services for p in s.ports} |
                     {p.protocol for pod in sc.pods for c in pod.spec.containers
                      for p in c.ports} |
                     {p.protocol for d in sc.deployments for c in d.template.containers
                      for p in c.ports})


def check_kernel(spec: LabSpec, used: frozenset[str] = frozenset()) -> None:
    """Refuse, before any change, a lab this kernel cannot run: every module it needs must be
    in the kernel now (not merely on disk) and every sysctl netlab will write must exist;
    SCTP (in USED protocols) needs SCTP connection tracking."""
    if "SCTP" in used and not features.sysctl_exists(
            "net.netfilter.nf_conntrack_sctp_timeout_established"):
        raise KernelFeatureError(
            "this kernel has no SCTP connection tracking (nf_conntrack with "
            "CONFIG_NF_CT_PROTO_SCTP, or nf_conntrack not loaded), so kube-proxy's rules "
            "cannot balance SCTP Services: use TCP or UDP, or a kernel with it")
    if spec.proxy_mode == "nftables":
        require_tool("nft")
    release = platform.release()
    states = {m: features.module_state(m, release)
              for m in kernel_needs.required_modules(spec)}
    unexplained = []
    for key in kernel_needs.node_sysctls(spec):
        module = kernel_needs.module_of_sysctl(key)
        if not features.sysctl_exists(key) and states.get(module, features.PRESENT) == \
                features.PRESENT:
            unexplained.append((key, module))
    text = features.problem(states, unexplained, release, setup_command())
    if text:
        raise KernelFeatureError(text)

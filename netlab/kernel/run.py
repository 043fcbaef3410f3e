"""Running programs inside lab namespaces, always as argv lists (never a shell)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from netlab.errors import MissingToolError, NetlabError
from netlab.kernel.ns import netns_path

TOOL_PACKAGES = {
    "nsenter": "util-linux", "iptables": "iptables", "iptables-restore": "iptables",
    "iptables-nft-restore": "iptables", "iptables-legacy-restore": "iptables",
    "iptables-save": "iptables", "curl": "curl", "ping": "iputils-ping", "dig": "dnsutils",
    "conntrack": "conntrack", "ipset": "ipset", "ip": "iproute2", "openssl": "openssl",
}


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise MissingToolError(tool, TOOL_PACKAGES.get(tool, tool))
    return path


def ns_argv(netns: str, argv: Sequence[str], uts: str = "") -> list[str]:
    """ARGV prefixed to run inside network namespace NETNS (and UTS namespace UTS)."""
    out = [require_tool("nsenter"), f"--net={netns_path(netns)}"]
    if uts:
        out.append(f"--uts={uts}")
    return [*out, "--", *argv]


def container_argv(pid: int, security: dict, argv: Sequence[str]) -> list[str]:
    """ARGV run as ``kubectl exec`` runs it: in the view of running container process PID (its
    namespaces, root and cgroup), as its user, with its capabilities (SECURITY)."""
    import json
    import sys

    return [sys.executable, "-m", "netlab.kernel.enter", str(pid),
            json.dumps(security, separators=(",", ":")), "--", *argv]


def run_in(netns: str, argv: Sequence[str], *, input: str | None = None,
           timeout: float = 30, uts: str = "") -> subprocess.CompletedProcess:
    """Run ARGV in NETNS; a run past TIMEOUT is an error that says so (never a traceback)."""
    try:
        return subprocess.run(ns_argv(netns, argv, uts), input=input, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NetlabError(f"{argv[0]} did not finish within {timeout:g}s in {netns}") from None

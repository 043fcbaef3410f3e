"""ipsets in a node's namespace: one `ipset restore` per sync."""

from __future__ import annotations

from netlab.errors import NetlabError
from netlab.kernel.run import require_tool, run_in


def destroy_all(netns: str) -> None:
    """Destroy every set in NETNS (a node's sets are all kube-proxy's; no rule may still
    reference them)."""
    result = run_in(netns, [require_tool("ipset"), "destroy"], timeout=60)
    if result.returncode != 0 and "does not exist" not in result.stderr:
        raise NetlabError(f"ipset destroy failed in {netns}: {result.stderr.strip()}")


def restore(netns: str, text: str) -> None:
    # generous: a first restore of tens of thousands of entries is slow under emulation
    result = run_in(netns, [require_tool("ipset"), "restore"], input=text, timeout=600)
    if result.returncode != 0:
        raise NetlabError(f"ipset restore failed in {netns}: {result.stderr.strip()}")


def save(netns: str) -> str:
    """``ipset save``: every set of NETNS with its members."""
    result = run_in(netns, [require_tool("ipset"), "save"], timeout=60)
    if result.returncode != 0:
        raise NetlabError(f"ipset save failed in {netns}: {result.stderr.strip()}")
    return result.stdout

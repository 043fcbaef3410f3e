"""ipsets in a node's namespace: one `ipset restore` per sync."""

from __future__ import annotations

from netlab.errors import NetlabError
from netlab.kernel.run import require_tool, run_in


def restore(netns: str, text: str) -> None:
    result = run_in(netns, [require_tool("ipset"), "restore"], input=text, timeout=60)
    if result.returncode != 0:
        raise NetlabError(f"ipset restore failed in {netns}: {result.stderr.strip()}")

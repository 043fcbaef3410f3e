"""iptables in lab namespaces: flavour detection, one restore per sync, save for inspection."""

from __future__ import annotations

import re
import subprocess

from netlab.errors import NetlabError
from netlab.kernel.run import require_tool, run_in

HINT_CHAINS = re.compile(r"^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) ", re.M)


class RestoreError(NetlabError):
    pass


def choose_flavour(nft_mangle: str, legacy_mangle: str, nft_lines: int, legacy_lines: int,
                   version_output: str) -> str:
    """Pick nft or legacy like kube-proxy's iptables-wrapper.

    1. The hint chain kubelet creates (KUBE-IPTABLES-HINT, or KUBE-KUBELET-CANARY) in the mangle
       table of one flavour decides.
    2. Otherwise the flavour holding more rules wins (legacy only when strictly more).
    3. With no rules anywhere (a fresh node), the system ``iptables`` command's own flavour,
       as ``iptables --version`` reports it: "(nf_tables)" or "(legacy)".
    """
    if HINT_CHAINS.search(nft_mangle):
        return "nft"
    if HINT_CHAINS.search(legacy_mangle):
        return "legacy"
    if legacy_lines > nft_lines:
        return "legacy"
    if nft_lines > legacy_lines:
        return "nft"
    return "legacy" if "(legacy)" in version_output else "nft"


def system_flavour_version() -> str:
    iptables = require_tool("iptables")
    return subprocess.run([iptables, "--version"], capture_output=True, text=True,
                          check=False).stdout


def detect_flavour(netns: str) -> str:
    """Detect the flavour inside NETNS (a node), as kube-proxy's wrapper would on that node.

    Legacy tables are only read when the namespace already has some: merely running
    iptables-legacy-save creates them (and then every iptables-nft-save warns about them)."""
    version = system_flavour_version()
    saved = {"nft": ("", ""), "legacy": ("", "")}
    legacy_tables = run_in(netns, ["cat", "/proc/net/ip_tables_names"], timeout=10).stdout
    for flavour in ("nft", "legacy"):
        tool = f"iptables-{flavour}-save"
        if flavour == "legacy" and not legacy_tables.strip():
            continue
        try:
            require_tool(tool)
        except NetlabError:
            continue
        mangle = run_in(netns, [tool, "-t", "mangle"], timeout=10).stdout
        saved[flavour] = (mangle, run_in(netns, [tool], timeout=10).stdout)
    count = {f: sum(1 for line in s[1].splitlines() if line.startswith("-"))
             for f, s in saved.items()}
    return choose_flavour(saved["nft"][0], saved["legacy"][0], count["nft"], count["legacy"],
                          version)


def restore(netns: str, flavour: str, text: str, *, noflush: bool = True) -> None:
    """Apply TEXT atomically with one iptables-restore call inside NETNS."""
    tool = require_tool(f"iptables-{flavour}-restore")
    argv = [tool, "-w", "5"]
    if noflush:
        argv += ["--noflush", "--counters"]
    result = run_in(netns, argv, input=text, timeout=120)
    if result.returncode != 0:
        detail = result.stderr.strip()
        line = re.search(r"line:? (\d+)", detail)
        if line:
            n = int(line.group(1))
            lines = text.splitlines()
            if 0 < n <= len(lines):
                detail += f"\n  offending line {n}: {lines[n - 1]}"
        raise RestoreError(f"iptables-restore failed in {netns}: {detail}")


def canary_present(netns: str, flavour: str) -> bool:
    """kube-proxy's canary: KUBE-PROXY-CANARY in mangle, nat and filter. If any table lost it,
    someone flushed the tables and the rules must be restored."""
    tool = require_tool(f"iptables-{flavour}")
    for table in ("mangle", "nat", "filter"):
        r = run_in(netns, [tool, "-w", "5", "-t", table, "-S", "KUBE-PROXY-CANARY"], timeout=10)
        if r.returncode != 0:
            return False
    return True


def save(netns: str, flavour: str, table: str = "") -> str:
    tool = require_tool(f"iptables-{flavour}-save")
    argv = [tool] + (["-t", table] if table else [])
    result = run_in(netns, argv, timeout=30)
    if result.returncode != 0:
        raise NetlabError(f"iptables-save failed in {netns}: {result.stderr.strip()}")
    return result.stdout


class NftError(NetlabError):
    pass


def nft(netns: str, text: str) -> None:
    """Apply TEXT as one nft transaction (nft -f -) inside NETNS: all of it or nothing."""
    tool = require_tool("nft")
    result = run_in(netns, [tool, "-f", "-"], input=text, timeout=120)
    if result.returncode != 0:
        raise NftError(f"nft -f failed in {netns}: {result.stderr.strip()[:2000]}")


def nft_list_chain(netns: str, family: str, table: str, chain: str) -> str | None:
    """What ``nft list chain`` prints, None when the table or chain is gone."""
    r = run_in(netns, [require_tool("nft"), "list", "chain", family, table, chain], timeout=10)
    return r.stdout if r.returncode == 0 else None


def nft_list_table(netns: str, family: str, table: str) -> str | None:
    """What ``nft list table`` prints, None when the table is gone."""
    r = run_in(netns, [require_tool("nft"), "list", "table", family, table], timeout=60)
    return r.stdout if r.returncode == 0 else None

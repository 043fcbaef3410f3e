"""The kernel's own trace of one connection, read and set beside the walker's prediction.

Pure: the script of netlab's trace table, parsers of what ``xtables-monitor --trace`` and
``nft monitor trace`` print for the connection's first packet, the rules whose counters
moved (legacy iptables, which cannot trace without a log backend), and the comparison.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from netlab.model.trace import TraceMatch
from netlab.proxy.nftables import TABLE
from netlab.trace.path import Path

TRACE_TABLE = "netlab-trace"
KUBE_PROXY = TABLE.split()[1]  # the table a walker's hop without one is in
# before conntrack (-200) and every other table: the flag is set before any rule looks
TRACE_PRIORITY = -350


def trace_table_script(match: TraceMatch, local: bool) -> str:
    """An nft transaction adding netlab's own table, whose one rule sets ``meta nftrace`` on
    the packets of MATCH (arriving at the node, or sent by it when LOCAL)."""
    hook = "output" if local else "prerouting"
    return "\n".join([
        f"add table ip {TRACE_TABLE}",
        f"add chain ip {TRACE_TABLE} trace {{ type filter hook {hook} priority "
        f"{TRACE_PRIORITY}; }}",
        f"add rule ip {TRACE_TABLE} trace ip saddr {match.src} ip daddr {match.dst} "
        f"{match.proto} dport {match.dport} meta nftrace set 1", ""])


@dataclass(frozen=True)
class KernelHop:
    table: str
    chain: str
    rule: str
    verdict: str


DNAT = re.compile(r"(?:dnat (?:ip )?to|--to-destination) (\d+\.\d+\.\d+\.\d+(?::\d+)?)")
XT_TRACE = re.compile(r"^\s*TRACE: \d+ \S+ ([^:\s]+):([^:\s]+):(rule|policy|return):?(\S*)\s*(.*)$")
NFT_TRACE = re.compile(r"^trace id \S+ ip (\S+) (\S+) (rule|policy|packet:) ?(.*)$")


def packet_ids(lines: list[str]) -> list[str]:
    """The IP ids of the packets a monitor has shown so far, in order (the first one's trace
    is complete once a second one shows)."""
    out: list[str] = []
    for line in list(lines):
        m = re.search(r"(?:^PACKET:.* ID=|packet: .*ip id )(\d+)", line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def parse_xtables(text: str) -> list[KernelHop]:
    """The rules ``xtables-monitor --trace`` shows for the first packet of the connection."""
    hops, first_id = [], None
    for line in text.splitlines():
        if line.startswith("PACKET:"):
            ip_id = re.search(r" ID=(\d+)", line)
            ip_id = ip_id.group(1) if ip_id else ""
            first_id = ip_id if first_id is None else first_id
            current = ip_id == first_id
            continue
        m = XT_TRACE.match(line)
        if not m or first_id is None or not current:
            continue
        table, chain, kind, rest, rule = m.groups()
        if table == TRACE_TABLE or kind != "rule":
            continue
        verdict = rest.split(":", 1)[1] if ":" in rest else rest
        text_ = rule.strip()
        words = shlex.split(text_) if text_ else []
        if "-A" in words:  # -4 -t nat -A CHAIN ...: the rule as iptables-save prints it
            at = text_.index(f"-A {chain} ")
            text_ = text_[at + len(f"-A {chain} "):]
        hops.append(KernelHop(table, chain, text_, _verdict(verdict, text_)))
    return hops


def _verdict(kernel: str, rule: str) -> str:
    """xtables' JUMP:CHAIN, ACCEPT, 0xfffffffb (RETURN) as nft says them."""
    kind, _, target = kernel.partition(":")
    if kind.startswith("0x"):
        return "return"
    return f"{kind.lower()} {target}".strip()


def parse_nft(text: str) -> list[KernelHop]:
    """The rules ``nft monitor trace`` shows for the first packet of the connection."""
    hops, first_id, current = [], None, False
    for line in text.splitlines():
        m = NFT_TRACE.match(line.strip())
        if not m:
            continue
        table, chain, kind, rest = m.groups()
        if kind == "packet:":
            ip_id = re.search(r"ip id (\d+)", rest)
            ip_id = ip_id.group(1) if ip_id else ""
            first_id = ip_id if first_id is None else first_id
            current = ip_id == first_id
            continue
        if table == TRACE_TABLE or kind != "rule" or not current:
            continue
        verdict = re.search(r"\(verdict ([^)]*)\)\s*$", rest)
        rule = re.sub(r"\s*\(verdict [^)]*\)\s*$", "", rest).strip()
        hops.append(KernelHop(table, chain, " ".join(rule.split()),
                              verdict.group(1) if verdict else ""))
    return hops


def counter_hits(before: str, after: str) -> list[KernelHop]:
    """Rules whose packet counter moved between two ``iptables-save -c``."""
    def counts(text: str) -> dict[tuple[str, str, int], tuple[int, str]]:
        out, table, index = {}, "", {}
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            m = re.match(r"^\[(\d+):\d+\] -A (\S+) (.*)$", line)
            if m:
                chain = m.group(2)
                index[(table, chain)] = index.get((table, chain), 0) + 1
                out[(table, chain, index[(table, chain)])] = (int(m.group(1)), m.group(3))
        return out

    old, new = counts(before), counts(after)
    return [KernelHop(key[0], key[1], rule, "counted")
            for key, (n, rule) in new.items() if n > old.get(key, (0, ""))[0]]


def kernel_dnat(hops: list[KernelHop]) -> str:
    for h in hops:
        m = DNAT.search(h.rule)
        if m:
            return m.group(1)
    return ""


def matching_path(paths: list[Path], hops: list[KernelHop]) -> tuple[Path | None, bool]:
    """The predicted path the kernel took (same destination), and whether every chain the
    walker predicts for it appears, in order, among the chains the kernel shows of the same
    table (tables hooked in at one priority run in the order they were registered)."""
    dnat = kernel_dnat(hops)
    candidates = [p for p in paths if p.dnat.split(":")[0] == dnat.split(":")[0]] if dnat \
        else [p for p in paths if not p.dnat]
    if not candidates:
        return None, False
    best = candidates[0]
    predicted: dict[str, list[str]] = {}
    for h in best.hops:
        if h.chain != "IPVS":
            predicted.setdefault(h.table or KUBE_PROXY, []).append(h.chain)
    for table, chains in predicted.items():
        seen = iter([h.chain for h in hops if h.table == table])
        if not all(any(c == k for k in seen) for c in chains):
            return best, False
    return best, True

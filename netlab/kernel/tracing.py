"""What ``netlab trace`` reads from a node, and the kernel's own trace of one connection.

Reads only, except the trace itself: a table of netlab's own (``ip netlab-trace``) whose one
rule sets ``meta nftrace`` on the connection's packets, added for the length of one
connection and deleted after it; kube-proxy's tables are never touched. The monitor is
``nft monitor trace`` (nftables mode) or ``xtables-monitor --trace`` (iptables-nft), run in
the node's network namespace.
"""

from __future__ import annotations

import ipaddress
import subprocess
import threading
import time
from collections.abc import Callable

from netlab.errors import NetlabError
from netlab.kernel.links import Netns
from netlab.kernel.run import ns_argv, require_tool, run_in
from netlab.model.trace import Route, TraceMatch
from netlab.trace.prove import TRACE_TABLE, packet_ids, trace_table_script


def addresses(netns: str) -> set[str]:
    """Every IPv4 address of NETNS (kube-ipvs0's virtual addresses too)."""
    with Netns(netns) as n:
        return {a.get_attr("IFA_ADDRESS") for a in n.ipr.get_addr(family=2)}


def route(netns: str, dst: str) -> Route:
    """The route NETNS's kernel takes to DST (``ip route get``)."""
    with Netns(netns) as n:
        try:
            (r,) = n.ipr.route("get", dst=dst)[:1]
        except Exception as exc:  # unreachable: pyroute2's NetlinkError
            raise NetlabError(f"no route to {dst} in {netns}: {exc}") from None
        oif = r.get_attr("RTA_OIF")
        dev = n.ipr.get_links(oif)[0].get_attr("IFLA_IFNAME") if oif else ""
        return Route(dev, r.get_attr("RTA_GATEWAY") or "", r.get_attr("RTA_PREFSRC") or "")


def kernel_trace(netns: str, monitor: str, match: TraceMatch, local: bool,
                 send: Callable[[], None], settle_s: float = 2.0) -> str:
    """What MONITOR (nft or xtables) prints while SEND makes the connection MATCH: read until
    a second packet of the connection shows (the first one's trace is complete) or SETTLE_S
    after SEND (a dropped or rejected packet has no second one)."""
    ipaddress.ip_address(match.src), ipaddress.ip_address(match.dst)  # validated: no text
    argv = [require_tool("nft"), "monitor", "trace"] if monitor == "nft" else \
        [require_tool("xtables-monitor"), "--trace"]
    nft = require_tool("nft")
    r = run_in(netns, [nft, "-f", "-"], input=trace_table_script(match, local))
    if r.returncode != 0:
        raise NetlabError(f"cannot add netlab's trace table in {netns}: {r.stderr.strip()}")
    proc = subprocess.Popen(ns_argv(netns, argv), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # the monitor subscribes to the trace group as it starts and says nothing when it
        # has: give it a moment, and make sure it did not fail
        time.sleep(0.3)
        if proc.poll() is not None:
            reader.join(1)
            raise NetlabError(f"{argv[0]} stopped at once: {''.join(lines).strip()}")
        send()
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and len(packet_ids(lines)) < 2:
            time.sleep(0.05)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(2)
        run_in(netns, [nft, "delete", "table", "ip", TRACE_TABLE])
    return "".join(lines)


def counters(netns: str, flavour: str) -> str:
    """``iptables-save -c``: every rule with its packet and byte counters."""
    r = run_in(netns, [require_tool(f"iptables-{flavour}-save"), "-c"])
    if r.returncode != 0:
        raise NetlabError(f"iptables-save -c failed in {netns}: {r.stderr.strip()}")
    return r.stdout

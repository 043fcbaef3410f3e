"""What ``netlab trace`` reads from a node, and the kernel's own trace of one connection.

Reads only, except the trace itself: a table of netlab's own (``ip netlab-trace``) whose one
rule sets ``meta nftrace`` on the connection's packets, added for the length of one
connection and deleted after it; kube-proxy's tables are never touched. The monitor is
``nft monitor trace`` (nftables mode) or ``xtables-monitor --trace`` (iptables-nft), run in
the node's network namespace.
"""

from __future__ import annotations

import ipaddress
import os
import re
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


def arp_answer(netns: str, dev: str, ip: str) -> str:
    """The MAC that answers one ARP request for IP sent out of NETNS's DEV now (arping; "":
    no answer within a second)."""
    ipaddress.IPv4Address(ip)  # validated: no text reaches arping
    r = run_in(netns, [require_tool("arping"), "-c", "1", "-w", "1", "-I", dev, ip])
    found = re.search(r"\[([0-9A-Fa-f:]{17})\]", r.stdout)
    return found.group(1).lower() if found else ""


def mac(netns: str, dev: str) -> str:
    """DEV's MAC address in NETNS ("" if there is no such link)."""
    with Netns(netns) as n:
        links = n.ipr.link_lookup(ifname=dev)
        return n.ipr.get_links(links[0])[0].get_attr("IFLA_ADDRESS") if links else ""


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
        # the monitor says nothing once it listens: wait for its socket to join the group
        deadline = time.monotonic() + 10
        while not _listening(proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                reader.join(1)
                raise NetlabError(f"{argv[0]} did not start listening for traces in {netns}: "
                                  f"{''.join(lines).strip() or 'no word from it'}")
            time.sleep(0.01)
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


NETLINK_NETFILTER = 12
NFNLGRP_NFTRACE = 9


def _listening(pid: int) -> bool:
    """Has process PID a netfilter netlink socket in the trace group (``/proc/PID/net/netlink``
    lists its namespace's sockets with their groups; its fds name its own)?"""
    try:
        own = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        with open(f"/proc/{pid}/net/netlink") as f:
            rows = [line.split() for line in f][1:]
    except OSError:
        return False
    return any(len(r) >= 10 and r[1] == str(NETLINK_NETFILTER)
               and int(r[3], 16) & (1 << (NFNLGRP_NFTRACE - 1)) and f"socket:[{r[9]}]" in own
               for r in rows)


def counters(netns: str, flavour: str) -> str:
    """``iptables-save -c``: every rule with its packet and byte counters."""
    r = run_in(netns, [require_tool(f"iptables-{flavour}-save"), "-c"])
    if r.returncode != 0:
        raise NetlabError(f"iptables-save -c failed in {netns}: {r.stderr.strip()}")
    return r.stdout

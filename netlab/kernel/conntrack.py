"""Clearing stale UDP conntrack entries, as kube-proxy does when endpoints go away.

UDP has no connection to break: a client that keeps its source port keeps matching the old
conntrack entry (DNAT to a pod that is gone) until it expires. kube-proxy deletes the entries
whose original destination is the service address and whose NAT target is the removed endpoint.
"""

from __future__ import annotations

from netlab.kernel.run import require_tool, run_in


def clear_udp(netns: str, service_ip: str, endpoint_ip: str) -> None:
    tool = require_tool("conntrack")
    # exit status 1 means "no entry matched", which is fine
    run_in(netns, [tool, "-D", "-p", "udp", "--orig-dst", service_ip, "--dst-nat", endpoint_ip],
           timeout=10)


def clear_udp_node_port(netns: str, node_port: int, endpoint_ip: str) -> None:
    tool = require_tool("conntrack")
    run_in(netns, [tool, "-D", "-p", "udp", "--orig-port-dst", str(node_port),
                   "--dst-nat", endpoint_ip], timeout=10)

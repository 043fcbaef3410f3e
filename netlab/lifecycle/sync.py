"""Program every node like kube-proxy's syncProxyRules: endpoints from the pods' readiness,
one ``NodeSync`` per node decided by ``proxy/sync.py``, applied in one step per kind.

A full sync (CHANGED is None) rewrites whole tables; a partial one only the changed
services' chains, ipset entries and virtual servers. A node whose sync fails loses its saved
sync state, so its next sync is full (kube-proxy: "after any failure the next sync is full").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from netlab.errors import NetlabError
from netlab.kernel.api import Kernel
from netlab.lifecycle.runtime import Runtime
from netlab.model import LabSpec, NodeInfo
from netlab.model.state import LabState, ProxyMetrics
from netlab.model.sync import NodeSync, NodeSyncState
from netlab.plan import cni
from netlab.plan.endpoints import compute_endpoints
from netlab.proxy import sync as proxy_sync
from netlab.proxy.conntrack import stale_udp_endpoints
from netlab.proxy.core import ServicePortView, service_ports
from netlab.proxy.ipvs import DUMMY_DEVICE

log = logging.getLogger("netlab")


def known_readiness(state: LabState) -> dict[str, bool]:
    """Which pods are ready as far as the saved state knows: running, and every container
    either judged ready by the controller's probes or without a readiness probe; a
    terminating pod counts as ready (serving) while it was ready when deleted and its
    containers still run."""
    out = {key: t.serving and any(st.running for st in state.processes.get(key, {}).values())
           for key, t in state.terminating.items()}
    for pod in state.plan.pods:
        states = state.processes.get(pod.key, {})
        ok = state.containers_running(pod.key, [c.name for c in pod.spec.containers])
        for c in pod.spec.containers:
            st = states.get(c.name)
            ok = ok and (st.ready if st is not None and st.ready is not None
                         else c.readiness is None)
        out[pod.key] = ok
    return out


def note_ready(state: LabState, ready: dict[str, bool], now: float) -> None:
    """Since when each pod has been ready (minReadySeconds counts from there)."""
    for key, ok in ready.items():
        if not ok:
            state.ready_since.pop(key, None)
        elif key not in state.terminating:
            state.ready_since.setdefault(key, now)
    for key in set(state.ready_since) - set(ready):
        del state.ready_since[key]


def apply(kernel: Kernel, s: NodeSync, flavour: str) -> None:
    """One node's sync: ipsets, then the iptables transaction (whose rules may match the new
    sets), kube-ipvs0's addresses, the virtual servers, and stale UDP conntrack entries."""
    if s.nft_cleanup:
        try:
            kernel.netfilter.nft(s.netns, s.nft_cleanup)
        except NetlabError as exc:  # kube-proxy: "will retry later"; the sync goes on
            log.warning("deleting stale nftables chains in %s failed: %s", s.netns, exc)
    if s.ipset:
        kernel.ipsets.restore(s.netns, s.ipset)
    if s.iptables:
        kernel.netfilter.restore(s.netns, flavour, s.iptables, noflush=s.noflush)
    if s.nft:
        kernel.netfilter.nft(s.netns, s.nft)
    if s.addresses is not None:
        with kernel.links.open(s.netns) as links:
            links.set_host_addresses(DUMMY_DEVICE, set(s.addresses))
    if s.ipvs:
        kernel.ipvs.apply(s.netns, s.ipvs)
    for vip, node_port, ip in s.conntrack:
        kernel.conntrack.clear_udp(s.netns, vip, ip)
        if node_port:
            kernel.conntrack.clear_udp_node_port(s.netns, node_port, ip)


def decide(kernel: Kernel, spec: LabSpec, node: NodeInfo, ports: Sequence[ServicePortView],
           previous: NodeSyncState | None, changed: set[str] | None,
           stale: proxy_sync.Stale = (), portmap: str = "") -> tuple[NodeSync, NodeSyncState]:
    """One node's sync in the lab's proxy mode, decided (IPVS mode first reads the virtual
    servers the kernel holds): what to apply, and the state the next sync starts from."""
    if spec.proxy_mode == "ipvs":
        draft = proxy_sync.ipvs_draft(spec, node, ports, previous, changed)
        current = kernel.ipvs.dump(node.netns, draft.reads)
        return proxy_sync.ipvs_sync(spec, node, draft, previous, current, stale, portmap)
    if spec.proxy_mode == "nftables":
        return proxy_sync.nftables_sync(spec, node, ports, previous, changed, stale, portmap)
    return proxy_sync.iptables_sync(spec, node, ports, previous, changed, stale, portmap)


def sync_rules(rt: Runtime, changed: set[str] | None = None,
               readiness: dict[str, bool] | None = None) -> list[NodeSync]:
    """Sync every node; returns what was applied (for tests and debugging)."""
    plan = rt.plan
    ready = readiness if readiness is not None else known_readiness(rt.state)
    endpoints = compute_endpoints(plan.services, plan.pods, ready, plan.manifests,
                                  [t.pod for t in rt.state.terminating.values()])
    stale = stale_udp_endpoints(plan.services, plan.endpoints, endpoints)
    rt.state.plan = plan = replace(plan, endpoints=endpoints)
    ports = service_ports(plan.services, endpoints)
    done = []
    for i, node in enumerate(plan.nodes):
        rt.progress("service rules", i, len(plan.nodes))
        previous = rt.state.sync.pop(node.name, None)  # back only when this node succeeds
        portmap = cni.render_portmap(p for p in rt.state.all_pods() if p.node == node.name)
        s, after = decide(rt.kernel, plan.spec, node, ports, previous, changed, stale, portmap)
        metrics = rt.state.proxy_metrics.setdefault(node.name, ProxyMetrics())
        t0 = time.monotonic()
        try:
            apply(rt.kernel, s, rt.state.flavour)
        except Exception:
            metrics.restore_failures += 1
            metrics.partial_restore_failures += not s.full
            raise
        count(metrics, s, time.monotonic() - t0, len(changed or ()), rt.clock())
        rt.state.sync[node.name] = after
        done.append(s)
    return done


def count(m: ProxyMetrics, s: NodeSync, seconds: float, services: int, now: float) -> None:
    """One successful sync in kube-proxy's counters."""
    m.syncs += 1
    m.duration_sum += seconds
    if s.full:
        m.full_syncs += 1
        m.full_duration_sum += seconds
        m.rules = rules_per_table(s.iptables)
        if s.nft:
            m.rules["nft ip kube-proxy"] = sum(1 for x in s.nft.splitlines()
                                               if x.startswith("add rule "))
    else:
        m.partial_syncs += 1
        m.partial_duration_sum += seconds
    m.service_changes += services
    m.last_sync = now


def rules_per_table(text: str) -> dict[str, int]:
    """How many rules an iptables-restore input writes, per table."""
    out: dict[str, int] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            out.setdefault(table, 0)
        elif line.startswith("-A "):
            out[table] = out.get(table, 0) + 1
    return out

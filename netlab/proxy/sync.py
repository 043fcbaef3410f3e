"""One node's sync as a value (``NodeSync``), decided purely from the service ports, the node
and what its last sync left (``NodeSyncState``), as kube-proxy's syncProxyRules decides it.

iptables mode: a full sync replaces the node's tables in one restore; a partial sync rewrites
only the changed services' chains with --noflush. IPVS mode: the ipset entries that changed,
the few iptables rules when they change, kube-ipvs0's addresses, and the IPVS operations that
turn what the kernel holds (read back first: ``ipvs_reads``) into what it should hold.

A sync without a previous state (the first, one after a failure, one after a mode switch) is
full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netlab.model import LabPlan, LabSpec, NodeInfo
from netlab.model.sync import Key, NodeSync, NodeSyncState, VirtualServer
from netlab.plan import cni
from netlab.proxy import iptables, ipvs, nftables
from netlab.proxy.core import ProxyConfig, ServicePortView, service_ports

Stale = tuple[tuple[str, int, str], ...]


def config(spec: LabSpec, node: NodeInfo) -> ProxyConfig:
    return ProxyConfig(cluster_cidr=spec.pod_cidr, node_name=node.name, node_ip=node.lan_ip)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def iptables_sync(spec: LabSpec, node: NodeInfo, ports: Sequence[ServicePortView],
                  previous: NodeSyncState | None, changed: set[str] | None,
                  stale: Stale = (), portmap: str = "") -> tuple[NodeSync, NodeSyncState]:
    """PORTMAP: the CNI portmap plugin's rules for the node's hostPorts, which share the nat
    table (a change to them makes the sync full)."""
    full = changed is None or previous is None or previous.portmap != _digest(portmap)
    rendered = iptables.render(ports, config(spec, node), previous.chains if previous else (),
                               None if full else changed)
    if full:
        text = iptables.merge_tables(iptables.render_bootstrap(),
                                     cni.render_masquerade(spec.pod_cidr, node.pod_cidr),
                                     *([portmap] if portmap else []), rendered.text)
    else:
        text = rendered.partial_text(previous.top_digest)
    done = NodeSyncState(chains=tuple(sorted(rendered.chains)), top_digest=rendered.top_digest,
                         portmap=_digest(portmap))
    return NodeSync(node.name, node.netns, full, iptables=text, noflush=not full,
                    conntrack=stale), done


def nftables_sync(spec: LabSpec, node: NodeInfo, ports: Sequence[ServicePortView],
                  previous: NodeSyncState | None, changed: set[str] | None,
                  stale: Stale = (), portmap: str = "") -> tuple[NodeSync, NodeSyncState]:
    """nftables mode: the ip kube-proxy table in one nft transaction (partial: only the
    CHANGED services), after the chains an earlier sync left stale are deleted. iptables
    keeps only what the CNI plugins write (their masquerade, the portmap plugin's
    hostPorts): whole tables restored, so nothing of iptables mode (KUBE- chains) stays."""
    r = nftables.render(ports, config(spec, node), spec.service_cidr, [node.lan_ip],
                        previous.nft_owned if previous else None,
                        previous.nft_stale if previous else (), changed)
    cni_rules = iptables.merge_tables("*mangle\nCOMMIT\n", "*filter\nCOMMIT\n",
                                      cni.render_masquerade(spec.pod_cidr, node.pod_cidr),
                                      *([portmap] if portmap else []))
    rewrite = previous is None or previous.portmap != _digest(portmap)
    done = NodeSyncState(portmap=_digest(portmap), nft_owned=r.owned, nft_stale=r.stale)
    return NodeSync(node.name, node.netns, r.full, iptables=cni_rules if rewrite else "",
                    noflush=False, nft=r.text, nft_cleanup=r.cleanup, conntrack=stale), done


@dataclass(frozen=True)
class IpvsDraft:
    """The desired IPVS state of a node, before the kernel's current state is read."""

    rendered: ipvs.IpvsSync
    full: bool
    reads: tuple[Key, ...] | None  # the virtual servers to read back (None: the whole table)
    desired: tuple[VirtualServer, ...]  # those this sync is about


def ipvs_draft(spec: LabSpec, node: NodeInfo, ports: Sequence[ServicePortView],
               previous: NodeSyncState | None, changed: set[str] | None) -> IpvsDraft:
    rendered = ipvs.render(ports, config(spec, node), (node.lan_ip, node.gateway),
                           spec.ipvs_scheduler, spec.ipvs_vip_filter)
    if changed is None or previous is None:
        return IpvsDraft(rendered, True, None, rendered.virtual_servers)
    desired = tuple(vs for vs in rendered.virtual_servers if vs.service in changed)
    reads = {k for svc in changed for k in previous.ipvs_keys.get(svc, ())} | \
        {vs.key for vs in desired}
    return IpvsDraft(rendered, False, tuple(sorted(reads)), desired)


def ipvs_sync(spec: LabSpec, node: NodeInfo, draft: IpvsDraft,
              previous: NodeSyncState | None, current: Mapping[Key, VirtualServer],
              stale: Stale = (), portmap: str = "") -> tuple[NodeSync, NodeSyncState]:
    r = draft.rendered
    body = iptables.merge_tables(ipvs.render_bootstrap(spec.ipvs_vip_filter),
                                 cni.render_masquerade(spec.pod_cidr, node.pod_cidr),
                                 *([portmap] if portmap else []), r.iptables)
    digest = hashlib.sha256(body.encode()).hexdigest()
    rules_unchanged = previous is not None and previous.top_digest == digest
    keys: dict[str, list[Key]] = {}
    for vs in r.virtual_servers:
        keys.setdefault(vs.service, []).append(vs.key)
    done = NodeSyncState(top_digest=digest, ipsets=dict(r.ipsets),
                         ipvs_keys={svc: tuple(k) for svc, k in keys.items()})
    return NodeSync(node.name, node.netns, draft.full,
                    ipset=r.ipset_restore(previous.ipsets if previous else None),
                    iptables="" if rules_unchanged else body, noflush=False,
                    addresses=r.addresses, ipvs=ipvs.diff(current, draft.desired),
                    conntrack=stale), done


def first_syncs(plan: LabPlan) -> list[NodeSync]:
    """What ``up`` applies to each node at its first (full) sync, every planned endpoint
    ready: for ``netlab steps --sync`` and for reading."""
    ports = service_ports(plan.services, plan.endpoints)
    out = []
    for node in plan.nodes:
        if plan.spec.proxy_mode == "ipvs":
            draft = ipvs_draft(plan.spec, node, ports, None, None)
            out.append(ipvs_sync(plan.spec, node, draft, None, {})[0])
        elif plan.spec.proxy_mode == "nftables":
            out.append(nftables_sync(plan.spec, node, ports, None, None)[0])
        else:
            out.append(iptables_sync(plan.spec, node, ports, None, None)[0])
    return out

"""Taking a node off the lab network and bringing it back (``netlab node stop|start``), as a
node failure looks from outside: its port on the lab network's bridge goes down, its speaker
stops being elected, and another node takes over the LoadBalancer addresses it announced
(with gratuitous ARP). Its pods keep running, as a cluster keeps them until it evicts them."""

from __future__ import annotations

from netlab.errors import UsageError
from netlab.kernel.api import Kernel
from netlab.lb.allocate import events as lb_events
from netlab.lifecycle.runtime import Runtime
from netlab.lifecycle.up import start_controller, stop_controller
from netlab.state import LabDir


def set_node(lab: str, node: str, up: bool, kernel: Kernel, ld: LabDir | None = None,
             controller: bool = True) -> bool:
    """Stop (UP false) or start node NODE of running lab LAB; False when it already was."""
    from netlab.lifecycle.query import load

    ld = ld or LabDir(lab)
    if not ld.exists():
        raise UsageError(f"lab '{lab}' is not up")
    ld.lock(wait_s=10, who=f"netlab node {'start' if up else 'stop'} {node}")
    stop_controller(ld, kernel)  # it would save its own copy of the state over this one
    try:
        state = load(lab, ld)
        nodes = {n.name: n for n in state.plan.nodes}
        if node not in nodes:
            raise UsageError(f"node '{node}' is not a node of lab '{lab}' "
                             f"({', '.join(nodes)})")
        down = set(state.nodes_down)
        if (node not in down) == up:
            return False
        rt = Runtime(state, ld, kernel)
        before = frozenset(down)
        with kernel.links.open(state.plan.lan_netns) as lan:
            if up:
                lan.up(nodes[node].lan_veth)
                down.discard(node)
            else:
                lan.down(nodes[node].lan_veth)
                down.add(node)
        state.nodes_down = tuple(sorted(down))
        rt.event(f"node/{node}", "Normal" if up else "Warning",
                 "NodeReady" if up else "NodeNotReady",
                 f"Node {node} status is now: {'NodeReady' if up else 'NodeNotReady'}")
        for key, type_, reason, message in lb_events(state.plan, state.plan, frozenset(down),
                                                     was_down=before):
            rt.event(key, type_, reason, message)
        rt.save()  # the speakers read it: the new announcer sends gratuitous ARP
        return True
    finally:
        if controller:
            start_controller(ld, kernel)
        ld.close()


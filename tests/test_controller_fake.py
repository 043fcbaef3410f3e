"""The controller as a kubelet, against the fake kernel: back-off, init containers, liveness
kills, probes that take long, drift repaired on the periodic resync.

Address plan: as tests/test_lifecycle_fake.py (two nodes; web x3 behind 10.96.0.100, api x2
behind 10.96.0.101, pod client). The controller's clock is a made-up one; probes run inline
unless a test says otherwise.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from netlab.kernel.ns import netns_path
from netlab.lifecycle.controller import Controller
from tests.test_lifecycle_fake import WEB, Clock, controller, make_lab, nat, runtime


def proc_of(c: Controller, key: str, container: str):
    return c.rt.state.processes[key][container]


def test_a_crashing_container_restarts_at_once_then_backs_off(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = Clock()
    c = controller(kernel, ld, clock=clock)
    c.tick()
    kernel.processes.crash(proc_of(c, "default/client", "c").pid, code=3)
    c.tick()  # noticed and restarted in the same pass: the first restart waits for nothing
    st = proc_of(c, "default/client", "c")
    assert (st.state, st.restarts, st.last_exit_code) == ("running", 1, 3)
    kernel.processes.crash(st.pid, code=3)
    clock.now += 1
    c.tick()
    st = proc_of(c, "default/client", "c")
    assert (st.state, st.reason) == ("waiting", "CrashLoopBackOff")
    assert c.ready()["default/client"] is False
    events = [e.reason for e in c.rt.state.events["default/client"]]
    assert "BackOff" in events
    clock.now += 9.5
    c.tick()
    assert proc_of(c, "default/client", "c").state == "waiting"
    clock.now += 0.6
    c.tick()
    st = proc_of(c, "default/client", "c")
    assert (st.state, st.restarts, st.back_off) == ("running", 2, 20.0)


def test_a_failed_liveness_probe_kills_and_restarts_the_container(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = Clock()
    c = controller(kernel, ld, clock=clock)
    web = next(p for p in c.rt.plan.pods if p.owner == "Deployment/web")
    before = proc_of(c, web.key, "web").pid
    c._judge((web.key, "web", "liveness"), _failing_liveness(c, web), False, "refused")
    st = proc_of(c, web.key, "web")
    assert (st.state, st.exit_code) == ("terminated", 143)  # SIGTERM, as the kubelet sends
    assert not kernel.processes.alive(before, st.start or before * 7)
    c.tick()
    assert proc_of(c, web.key, "web").running and proc_of(c, web.key, "web").restarts == 1


def _failing_liveness(c: Controller, pod):
    from netlab.model import Probe
    from netlab.plan.probes import ProbeTracker

    t = ProbeTracker(Probe(kind="tcp", port=8000, failure_threshold=1), c.clock())
    c.trackers[(pod.key, "web", "liveness")] = t
    return t


def test_one_slow_probe_holds_up_nothing(tmp_path):
    kernel, ld = make_lab(tmp_path, readiness=True)
    release = threading.Event()
    slow = None

    def probe(p, pod, container, node_netns, pid):
        if pod.name == slow:
            release.wait(30)
        return True, ""

    rt = runtime(kernel, ld)
    clock = Clock()
    rt.clock = clock
    with ThreadPoolExecutor(max_workers=4) as pool:
        c = Controller(rt, kernel.processes.launcher(()), probe=probe, clock=clock, pool=pool)
        web = sorted(p.name for p in c.rt.plan.pods if p.owner == "Deployment/web")
        slow = web[0]
        c.tick()
        for _ in range(50):  # the others' verdicts come in while the slow one runs
            clock.now += 0.2
            c.tick()
            ready = c.ready()
            if all(ready[f"default/{n}"] for n in web[1:]):
                break
        assert all(c.ready()[f"default/{n}"] for n in web[1:])
        assert not c.ready()[f"default/{web[0]}"]
        release.set()
        c.wait_probes()
        c.tick()
        assert c.ready()[f"default/{web[0]}"]


def test_drift_is_repaired_on_the_periodic_resync(tmp_path):
    kernel, ld = make_lab(tmp_path)
    clock = Clock()
    c = controller(kernel, ld, clock=clock)
    c.tick()
    rt, w = c.rt, kernel.world
    node = rt.plan.nodes[0]
    pods_here = [p for p in rt.plan.pods if p.node == node.name and not p.spec.host_network]
    # rules flushed by hand, every chain (the canaries among them) kept
    for chain in w.netns[node.netns].tables["nat"]:
        w.netns[node.netns].tables["nat"][chain] = []
    with kernel.links.open(node.netns) as links:
        links.delete_link("cni0")
    victim = pods_here[0]
    kernel.namespaces.remove(netns_path(victim.netns))
    clock.now += 1
    c.tick()  # the canaries are there: nothing to see before the resync
    assert not nat(kernel, rt)[WEB]
    clock.now += rt.plan.spec.sync_period
    c.tick()
    assert len([r for r in nat(kernel, rt)[WEB] if "KUBE-SEP-" in r]) == 3
    links = w.netns[node.netns].links
    assert links["cni0"].kind == "bridge"
    assert all(links[p.host_veth].master == "cni0" for p in pods_here)
    assert victim.netns in w.netns
    assert proc_of(c, victim.key, victim.spec.containers[0].name).restarts == 1
    reasons = {e.reason for e in rt.state.events[victim.key]}
    assert "SandboxChanged" in reasons
    assert any(e.reason == "BridgeMissing" for e in rt.state.events[f"node/{node.name}"])


def test_a_lab_process_that_died_is_started_again(tmp_path):
    """kube-proxy's server in a node (any of the lab's own processes) killed: the periodic
    resync starts it again, with a new pid."""
    kernel, ld = make_lab(tmp_path)
    clock = Clock()
    c = controller(kernel, ld, clock=clock)
    c.tick()
    rt = c.rt
    what = next(k for k in rt.state.system if k.startswith("kube-proxy"))
    old = rt.state.system[what]
    kernel.processes.stop([(old.pid, old.start)])
    assert not kernel.processes.alive(old.pid, old.start)
    clock.now += rt.plan.spec.sync_period + 1
    c.tick()
    new = rt.state.system[what]
    assert new.pid != old.pid and kernel.processes.alive(new.pid, new.start)
    assert any(e.reason == "ProcessRestarted" and what in e.message
               for evs in rt.state.events.values() for e in evs)


def test_a_flushed_or_deleted_nftables_table_is_written_again(tmp_path):
    from netlab.lifecycle.controller import CANARY_EVERY_S
    from netlab.trace.nftables import parse

    kernel, ld = make_lab(tmp_path, mode="nftables")
    clock = Clock()
    c = controller(kernel, ld, clock=clock)
    c.tick()
    node = c.rt.plan.nodes[0].netns
    netfilter = kernel.netfilter

    def prerouting():
        listing = netfilter.nft_list_chain(node, "ip", "kube-proxy", "nat-prerouting")
        return None if listing is None else parse(listing).chains["nat-prerouting"]

    def table_after_a_check():
        clock.now += CANARY_EVERY_S + 0.1
        c.tick()
        return prerouting()

    assert table_after_a_check() == ["jump services"]
    netfilter.nft(node, "flush table ip kube-proxy\n")  # its chains and sets stay
    assert prerouting() == []
    assert table_after_a_check() == ["jump services"]
    netfilter.nft(node, "delete table ip kube-proxy\n")
    assert prerouting() is None
    assert table_after_a_check() == ["jump services"]

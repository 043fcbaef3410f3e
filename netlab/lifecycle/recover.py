"""Putting the kernel back to a lab's saved state after a change was killed halfway.

A change marks itself pending before it touches the kernel and saves the state only when it
is done (or rolled back), so after a ``kill -9`` the saved state is the lab as it was and the
journal names everything the change made. The next command that takes the lab's lock calls
``recover``: pods the state does not know are removed (CNI DEL from their journal record),
pods of the state that are gone or wired differently are made again, stray processes are
stopped, the state's system processes are running, and every node gets a full sync.
"""

from __future__ import annotations

import logging

from netlab.kernel.api import Launcher, PodAttachment
from netlab.kernel.ns import netns_path
from netlab.lifecycle import pods, system
from netlab.lifecycle.runtime import LAUNCHER, Runtime
from netlab.lifecycle.sync import known_readiness, sync_rules

log = logging.getLogger("netlab")


def recover(rt: Runtime, launcher: Launcher) -> list[str]:
    """Make the kernel match RT's saved state; what was done, in words."""
    done: list[str] = []
    plan, kernel = rt.plan, rt.kernel
    entries = rt.ld.entries()
    known = {plan.lan_netns, *(n.netns for n in plan.nodes), *(c.netns for c in plan.clients),
             *(p.netns for p in plan.pods if not p.spec.host_network)}
    strays = {e["name"]: e for e in entries if e.get("kind") == "netns" and e.get("pod")
              and e["name"] not in known}
    for name, e in strays.items():
        if not kernel.namespaces.exists(netns_path(name)):
            kernel.namespaces.remove(e.get("uts", ""))
            continue
        kernel.processes.stop(kernel.processes.in_namespaces([netns_path(name)]))
        kernel.pods.delete(PodAttachment(plan.node(e["node"]).netns, name, e.get("uts", ""),
                                         "", e.get("veth", ""), "", 0, ""))
        done.append(f"removed pod {e['pod']}, which the unfinished change had made")
    paths = rt.paths
    cgroups = {paths.pod_cgroup(p) for p in plan.pods}
    for e in entries:  # the cgroups of pods the state does not know: whatever runs there
        if e.get("kind") == "cgroup" and e["path"].startswith(f"{paths.cgroup}/pods/") \
                and e["path"] not in cgroups and kernel.cgroups.remove(e["path"]):
            done.append(f"removed the cgroup {e['path']}, which the unfinished change had made")
    recorded = {(st.pid, st.start) for cs in rt.state.processes.values() for st in cs.values()}
    recorded |= {(p.pid, p.start) for p in rt.state.system.values()}
    stray_procs = [(e["pid"], e["start"]) for e in entries if e.get("kind") == "proc"
                   and e.get("system") != "controller" and (e["pid"], e["start"]) not in recorded
                   and kernel.processes.alive(e["pid"], e["start"])]
    if stray_procs:
        kernel.processes.stop(stray_procs)
        done.append(f"stopped {len(stray_procs)} process(es) the unfinished change had started")
    broken = [p for p in plan.pods if pods.check(rt, p)]
    if broken:
        pods.delete(rt, broken)
        pods.add(rt, broken, launcher)
        done.append(f"made again {len(broken)} pod(s) the unfinished change had removed or "
                    "changed: " + ", ".join(p.key for p in broken))
    dead = {w for w, p in rt.state.system.items() if not kernel.processes.alive(p.pid, p.start)}
    if dead:
        for w in dead:
            del rt.state.system[w]
        tickets = system.submit(rt, launcher, only=dead)
        system.collect(rt, launcher, tickets)
        done.append(f"restarted {len(dead)} system process(es)")
    rt.state.sync.clear()
    sync_rules(rt, None, known_readiness(rt.state))
    done.append("synced every node's rules in full")
    return done


def recover_if_pending(rt_factory, ld, kernel) -> list[str]:
    """If a change was killed (its mark is still there), recover; the caller holds the lock.
    RT_FACTORY() gives the Runtime of the saved state."""
    if not ld.change_pending():
        return []
    rt = rt_factory()
    with kernel.processes.launcher(LAUNCHER) as launcher:
        done = recover(rt, launcher)
    rt.save()
    ld.end_change()
    for line in done:
        log.warning("lab %s: after an unfinished change: %s", ld.lab, line)
    return done

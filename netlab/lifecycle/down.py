"""``down``: remove everything a lab created, from its journal and nothing else. Works after a
killed ``up`` and without the scenario file; already gone counts as done."""

from __future__ import annotations

from netlab.kernel.api import Kernel, real
from netlab.kernel.ns import netns_path
from netlab.plan import naming
from netlab.state import LabDir


def teardown(lab: str, kernel: Kernel | None = None, ld: LabDir | None = None, *,
             force_locked: bool = False) -> dict[str, int]:
    kernel = kernel or real()
    ld = ld or LabDir(lab)
    counts = {"processes": 0, "namespaces": 0}
    if not ld.exists():
        return counts
    # The controller first, so that it does not restart containers while they are stopped.
    kernel.processes.stop([(e["pid"], e["start"]) for e in ld.entries()
                           if e.get("system") == "controller"])
    if not force_locked:
        ld.lock(wait_s=30, who="netlab down")
    entries = ld.entries()
    lab_cgroup = kernel.cgroups.lab_path(lab)
    cgroups = [e["path"] for e in entries if e.get("kind") == "cgroup"
               and (e["path"] + "/").startswith(lab_cgroup + "/")]
    revoked = {e["name"] for e in entries if e.get("kind") == "revoke"}
    prefix = naming.lab_netns_prefix(lab)
    netns_names = [e["name"] for e in entries if e.get("kind") == "netns"
                   and e["name"] not in revoked and e["name"].startswith(prefix)]
    own = (ld.path + "/", naming.lab_dir(lab) + "/")
    uts_paths = [e["path"] for e in entries if e.get("kind") == "uts"
                 and e["path"].startswith(own)]
    procs = [(e["pid"], e["start"]) for e in entries if e.get("kind") == "proc"]
    # Processes inside the lab's namespaces are the lab's too, even one started between a
    # fork and its journal line, or by `netlab exec`.
    procs += kernel.processes.in_namespaces([netns_path(n) for n in netns_names])
    counts["processes"] = len({p for p, s in procs if kernel.processes.alive(p, s)})
    if cgroups:  # everything at once, whatever the lab's processes forked or unshared
        kernel.cgroups.remove(lab_cgroup)
    kernel.processes.stop(procs, grace_s=1.0)  # anything that lived outside the cgroups
    for name in reversed(netns_names):
        if kernel.namespaces.remove(netns_path(name)):
            counts["namespaces"] += 1
    for path in uts_paths + [e["path"] for e in entries if e.get("kind") == "mntns"
                             and e["path"].startswith(own)]:
        kernel.namespaces.remove(path)
    ld.remove()
    return counts

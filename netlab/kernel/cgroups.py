"""Process ownership with cgroup v2: every process of a lab lives in the lab's own subtree,
``<cgroup2 mount>/netlab/<lab>/``, so removing a pod or a lab kills whatever its processes
forked, unshared or double-forked (``cgroup.kill``), and nothing outlives ``down``.

Only membership is used (no controller is enabled, so no resource is limited). A cgroup is
removed only when it lies under netlab's own folder.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from netlab.errors import KernelFeatureError

TOP = "netlab"
_ROOT: list[str] = []


def mount_point(mountinfo: str = "/proc/self/mountinfo") -> str:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
    on hybrid hosts)."""
    if _ROOT:
        return _ROOT[0]
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                _ROOT.append(left.split()[4])
                return _ROOT[0]
    raise KernelFeatureError("cgroup v2 is not mounted (netlab keeps each pod's processes in a "
                             "cgroup): mount it, as systemd does, at /sys/fs/cgroup")


def lab_path(lab: str) -> str:
    return f"{mount_point()}/{TOP}/{lab}"


def owned(path: str) -> bool:
    return path.startswith(f"{mount_point()}/{TOP}/") and "/../" not in path


def create(path: str) -> None:
    for _ in range(3):  # another lab's down may remove netlab's folder as it empties
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    os.makedirs(path, exist_ok=True)


def join(path: str, pid: int = 0) -> None:
    """Move PID (0: the caller) into cgroup PATH; its children are born there."""
    with open(f"{path}/cgroup.procs", "w") as f:
        f.write(str(pid))


def pids(path: str) -> list[int]:
    """Every process in PATH and below."""
    out: list[int] = []
    for root, _dirs, _files in os.walk(path):
        try:
            with open(f"{root}/cgroup.procs") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return out


def kill(path: str) -> None:
    """SIGKILL every process in PATH and below, at once."""
    if not os.path.isdir(path):
        return
    try:
        with open(f"{path}/cgroup.kill", "w") as f:
            f.write("1")
        return
    except OSError:  # before Linux 5.14: one by one, until none is left
        pass
    for pid in pids(path):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def populated(path: str) -> bool:
    try:
        with open(f"{path}/cgroup.events") as f:
            return "populated 1" in f.read()
    except OSError:
        return False


def remove(path: str, timeout_s: float = 5.0) -> bool:
    """Kill everything in PATH, wait until it is empty, remove it and its children (deepest
    first). False when it was already gone. Only netlab's own cgroups are removed."""
    if not owned(path) or not os.path.isdir(path):
        return False
    kill(path)
    deadline = time.monotonic() + timeout_s
    while populated(path) and time.monotonic() < deadline:
        time.sleep(0.005)
        kill(path)
    for root, dirs, _files in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        for d in dirs:
            _rmdir(f"{root}/{d}")
    _rmdir(path)
    top = f"{mount_point()}/{TOP}"
    if os.path.dirname(path) == top:  # the last lab gone: netlab's own folder too
        _rmdir(top, busy_ok=True)
    return True


def _rmdir(path: str, busy_ok: bool = False) -> None:
    try:
        os.rmdir(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT and not (busy_ok and exc.errno in (errno.EBUSY,
                                                                       errno.ENOTEMPTY)):
            raise

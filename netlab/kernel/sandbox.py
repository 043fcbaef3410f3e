"""Containers as a runtime runs them: their own root, PID namespace, user and capabilities.

Per lab, one template mount namespace (``make_template``): the host's mounts, private, with
every namespace file unmounted, so that each container copies a small mount table instead of
one entry per pod. Per container, in the launcher's child (``enter_root``): a tmpfs scratch
with an overlay whose lower layer is the host's root (read-only, never written) and whose
upper layer is the container's own; the host's other real filesystems bound in read-only;
its own /proc, /tmp, /run, /dev (a few devices) and /dev/shm; /sys read-only; the pod's
resolv.conf and hosts; its emptyDir volumes; then pivot_root. ``new_pid_namespace`` and
``drop_privileges`` follow, and ``enter_view`` lets ``exec``, checks and exec probes join a
running container the same way.

Every call here changes only the calling process's own namespaces (or creates a lab's
template); nothing touches the host's mounts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import sys

from netlab.kernel import cgroups
from netlab.kernel.ns import CLONE_NEWNET, CLONE_NEWUTS, setns_path

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWCGROUP = 0x00020000, 0x20000000, 0x02000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD = 1, 0x8000, -100
SYS_PIVOT_ROOT, SYS_MOUNT_SETATTR, SYS_CAPGET, SYS_CAPSET = 155, 442, 125, 126
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
PR_SET_NAME, PR_CAPBSET_READ = 15, 23
CAP_VERSION_3 = 0x20080522
SCRATCH_SIZE = "256m"  # a container's writable layer, /tmp and /run (tmpfs, in memory)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# what runc hides or makes read-only in /proc for a container that is not privileged
PROC_MASKED = ("kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug",
               "acpi", "scsi")
PROC_READONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger", "asound")
# filesystem types that hold files (bound into a container's root); the rest are the kernel's
VIRTUAL = {"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "mqueue",
           "debugfs", "tracefs", "securityfs", "pstore", "bpf", "configfs", "fusectl",
           "hugetlbfs", "autofs", "nsfs", "binfmt_misc", "efivarfs", "rpc_pipefs", "ramfs"}

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(rc: int, what: str, path: str = "") -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path or None)


def mount(src: str, dst: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(_libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {fstype or src}", dst)


def umount(path: str) -> None:
    if _libc.umount2(path.encode(), MNT_DETACH) != 0 and \
            ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _check(-1, "umount", path)


def read_only(path: str, recursive: bool = True) -> None:
    """Make the mount at PATH (and every mount below it) read-only, in one call."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags,
                         ctypes.byref(attr), ctypes.sizeof(attr)), "mount_setattr", path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo writes a space as \040


def _mountinfo() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount of this mount namespace."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), left.split()[4])
            out.append((point, right.split(" ", 1)[0]))
    return out


# -- the lab's template ---------------------------------------------------------------------


def build_template() -> None:
    """In a fresh mount namespace (the caller unshared it): private mounts, and no namespace
    files (every pod's would otherwise be copied into every container)."""
    mount("", "/", None, MS_REC | MS_PRIVATE)
    for point, fstype in reversed(_mountinfo()):
        if fstype == "nsfs":
            umount(point)


def template_main() -> int:
    """python -m netlab.kernel.sandbox template: build a template in a new mount namespace,
    say "ready", and keep it alive until stdin closes (the caller binds it by then)."""
    unshare(CLONE_NEWNS)
    build_template()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()
    return 0


# -- a container's root -----------------------------------------------------------------------


def _bind(src: str, dst: str, flags: int = 0, readonly: bool = False) -> None:
    mount(src, dst, None, MS_BIND | MS_REC)
    if flags or readonly:
        mount("", dst, None, MS_BIND | MS_REMOUNT | flags | (MS_RDONLY if readonly else 0))


def _ensure(path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def enter_root(box: dict) -> None:
    """Give the calling process (the launcher's child, already in the pod's network and UTS
    namespaces) the container's root: see the module's docstring. BOX is the request's
    "sandbox" part."""
    setns_path(box["template"], CLONE_NEWNS)
    unshare(CLONE_NEWNS)
    mount("", "/", None, MS_REC | MS_PRIVATE)
    scratch = box["scratch"]
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_SIZE},mode=700")
    for d in ("upper", "work", "root"):
        os.mkdir(f"{scratch}/{d}")
    root = f"{scratch}/root"
    mount("overlay", root, "overlay", 0,
          f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work")
    for point, fstype in _mountinfo():
        if point not in ("/", scratch, root) and fstype not in VIRTUAL and fstype != "overlay" \
                and not point.startswith(("/proc", "/sys", "/dev", "/run", "/tmp", scratch)) \
                and os.path.isdir(point):
            _ensure(root + point, True)
            _bind(point, root + point, readonly=True)
    privileged = box.get("privileged", False)
    _ensure(f"{root}/sys", True)
    _bind("/sys", f"{root}/sys")
    if not privileged:
        read_only(f"{root}/sys")
    _ensure(f"{root}/proc", True)
    _make_dev(root, privileged)
    for d, mode in (("tmp", "1777"), ("run", "755")):
        _ensure(f"{root}/{d}", True)
        mount("tmpfs", f"{root}/{d}", "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={SCRATCH_SIZE},mode={mode}")
    for src, dst in box.get("files", []):
        _ensure(root + dst, False)
        _bind(src, root + dst, MS_NOSUID | MS_NODEV, readonly=True)
    for src, dst, ro in box.get("volumes", []):
        _ensure(root + dst, True)
        _bind(src, root + dst, MS_NOSUID | MS_NODEV, readonly=ro)
    if box.get("api"):
        _ensure(f"{root}/run/netlab-api", True)
        _bind(box["api"], f"{root}/run/netlab-api", MS_NOSUID | MS_NODEV, readonly=True)
    if box.get("read_only_root"):
        read_only(root, recursive=False)
    os.chdir(root)
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root", root)
    umount(".")
    os.chdir("/")


def _make_dev(root: str, privileged: bool) -> None:
    dev = f"{root}/dev"
    _ensure(dev, True)
    if privileged:
        _bind("/dev", dev)
        return
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            _ensure(f"{dev}/{name}", False)
            _bind(f"/dev/{name}", f"{dev}/{name}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm")
    mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777")
    os.mkdir(f"{dev}/pts")
    try:
        mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620")
        os.symlink("pts/ptmx", f"{dev}/ptmx")
    except OSError:  # no devpts: no terminals, which netlab's containers never need
        pass


def mount_proc(privileged: bool) -> None:
    """The container's own /proc (its PID namespace's), with what runc hides hidden."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if privileged:
        return
    for name in PROC_MASKED:
        path = f"/proc/{name}"
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
        elif os.path.exists(path):
            _bind("/dev/null", path)
    for name in PROC_READONLY:
        path = f"/proc/{name}"
        if os.path.exists(path):
            _bind(path, path, readonly=True)


# -- PID namespace and privileges ---------------------------------------------------------------


def open_pid_namespace(path: str) -> int:
    """An fd of the PID namespace at PATH (a pod's shared one), opened while the host's /proc
    is still in view; -1 for none."""
    return os.open(path, os.O_RDONLY) if path else -1


def new_pid_namespace(shared_fd: int = -1) -> None:
    """Children of the caller are born in a new PID namespace (the first is its PID 1), or in
    the pod's shared one (SHARED_FD, from ``open_pid_namespace``)."""
    if shared_fd >= 0:
        _check(_libc.setns(shared_fd, CLONE_NEWPID), "setns")
        os.close(shared_fd)
    else:
        unshare(CLONE_NEWPID)


def _permitted() -> set[int]:
    """The capabilities this process holds (on a host that is itself a container, fewer than
    every one the kernel knows). capget, not /proc: a process that joined a container's
    mount namespace sees that container's /proc, where it has no entry."""
    data = (_CapData * 2)()
    _check(_libc.syscall(SYS_CAPGET, ctypes.byref(_CapHeader(CAP_VERSION_3, 0)), data),
           "capget")
    mask = data[0].permitted | data[1].permitted << 32
    return {cap for cap in range(64) if mask >> cap & 1}


def _last_cap() -> int:
    """The highest capability this kernel knows (PR_CAPBSET_READ fails past it)."""
    cap = 0
    while _libc.prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0:
        cap += 1
    return cap


def drop_privileges(sec: dict) -> None:
    """Become what the container runs as: capabilities outside SEC["caps"] gone from the
    bounding set (so no exec can gain them back), the user and groups, no_new_privs. A
    privileged container keeps every capability the launcher has."""
    held = _permitted()
    keep = held if sec.get("privileged") else set(sec.get("caps", ())) & held
    for cap in range(_last_cap() + 1):
        if cap not in keep:
            _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    uid, gid = int(sec.get("uid", 0)), int(sec.get("gid", 0))
    os.setgroups([int(g) for g in sec.get("groups", ())])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # leaving root clears every capability
    if uid == 0:
        mask = [0, 0]
        for cap in keep:
            mask[cap // 32] |= 1 << (cap % 32)
        data = (_CapData * 2)(*[_CapData(m, m, 0) for m in mask])
        _check(_libc.syscall(SYS_CAPSET, ctypes.byref(_CapHeader(CAP_VERSION_3, 0)), data),
               "capset")
    if sec.get("no_new_privs"):
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def set_name(name: str) -> None:
    """The calling process's name, as ps and /proc/PID/comm show it."""
    _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


# -- joining a running container ---------------------------------------------------------------


def enter_view(pid: int) -> None:
    """Join the namespaces and cgroup of running container process PID (the caller then forks
    to be in its PID namespace, and drops privileges as the container did)."""
    fds = {}
    try:
        for ns, flag in (("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS), ("pid", CLONE_NEWPID),
                         ("mnt", CLONE_NEWNS)):
            fds[flag] = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY)
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            group = next((line.split(":", 2)[2].strip() for line in f
                          if line.startswith("0::")), "")
        if group and group != "/":
            cgroups.join(cgroups.mount_point() + group)
        for flag, fd in fds.items():  # mnt last: it changes the root
            _check(_libc.setns(fd, flag), "setns")
    finally:
        for fd in fds.values():
            os.close(fd)
    os.chdir("/")


if __name__ == "__main__":
    if sys.argv[1:2] == ["template"]:
        sys.exit(template_main())
    sys.exit(2)

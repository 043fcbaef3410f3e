"""What a container runs as: user, groups and capabilities, from its securityContext over its
pod's, as Kubernetes decides them with containerd's defaults. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from netlab.model import Container, PodSpec

# Linux capabilities by number (include/uapi/linux/capability.h)
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}
# containerd's (and Docker's) default set, what a Kubernetes container gets: CapEff a80425fb
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                "AUDIT_WRITE")


def cap_name(value: str) -> str:
    """NET_ADMIN from NET_ADMIN or CAP_NET_ADMIN (both are accepted by the runtime)."""
    return value.upper().removeprefix("CAP_")


@dataclass(frozen=True)
class Security:
    """What the container's process is: the kernel side reads this."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    caps: tuple[int, ...]  # capability numbers kept (bounding, permitted, effective)
    no_new_privs: bool
    privileged: bool

    def as_request(self) -> dict:
        return {"uid": self.uid, "gid": self.gid, "groups": list(self.groups),
                "caps": list(self.caps), "no_new_privs": self.no_new_privs,
                "privileged": self.privileged}


def security(pod: PodSpec, c: Container) -> Security:
    ps, cs = pod.security, c.security
    uid = cs.run_as_user if cs.run_as_user is not None else (ps.run_as_user or 0)
    gid = cs.run_as_group if cs.run_as_group is not None else (ps.run_as_group or 0)
    if cs.privileged:
        caps = set(CAPABILITIES)
    else:
        caps = set(DEFAULT_CAPS)
        drops = {cap_name(d) for d in cs.drop_caps}
        caps = set() if "ALL" in drops else caps - drops
        adds = {cap_name(a) for a in cs.add_caps}
        caps |= set(CAPABILITIES) if "ALL" in adds else adds
    # allowPrivilegeEscalation false sets no_new_privs; privileged implies it is allowed
    nnp = cs.allow_privilege_escalation is False and not cs.privileged
    return Security(uid, gid, tuple(sorted(set(pod.supplemental_groups))),
                    tuple(sorted(CAP_NUMBER[n] for n in caps)), nnp, cs.privileged)


def run_as_root_refused(pod: PodSpec, c: Container) -> str:
    """Why the kubelet would refuse to start C (runAsNonRoot with user 0), or ""."""
    non_root = c.security.run_as_non_root or pod.security.run_as_non_root
    if non_root and security(pod, c).uid == 0:
        return "container has runAsNonRoot and image will run as root"
    return ""

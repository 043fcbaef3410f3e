"""python -m netlab.kernel.enter NETNS UTS ETC -- ARGV...

Run ARGV the way a pod's containers run: in the pod's network and UTS namespaces, in a private
mount namespace where the pod's resolv.conf and hosts (files in ETC) cover /etc's, as
``ip netns exec`` does with /etc/netns. Used by ``netlab exec`` and the checks.
"""

from __future__ import annotations

import os
import sys

from netlab.kernel.ns import CLONE_NEWNET, CLONE_NEWUTS, _check, _libc, _mount, setns_path

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_SLAVE = 4096, 16384, 1 << 19
POD_ETC_FILES = ("resolv.conf", "hosts")


def enter_pod_files(etc: str) -> None:
    """A private mount namespace with ETC/resolv.conf and ETC/hosts over /etc's."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(mnt)")
    _check(_mount("", "/", MS_REC | MS_SLAVE), "make / a slave mount")
    for name in POD_ETC_FILES:
        src, dst = os.path.join(etc, name), os.path.join("/etc", name)
        if os.path.exists(src) and os.path.exists(dst):
            _check(_mount(src, dst, MS_BIND), f"bind {src}", dst)


def main() -> None:
    netns, uts, etc = sys.argv[1:4]
    argv = sys.argv[5:] if sys.argv[4:5] == ["--"] else sys.argv[4:]
    setns_path(netns, CLONE_NEWNET)
    if uts:
        setns_path(uts, CLONE_NEWUTS)
    if etc:
        enter_pod_files(etc)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()

"""python -m netlab.kernel.enter PID SECURITY -- ARGV...

Run ARGV inside a running container, as ``kubectl exec`` does: in the namespaces (network,
UTS, PID, mount) and the cgroup of container process PID, as the user and with the
capabilities the container has (SECURITY, JSON: uid, gid, groups, caps, no_new_privs). Used
by ``netlab exec`` and by exec probes; the checks' agent enters the same way.
"""

from __future__ import annotations

import json
import os
import sys

from netlab.kernel import sandbox


def enter(pid: int, security: dict) -> int:
    """Join container PID and run the rest in a child born in its PID namespace; returns the
    child's exit status (this process only waits)."""
    sandbox.enter_view(pid)
    child = os.fork()
    if child == 0:
        try:
            sandbox.drop_privileges(security)
            argv = sys.argv[sys.argv.index("--") + 1:]
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"netlab: cannot run {sys.argv[-1]} in the container: "
                             f"{exc.strerror or exc}\n")
            os._exit(127)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    try:
        pid, security = int(sys.argv[1]), json.loads(sys.argv[2])
    except (IndexError, ValueError):
        sys.stderr.write("usage: python -m netlab.kernel.enter PID SECURITY -- ARGV...\n")
        return 2
    try:
        code = enter(pid, security)
    except OSError as exc:
        sys.stderr.write(f"netlab: cannot enter the container (pid {pid}): "
                         f"{exc.strerror or exc}\n")
        return 126
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())

"""The container launcher: a small process that forks containers into pod namespaces.

``up`` starts it once (``python -m netlab.apps.runner``, which hands ``main`` the built-in
apps: this module imports nothing above ``kernel/``) and sends one JSON request per
container on stdin; each reply (one JSON line on stdout) comes when the container is ready: the
built-in app has bound its ports, or ``exec`` of the container's argv succeeded. Forking a warm
interpreter costs about a millisecond where starting Python costs tens, and each container is
still its own process, in a session of its own and inside its pod's network and UTS namespaces.
The launcher ignores SIGCHLD so the kernel reaps containers that exit; when the launcher ends,
its containers are adopted by init.

Request: {"id", "netns": path, "uts": path or "", "app": "exec"|"idle"|a built-in app,
          "argv": [...], "env": {...}, "log": path, plus what the app reads}
Reply:   {"id", "pid", "start"} or {"id", "error"}
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable

from netlab.kernel.enter import enter_pod_files
from netlab.kernel.ns import CLONE_NEWNET, CLONE_NEWUTS, setns_path

# A built-in app: called in the container's process with its request and a function to call
# once it is ready (its ports bound); it then serves until killed.
App = Callable[[dict, Callable[[], None]], None]


def _child(req: dict, wfd: int, apps: dict[str, App]) -> None:
    """Runs in the child: join namespaces, report, become the container."""
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        setns_path(req["netns"], CLONE_NEWNET)
        if req.get("uts"):
            setns_path(req["uts"], CLONE_NEWUTS)
        if req.get("etc") and req["app"] == "exec":
            # Only the user's own programs see the pod's resolv.conf and hosts through a
            # private mount namespace: netlab's built-in apps never resolve names, and a new
            # mount namespace copies every mount (the lab's thousands of namespace bind
            # mounts among them), which made a 1000-pod lab 60% slower. `netlab exec` and
            # the checks enter the pod's view on their own.
            enter_pod_files(req["etc"])
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, wfd)
        os.closerange(wfd + 1, 1024)
        os.chdir("/")
        env = req.get("env") or {}
        app = req["app"]
        if app == "exec":
            os.set_inheritable(wfd, False)
            os.write(wfd, f"{os.getpid()}\n".encode())
            try:
                os.execvpe(req["argv"][0], req["argv"], env)
            except OSError as exc:
                os.write(wfd, f"cannot run {req['argv'][0]}: {exc.strerror}".encode())
                os._exit(127)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = sys.stdout
        os.environ.clear()
        os.environ.update(env)

        def ready() -> None:
            os.write(wfd, f"{os.getpid()}\n".encode())
            os.close(wfd)

        if app in apps:
            apps[app](req, ready)
        elif app == "idle":  # a container that only keeps the pod alive
            ready()
            while True:
                signal.pause()
        else:
            raise ValueError(f"unknown app {app!r}")
    except BaseException as exc:  # reported to the launcher, then the child ends
        try:
            os.write(wfd, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(1)
    os._exit(0)


def start(req: dict, apps: dict[str, App]) -> dict:
    rfd, wfd = os.pipe()
    if os.fork() == 0:
        os.close(rfd)
        _child(req, wfd, apps)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    text = data.decode(errors="replace")
    first, _, rest = text.partition("\n")
    if not first.isdigit():
        return {"id": req["id"], "error": text.strip() or "container exited before it was ready"}
    if rest.strip():
        return {"id": req["id"], "error": rest.strip()}
    cpid = int(first)
    return {"id": req["id"], "pid": cpid, "start": start_time(cpid)}


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: with the pid, it names one process for its whole life.

    0 when the process is gone, or is a zombie (dead, waiting for its parent to reap it).
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return 0 if fields[0] in ("Z", "X") else int(fields[19])


def main(apps: dict[str, App]) -> None:
    """Serve requests from stdin until it closes; APPS are the built-in apps by name."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited containers
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = start(req, apps)
        except Exception as exc:  # reported per request
            reply = {"id": req.get("id"), "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


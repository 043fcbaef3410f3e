"""The container launcher: a small process that forks containers into pod namespaces.

``up`` starts it once (``python -m netlab.apps.runner``, which hands ``main`` the built-in
apps: this module imports nothing above ``kernel/``) and sends one JSON request per
container on stdin; each reply (one JSON line on stdout) comes when the container is ready: a
built-in app has bound its ports, or ``exec`` of the container's argv succeeded. Forking a warm
interpreter costs about a millisecond where starting Python costs tens.

A container request with a "sandbox" part runs as Kubernetes runs containers (``sandbox.py``):
the child joins the container's cgroup, the pod's network and UTS namespaces, binds a built-in
app's ports, takes the container's own root, then forks in a new PID namespace; the child
there (PID 1) drops to the container's user and capabilities and becomes the container; the
forking one stays as a small shim that writes the container's exit status to a file. Requests
without one (netlab's own client hosts and health check servers) run directly in their
namespaces. The launcher ignores SIGCHLD, so the kernel reaps what exits.

Request: {"id", "netns": path, "uts": path or "", "app": "exec"|"idle"|a built-in app,
          "argv": [...], "env": {...}, "log": path, "cgroup": path or "",
          "sandbox": {...} or absent, plus what the app reads}
Reply:   {"id", "pid", "start"} or {"id", "error"}
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable

from netlab.kernel import cgroups, sandbox
from netlab.kernel.ns import CLONE_NEWNET, CLONE_NEWUTS, setns_path

# A built-in app: called in the container's process with its request, while the host's view
# is still there (it binds its ports, imports what it needs); returns the function that
# serves until the container is killed.
App = Callable[[dict], Callable[[], None]]
MAX_FD = os.sysconf("SC_OPEN_MAX")


def _idle(req: dict) -> Callable[[], None]:
    def serve() -> None:
        while True:
            signal.pause()
    return serve


def _child(req: dict, wfd: int, apps: dict[str, App]) -> None:
    """Runs in the child: join namespaces, report, become the container."""
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        if req.get("cgroup"):
            cgroups.join(req["cgroup"])
        setns_path(req["netns"], CLONE_NEWNET)
        if req.get("uts"):
            setns_path(req["uts"], CLONE_NEWUTS)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, wfd)
        os.closerange(wfd + 1, MAX_FD)
        os.chdir("/")
        env = req.get("env") or {}
        app = req["app"]
        serve = None
        if app != "exec":
            prepare = apps.get(app) or (_idle if app == "idle" else None)
            if prepare is None:
                raise ValueError(f"unknown app {app!r}")
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = sys.stdout
            serve = prepare(req)
        box = req.get("sandbox")
        if box is not None:
            _sandboxed(req, box, wfd, env, serve)
        if serve is None:
            os.set_inheritable(wfd, False)
            os.write(wfd, f"{os.getpid()}\n".encode())
            _exec(req, wfd, env)
        os.environ.clear()
        os.environ.update(env)
        os.write(wfd, f"{os.getpid()}\nready\n".encode())
        os.close(wfd)
        serve()
    except BaseException as exc:  # reported to the launcher, then the child ends
        try:
            os.write(wfd, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(1)
    os._exit(0)


def _exec(req: dict, wfd: int, env: dict) -> None:
    try:
        os.execvpe(req["argv"][0], req["argv"], env)
    except OSError as exc:
        os.write(wfd, f"cannot run {req['argv'][0]}: {exc.strerror}".encode())
        os._exit(127)


def _sandboxed(req: dict, box: dict, wfd: int, env: dict, serve) -> None:
    """Take the container's root and PID namespace; fork the container (which never
    returns here) and stay as its shim, which reports its pid and, later, its exit."""
    exit_fd = os.open(box["exit"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                      0o600)
    shared = sandbox.open_pid_namespace(box.get("pid_namespace", ""))
    sandbox.enter_root(box)
    sandbox.new_pid_namespace(shared)
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the container, PID 1 of its namespace (or a member of the pod's)
        os.close(go_w)
        os.close(exit_fd)
        os.read(go_r, 1)  # the shim has reported this pid first
        os.close(go_r)
        sandbox.mount_proc(box.get("privileged", False))
        workdir = req.get("workdir") or "/"
        os.chdir(workdir if os.path.isdir(workdir) else "/")
        sandbox.drop_privileges(box.get("security", {}))
        if req.get("comm"):  # the name ps shows (the pod's pause process: "pause")
            sandbox.set_name(req["comm"])
        if serve is None:
            os.set_inheritable(wfd, False)
            _exec(req, wfd, env)
        os.environ.clear()
        os.environ.update(env)
        os.write(wfd, b"ready\n")
        os.close(wfd)
        serve()
        os._exit(0)
    os.close(go_r)
    os.write(wfd, f"{pid}\n".encode())
    os.close(wfd)
    os.write(go_w, b"x")
    os.close(go_w)
    os.closerange(3, exit_fd)  # the app's sockets are the container's alone
    os.closerange(exit_fd + 1, MAX_FD)
    _, status = os.waitpid(pid, 0)
    text = f"exited {os.waitstatus_to_exitcode(status)}" if os.WIFEXITED(status) else \
        f"killed {os.WTERMSIG(status)}"
    os.write(exit_fd, text.encode())
    os._exit(0)


def fork(req: dict, apps: dict[str, App]) -> int:
    """Fork the child for REQ; the read end of the pipe its reply comes on."""
    rfd, wfd = os.pipe()
    if os.fork() == 0:
        os.close(rfd)
        _child(req, wfd, apps)
    os.close(wfd)
    return rfd


def reply(req: dict, data: bytes) -> dict:
    """The reply to REQ from what its child wrote (its pid, "ready", or why it failed)."""
    lines = data.decode(errors="replace").split("\n")
    first, rest = lines[0], "\n".join(line for line in lines[1:] if line != "ready").strip()
    if not first.isdigit():
        return {"id": req["id"], "error": data.decode(errors="replace").strip()
                or "container exited before it was ready"}
    if rest:
        return {"id": req["id"], "error": rest}
    cpid = int(first)
    return {"id": req["id"], "pid": cpid, "start": start_time(cpid)}


def start(req: dict, apps: dict[str, App]) -> dict:
    """Start one container and wait for its reply."""
    rfd = fork(req, apps)
    data = b""
    while chunk := os.read(rfd, 4096):
        data += chunk
    os.close(rfd)
    return reply(req, data)


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
    """Serve requests from stdin until it closes; APPS are the built-in apps by name.

    Containers start side by side: each request is forked at once and its reply sent when
    its child has written it (replies carry the request's id, in any order)."""
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited containers
    out = sys.stdout
    sel = selectors.DefaultSelector()
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    sel.register(stdin, selectors.EVENT_READ, None)
    pending: dict[int, tuple[dict, bytearray]] = {}
    buffered, open_ = b"", True
    while open_ or pending:
        for key, _ in sel.select():
            if key.data is None:  # requests
                chunk = os.read(stdin.fileno(), 65536)
                if not chunk:
                    open_ = False
                    sel.unregister(stdin)
                    continue
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    req = json.loads(line)
                    try:
                        rfd = fork(req, apps)
                    except Exception as exc:  # reported per request
                        _send(out, {"id": req.get("id"), "error": f"{type(exc).__name__}: "
                                                                  f"{exc}"})
                        continue
                    pending[rfd] = (req, bytearray())
                    sel.register(rfd, selectors.EVENT_READ, rfd)
            else:  # a child's reply
                rfd = key.data
                chunk = os.read(rfd, 4096)
                if chunk:
                    pending[rfd][1].extend(chunk)
                    continue
                sel.unregister(rfd)
                os.close(rfd)
                req, data = pending.pop(rfd)
                _send(out, reply(req, bytes(data)))


def _send(out, message: dict) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()

"""Container processes: start them through the launcher, find them, stop only our own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence

from netlab.errors import NetlabError
from netlab.kernel.launcher import start_time


class Launcher:
    """Client of ``netlab.kernel.launcher``; one per ``up``/apply.

    Requests are pipelined: ``submit`` returns at once and the launcher works while the caller
    goes on wiring the next pods; a reader thread collects the replies so neither side can
    block the other on a full pipe.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        """ARGV starts the launcher process (``python -m netlab.apps.runner``)."""
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self._next = 0
        self._lock = threading.Lock()
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="netlab-launcher", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            reply = json.loads(line)
            with self._cond:
                self._replies[reply["id"]] = reply
                self._cond.notify_all()
        with self._cond:
            self._replies[-1] = {"error": "the container launcher died"}
            self._cond.notify_all()

    def submit(self, request: dict) -> int:
        assert self.proc.stdin
        with self._lock:
            self._next += 1
            self.proc.stdin.write(json.dumps(dict(request, id=self._next)) + "\n")
            self.proc.stdin.flush()
            return self._next

    def result(self, ticket: int) -> tuple[int, int]:
        with self._cond:
            while ticket not in self._replies and -1 not in self._replies:
                self._cond.wait()
            reply = self._replies.pop(ticket, None) or self._replies[-1]
        if "error" in reply:
            raise NetlabError(reply["error"])
        return reply["pid"], reply["start"]

    def start(self, request: dict) -> tuple[int, int]:
        return self.result(self.submit(request))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spawn(argv: list[str], log_path: str) -> tuple[int, int]:
    """Start ARGV detached (a session of its own), appending its output to LOG_PATH."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                start_new_session=True)
    finally:
        os.close(fd)
    return proc.pid, start_time(proc.pid)


def environ(pid: int) -> dict[str, str]:
    """The environment process PID started with, from /proc (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def is_same_process(pid: int, start: int) -> bool:
    return pid > 0 and start > 0 and start_time(pid) == start


def ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_netns(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of INODES (the lab's namespaces)."""
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                out.append(int(entry))
        except OSError:
            continue
    return out


def stop(pids: Iterable[tuple[int, int]], grace_s: float = 2.0, kill: bool = True) -> int:
    """SIGTERM each (pid, start time) that is still that process, then (KILL) SIGKILL what
    is left after GRACE_S."""
    live = [(p, s) for p, s in pids if is_same_process(p, s)]
    for pid, _ in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if not kill:
        return len(live)
    deadline = time.monotonic() + grace_s
    while live and time.monotonic() < deadline:
        live = [(p, s) for p, s in live if is_same_process(p, s)]
        if live:
            time.sleep(0.02)
    for pid, _ in live:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(live)

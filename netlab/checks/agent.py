"""python -m netlab.checks.agent: run one check's attempts inside a lab namespace.

The job comes as JSON on stdin: where to run (a node's or client's ``netns`` and ``uts``, or a
pod's container: ``pid`` of its process and the ``security`` it runs with, whose view the agent
takes as ``kubectl exec`` does), the number of ``attempts``, a per-attempt ``deadline`` in
seconds, and either ``argv`` (a probe tool: curl, ping, dig) or ``tcp: [host, port]`` (a TCP
connect made here). The namespaces are entered once for all attempts, so a check of 30
attempts pays one interpreter start, not 30.

Output: one JSON line per attempt, written as it ends::

    {"ran": true, "rc": 0, "stdout": "...", "stderr": "...", "elapsed": 0.004,
     "timed_out": false, "error": ""}

``ran`` is false when the probe could not run at all (the tool is missing, the namespace could
not be entered): such an attempt says nothing about the traffic. ``elapsed`` is the probe's own
time, measured here, without this interpreter's start. When the namespaces cannot be entered,
the only line is ``{"setup_error": "..."}`` and the exit status is 3.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
import time

TCP_ERRORS = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
              errno.ENETUNREACH: "network unreachable", errno.ECONNRESET: "connection reset",
              errno.ETIMEDOUT: "timed out"}


def _text(data: bytes | str | None) -> str:
    """Output as text, whatever form it came in (TimeoutExpired carries bytes even when the
    process was started with text=True)."""
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def run_tool(argv: list[str], deadline: float, env: dict[str, str] | None = None) -> dict:
    """Run ARGV once; kill it after DEADLINE seconds."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=deadline, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        return {"ran": True, "rc": -1, "stdout": _text(exc.stdout), "stderr": _text(exc.stderr),
                "elapsed": time.monotonic() - t0, "timed_out": True, "error": ""}
    except OSError as exc:  # the tool is missing or cannot be executed
        return {"ran": False, "rc": -1, "stdout": "", "stderr": "", "elapsed": 0.0,
                "timed_out": False, "error": f"cannot run {argv[0]}: {exc.strerror or exc}"}
    return {"ran": True, "rc": proc.returncode, "stdout": _text(proc.stdout),
            "stderr": _text(proc.stderr), "elapsed": time.monotonic() - t0, "timed_out": False,
            "error": ""}


def tcp_connect(host: str, port: int, timeout: float) -> dict:
    """One TCP connect; the outcome in the words of the errno."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            local = s.getsockname()
        return {"ran": True, "rc": 0, "stdout": f"connected {local[0]}:{local[1]} -> "
                f"{host}:{port}", "stderr": "", "elapsed": time.monotonic() - t0,
                "timed_out": False, "error": ""}
    except TimeoutError:
        return {"ran": True, "rc": 1, "stdout": "", "stderr": "timed out",
                "elapsed": time.monotonic() - t0, "timed_out": True, "error": ""}
    except OSError as exc:
        if exc.errno in TCP_ERRORS:
            return {"ran": True, "rc": 1, "stdout": "", "stderr": TCP_ERRORS[exc.errno],
                    "elapsed": time.monotonic() - t0,
                    "timed_out": exc.errno == errno.ETIMEDOUT, "error": ""}
        return {"ran": False, "rc": -1, "stdout": "", "stderr": "", "elapsed": 0.0,
                "timed_out": False, "error": f"connect to {host}:{port}: {exc.strerror or exc}"}


def enter(job: dict) -> None:
    """Take the view the probe runs in; the tools it starts are born in it (a container's
    PID namespace included)."""
    from netlab.kernel import sandbox
    from netlab.kernel.ns import CLONE_NEWNET, CLONE_NEWUTS, setns_path

    if job.get("pid"):
        sandbox.enter_view(int(job["pid"]))
        sandbox.drop_privileges(job.get("security") or {})
        return
    setns_path(job["netns"], CLONE_NEWNET)
    if job.get("uts"):
        setns_path(job["uts"], CLONE_NEWUTS)


def main() -> int:
    job = json.loads(sys.stdin.read())
    out = sys.stdout
    try:
        enter(job)
    except OSError as exc:
        out.write(json.dumps({"setup_error": f"cannot enter {exc.filename or 'the namespace'}"
                                             f": {exc.strerror or exc}"}) + "\n")
        return 3
    for _ in range(int(job.get("attempts", 1))):
        if "tcp" in job:
            host, port = job["tcp"]
            result = tcp_connect(host, int(port), float(job["deadline"]))
        else:
            result = run_tool(job["argv"], float(job["deadline"]), job.get("env"))
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

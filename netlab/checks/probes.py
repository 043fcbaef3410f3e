"""What each check runs (argv) and what its output means. Pure.

Every reply says whether the probe ran (``ran``): it entered the namespace, started its tool
and got an answer or a definite failure (refused, timed out, no route, NXDOMAIN...). A probe
that could not run says nothing about the traffic, and a check built on it is an ERROR, never
a PASS, whatever it expected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


def curl_argv(url: str, timeout_s: float,
              headers: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """curl printing the body, then the status code on a line of its own. -v: curl 7.88 says
    why a connect failed (refused, unreachable) only in its verbose lines."""
    extra = [arg for k, v in headers for arg in ("-H", f"{k}: {v}")]
    return ["curl", "-sS", "-v", "--max-time", f"{timeout_s:g}", "-w", "\\n%{http_code}", *extra,
            url]


def ping_argv(host: str, count: int, timeout_s: float) -> list[str]:
    return ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", f"{max(timeout_s, 1):g}", host]


def dig_argv(name: str, rtype: str, server: str, timeout_s: float) -> list[str]:
    # +search: short names go through the resolv.conf search list, as an application's
    # getaddrinfo would take them
    argv = ["dig", "+search", f"+time={max(int(timeout_s), 1)}", "+tries=1", "+noall",
            "+answer", "+comments", name, rtype]
    if server:
        argv.append(f"@{server}")
    return argv


@dataclass(frozen=True)
class Attempt:
    """One run of a probe, as the agent reports it."""

    ran: bool
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    elapsed: float = 0.0  # the probe's own time, without any interpreter start
    timed_out: bool = False  # killed at its deadline
    error: str = ""  # why it could not run

    @classmethod
    def from_json(cls, d: dict) -> Attempt:
        return cls(bool(d.get("ran")), int(d.get("rc", -1)), str(d.get("stdout", "")),
                   str(d.get("stderr", "")), float(d.get("elapsed", 0.0)),
                   bool(d.get("timed_out")), str(d.get("error", "")))


def timed_out(elapsed: float) -> str:
    return f"timed out after {elapsed:.1f}s"


@dataclass(frozen=True)
class HttpReply:
    ok: bool
    status: int = 0
    body: str = ""
    error: str = ""
    ran: bool = True

    @property
    def backend(self) -> str:
        m = re.search(r"^Hostname: (\S+)", self.body, re.M)
        return m.group(1) if m else ""

    @property
    def remote_ip(self) -> str:
        m = re.search(r"^RemoteAddr: ([0-9.]+):\d+", self.body, re.M)
        return m.group(1) if m else ""


# curl's exit codes that mean the traffic failed (the probe itself ran)
CURL_TRAFFIC = {6: "could not resolve host", 28: "", 52: "empty reply from server",
                55: "send failure", 56: "connection reset"}
CONNECT_FAILURES = (("Connection refused", "connection refused"),
                    ("No route to host", "no route to host"),
                    ("Network is unreachable", "network unreachable"),
                    ("Connection timed out", ""), ("Timeout was reached", ""))


def parse_curl(a: Attempt) -> HttpReply:
    if not a.ran:
        return HttpReply(False, error=a.error, ran=False)
    if a.timed_out:
        return HttpReply(False, error=timed_out(a.elapsed))
    body, _, status = a.stdout.rpartition("\n")
    code = int(status) if status.strip().isdigit() else 0
    if a.rc == 0 and code:
        return HttpReply(True, code, body)
    if a.rc == 7:
        for needle, what in CONNECT_FAILURES:
            if needle in a.stderr:
                return HttpReply(False, code, body, what or timed_out(a.elapsed))
        return HttpReply(False, code, body, "could not connect")
    if a.rc in CURL_TRAFFIC:
        return HttpReply(False, code, body, CURL_TRAFFIC[a.rc] or timed_out(a.elapsed))
    last = [line for line in a.stderr.splitlines() if line.startswith("curl:")]
    return HttpReply(False, code, body, f"curl failed (exit {a.rc})"
                     + (f": {last[-1].removeprefix('curl: ')}" if last else ""), ran=False)


@dataclass(frozen=True)
class PingReply:
    transmitted: int
    received: int
    error: str = ""  # why no reply came (or why ping could not run)
    ran: bool = True


def parse_ping(a: Attempt, count: int) -> PingReply:
    if not a.ran:
        return PingReply(count, 0, a.error, ran=False)
    if a.timed_out:
        return PingReply(count, 0, timed_out(a.elapsed))
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", a.stdout)
    if m:
        sent, got = int(m.group(1)), int(m.group(2))
        why = ""
        if got < sent:
            why = "host unreachable" if "Unreachable" in a.stdout else "no reply"
        return PingReply(sent, got, why)
    if "Network is unreachable" in a.stderr:
        return PingReply(count, 0, "network unreachable")
    if "Name or service not known" in a.stderr or "Temporary failure in name" in a.stderr:
        return PingReply(count, 0, "could not resolve host")
    detail = a.stderr.strip().splitlines()[-1] if a.stderr.strip() else f"exit {a.rc}"
    return PingReply(count, 0, f"ping failed: {detail}", ran=False)


@dataclass(frozen=True)
class DnsReply:
    status: str  # NOERROR, NXDOMAIN, SERVFAIL, ... or "" when no server answered
    answers: tuple[str, ...] = field(default_factory=tuple)
    error: str = ""  # why no server answered (or why dig could not run)
    ran: bool = True


def parse_dig(a: Attempt) -> DnsReply:
    if not a.ran:
        return DnsReply("", error=a.error, ran=False)
    if a.timed_out:
        return DnsReply("", error=f"no answer ({timed_out(a.elapsed)})")
    text = a.stdout + a.stderr
    if a.rc == 9:  # dig: no reply from the server
        for needle, what in (("connection refused", "refused"),
                             ("network unreachable", "network unreachable"),
                             ("host unreachable", "host unreachable")):
            if needle in text:
                return DnsReply("", error=f"no answer ({what})")
        return DnsReply("", error=f"no answer ({timed_out(a.elapsed)})")
    m = re.search(r"status: ([A-Z]+)", a.stdout)
    if a.rc != 0 or not m:
        detail = a.stderr.strip().splitlines()[-1] if a.stderr.strip() else f"exit {a.rc}"
        return DnsReply("", error=f"dig failed: {detail}", ran=False)
    answers = []
    for line in a.stdout.splitlines():
        if not line or line.startswith(";"):
            continue
        parts = line.split()
        if len(parts) >= 5:
            answers.append(" ".join(parts[4:]))
    return DnsReply(m.group(1), tuple(answers))


@dataclass(frozen=True)
class TcpReply:
    connected: bool
    detail: str = ""
    ran: bool = True


def parse_tcp(a: Attempt) -> TcpReply:
    if not a.ran:
        return TcpReply(False, a.error, ran=False)
    if a.rc == 0:
        return TcpReply(True, a.stdout.strip())
    why = a.stderr.strip() or "failed"
    return TcpReply(False, timed_out(a.elapsed) if why == "timed out" else why)


def counted(texts: Iterable[str]) -> str:
    """'connection refused x2; timed out after 2.0s' (most frequent first)."""
    counts = Counter(t for t in texts if t)
    return "; ".join(t + (f" x{n}" if n > 1 else "") for t, n in counts.most_common())

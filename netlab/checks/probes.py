"""What each check runs (argv) and what its output means. Pure."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field


def curl_argv(url: str, timeout_s: float) -> list[str]:
    """curl printing the body, then the status code on a line of its own."""
    return ["curl", "-sS", "--max-time", f"{timeout_s:g}", "-w", "\\n%{http_code}", url]


def ping_argv(host: str, count: int, timeout_s: float) -> list[str]:
    return ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", f"{max(timeout_s, 1):g}", host]


def tcp_argv(host: str, port: int, timeout_s: float) -> list[str]:
    return [sys.executable, "-m", "netlab.checks.tcpconnect", host, str(port), f"{timeout_s:g}"]


def dig_argv(name: str, rtype: str, server: str, timeout_s: float) -> list[str]:
    # +search: short names go through the resolv.conf search list, as an application's
    # getaddrinfo would take them
    argv = ["dig", "+search", f"+time={max(int(timeout_s), 1)}", "+tries=1", "+noall",
            "+answer", "+comments", name, rtype]
    if server:
        argv.append(f"@{server}")
    return argv


@dataclass(frozen=True)
class HttpReply:
    ok: bool
    status: int = 0
    body: str = ""
    error: str = ""

    @property
    def backend(self) -> str:
        m = re.search(r"^Hostname: (\S+)", self.body, re.M)
        return m.group(1) if m else ""

    @property
    def remote_ip(self) -> str:
        m = re.search(r"^RemoteAddr: ([0-9.]+):\d+", self.body, re.M)
        return m.group(1) if m else ""


def parse_curl(returncode: int, stdout: str, stderr: str) -> HttpReply:
    body, _, status = stdout.rpartition("\n")
    code = int(status) if status.strip().isdigit() else 0
    if returncode != 0 or code == 0:
        err = stderr.strip().splitlines()[-1] if stderr.strip() else f"curl exit {returncode}"
        return HttpReply(False, code, body, err.removeprefix("curl: "))
    return HttpReply(True, code, body)


def parse_ping(stdout: str) -> tuple[int, int]:
    """(transmitted, received) from ping's summary line."""
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@dataclass(frozen=True)
class DnsReply:
    status: str  # NOERROR, NXDOMAIN, SERVFAIL, ... or "" when no server answered
    answers: tuple[str, ...] = field(default_factory=tuple)


def parse_dig(stdout: str) -> DnsReply:
    m = re.search(r"status: ([A-Z]+)", stdout)
    answers = []
    for line in stdout.splitlines():
        if not line or line.startswith(";"):
            continue
        parts = line.split()
        if len(parts) >= 5:
            answers.append(" ".join(parts[4:]))
    return DnsReply(m.group(1) if m else "", tuple(answers))

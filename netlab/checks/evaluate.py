"""Did a check pass? Pure: attempts' outcomes and expectations in, verdict and summary out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netlab.checks.probes import DnsReply, HttpReply
from netlab.model import Expect


@dataclass(frozen=True)
class Verdict:
    passed: bool
    summary: str  # what came back
    reason: str = ""  # why it failed


def _fail(summary: str, reason: str) -> Verdict:
    return Verdict(False, summary, reason)


def http(replies: Sequence[HttpReply], expect: Expect, source_ip: str | None) -> Verdict:
    ok = [r for r in replies if r.ok]
    backends = sorted({r.backend for r in ok if r.backend})
    seen_ips = sorted({r.remote_ip for r in ok if r.remote_ip})
    statuses = sorted({r.status for r in ok})
    parts = [f"{len(ok)}/{len(replies)} answered"]
    if statuses:
        parts.append("status " + ",".join(map(str, statuses)))
    if backends:
        parts.append(f"{len(backends)} backend(s): {', '.join(backends)}")
    if seen_ips:
        parts.append("source seen " + ",".join(seen_ips))
    errors = sorted({r.error for r in replies if not r.ok and r.error})
    if errors:
        parts.append("errors: " + "; ".join(errors))
    summary = "; ".join(parts)
    if not expect.success:
        if ok:
            return _fail(summary, f"expected no answer, {len(ok)} came")
        return Verdict(True, summary)
    if len(ok) < len(replies):
        return _fail(summary, f"{len(replies) - len(ok)} of {len(replies)} attempts failed")
    if expect.status is not None and statuses != [expect.status]:
        return _fail(summary, f"expected status {expect.status}")
    if expect.body_contains is not None:
        missing = [r for r in ok if expect.body_contains not in r.body]
        if missing:
            return _fail(summary, f"{len(missing)} answer(s) lack {expect.body_contains!r}")
    if expect.distinct_backends is not None and len(backends) < expect.distinct_backends:
        return _fail(summary, f"expected at least {expect.distinct_backends} distinct "
                              f"backends, saw {len(backends)}")
    if source_ip is not None and seen_ips != [source_ip]:
        return _fail(summary, f"expected the backend to see source {source_ip}")
    return Verdict(True, summary)


def ping(transmitted: int, received: int, expect: Expect) -> Verdict:
    summary = f"{received}/{transmitted} replies"
    if expect.success and received == 0:
        return _fail(summary, "expected replies, none came")
    if not expect.success and received > 0:
        return _fail(summary, "expected no reply")
    return Verdict(True, summary)


def tcp(connected: Sequence[bool], detail: str, expect: Expect) -> Verdict:
    n = sum(connected)
    summary = f"{n}/{len(connected)} connected" + (f"; {detail}" if detail else "")
    if expect.success and n < len(connected):
        return _fail(summary, "expected every connect to succeed")
    if not expect.success and n:
        return _fail(summary, "expected the connect to fail")
    return Verdict(True, summary)


def dns(reply: DnsReply, expect: Expect) -> Verdict:
    summary = f"{reply.status or 'no answer'}" + (
        f": {', '.join(reply.answers)}" if reply.answers else "")
    got = bool(reply.answers) and reply.status == "NOERROR"
    if not expect.success:
        return Verdict(True, summary) if not got else _fail(summary, "expected no answer")
    if not got:
        return _fail(summary, "expected an answer")
    missing = [a for a in expect.answers if not any(a == x or a.rstrip(".") == x.rstrip(".")
                                                    for x in reply.answers)]
    if missing:
        return _fail(summary, f"missing answer(s): {', '.join(missing)}")
    if expect.answer_count is not None and len(reply.answers) != expect.answer_count:
        return _fail(summary, f"expected {expect.answer_count} answer(s), got "
                              f"{len(reply.answers)}")
    return Verdict(True, summary)

"""Did a check pass? Pure: attempts' outcomes and expectations in, verdict and summary out.

Three results, as test runners have them: PASS, FAIL (the traffic did not do what the check
expects) and ERROR (the probe could not run, so the traffic was never tested). A check that
expects failure passes only when every probe ran and the traffic failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netlab.checks.probes import DnsReply, HttpReply, PingReply, TcpReply, counted
from netlab.model import Expect
from netlab.trace.path import Path

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"


@dataclass(frozen=True)
class Verdict:
    result: str  # PASS, FAIL or ERROR
    summary: str  # what came back
    reason: str = ""  # why it failed, or why the probe could not run

    @property
    def passed(self) -> bool:
        return self.result == PASS


def _fail(summary: str, reason: str) -> Verdict:
    return Verdict(FAIL, summary, reason)


def _error(summary: str, not_run: Sequence[str], total: int) -> Verdict:
    return Verdict(ERROR, summary, f"could not run the probe ({len(not_run)} of {total}): "
                                   + counted(not_run))


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
    failures = counted(r.error for r in replies if not r.ok and r.ran)
    if failures:
        parts.append(failures)
    summary = "; ".join(parts)
    not_run = [r.error for r in replies if not r.ran]
    if not_run:
        return _error(summary, not_run, len(replies))
    if not expect.success:
        if ok:
            return _fail(summary, f"expected no answer, {len(ok)} came")
        return Verdict(PASS, summary)
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
    for prefix, low, high in expect.backend_share:
        share = 100 * sum(r.backend.startswith(prefix) for r in ok) / max(1, len(ok))
        if not low <= share <= high:
            return _fail(summary, f"{share:.0f}% of the answers came from {prefix}*, expected "
                                  f"{low:g}% to {high:g}%")
        summary += f"; {share:.0f}% from {prefix}*"
    return Verdict(PASS, summary)


def ping(reply: PingReply, expect: Expect) -> Verdict:
    summary = f"{reply.received}/{reply.transmitted} replies" + \
        (f"; {reply.error}" if reply.error and reply.ran else "")
    if not reply.ran:
        return _error(summary, [reply.error], 1)
    if expect.success and reply.received == 0:
        return _fail(summary, "expected replies, none came")
    if not expect.success and reply.received > 0:
        return _fail(summary, "expected no reply")
    return Verdict(PASS, summary)


def tcp(replies: Sequence[TcpReply], expect: Expect) -> Verdict:
    n = sum(r.connected for r in replies)
    detail = counted(r.detail for r in replies if r.ran and not r.connected) or \
        next((r.detail for r in replies if r.connected), "")
    summary = f"{n}/{len(replies)} connected" + (f"; {detail}" if detail else "")
    not_run = [r.detail for r in replies if not r.ran]
    if not_run:
        return _error(summary, not_run, len(replies))
    if expect.success and n < len(replies):
        return _fail(summary, "expected every connect to succeed")
    if not expect.success and n:
        return _fail(summary, "expected the connect to fail")
    return Verdict(PASS, summary)


def dns(reply: DnsReply, expect: Expect) -> Verdict:
    summary = (reply.status or reply.error or "no answer") + (
        f": {', '.join(reply.answers)}" if reply.answers else "")
    if not reply.ran:
        return _error(summary, [reply.error], 1)
    got = bool(reply.answers) and reply.status == "NOERROR"
    if not expect.success:
        return Verdict(PASS, summary) if not got else _fail(summary, "expected no answer")
    if not got:
        return _fail(summary, "expected an answer")
    missing = [a for a in expect.answers if not any(a == x or a.rstrip(".") == x.rstrip(".")
                                                    for x in reply.answers)]
    if missing:
        return _fail(summary, f"missing answer(s): {', '.join(missing)}")
    if expect.answer_count is not None and len(reply.answers) != expect.answer_count:
        return _fail(summary, f"expected {expect.answer_count} answer(s), got "
                              f"{len(reply.answers)}")
    return Verdict(PASS, summary)


def during(replies: Sequence[HttpReply] | Sequence[TcpReply], expect: Expect,
           what: str) -> Verdict:
    """Probes sent one after the other through WHAT (a rollout): success means none failed,
    expect.success false that some did."""
    ok = [r for r in replies if answered(r)]
    failed = [r for r in replies if not answered(r)]
    summary = f"{len(ok)}/{len(replies)} answered during {what}"
    backends = sorted({getattr(r, "backend", "") for r in ok} - {""})
    if backends:
        summary += f"; {len(backends)} backend(s)"
    errors = counted(_why(r) for r in failed if r.ran)
    if errors:
        summary += f"; {errors}"
    not_run = [_why(r) for r in replies if not r.ran]
    if not_run:
        return _error(summary, not_run, len(replies))
    if not replies:
        return _fail(summary, "no probe was sent")
    if expect.success and failed:
        return _fail(summary, f"{len(failed)} of {len(replies)} failed during {what}")
    if not expect.success and not failed:
        return _fail(summary, f"expected failures during {what}, none came")
    return Verdict(PASS, summary)


def answered(r: HttpReply | TcpReply) -> bool:
    return r.ok if isinstance(r, HttpReply) else r.connected


def _why(r: HttpReply | TcpReply) -> str:
    return r.error if isinstance(r, HttpReply) else r.detail


def outage(before, after, seconds: float | None, expect: Expect, what: str) -> Verdict:
    """Answers before a failure, then how long until the first answer after it."""
    ok_before = sum(answered(r) for r in before)
    summary = f"{ok_before}/{len(before)} answered before {what}; " + (
        f"answers again after {seconds:.2f}s ({len(after)} probes)" if seconds is not None
        else f"no answer in {len(after)} probes after it")
    if ok_before < len(before):
        return _fail(summary, "the target did not answer before the failure")
    if seconds is None:
        return _fail(summary, f"no answer within 30s of {what}")
    if expect.max_outage is not None and seconds > expect.max_outage:
        return _fail(summary, f"the outage lasted {seconds:.2f}s, more than "
                              f"{expect.max_outage:g}s")
    return Verdict(PASS, summary)


def trace(paths: Sequence[tuple[Path, str]], expect: Expect) -> Verdict:
    """PATHS: every way the walker found, each with the node of its endpoint ("" if none).
    success: every path gets through (false: none does); masqueraded, via and
    endpointOnNode hold for every path that gets through (via: for every path)."""
    through = [(p, node) for p, node in paths if p.verdict == "accept"]
    ends = counted(f"{p.dnat or p.verdict}" + (f" on {node}" if node else "") +
                   (" masqueraded" if p.masquerade else "") for p, node in paths)
    summary = f"{len(through)}/{len(paths)} paths get through: {ends}"
    if not paths:
        return _fail("no path", "the walker found no way through the node")
    if expect.success and len(through) < len(paths):
        stopped = next(p for p, _ in paths if p.verdict != "accept")
        where = stopped.hops[-1].chain if stopped.hops else "the node"
        return _fail(summary, f"expected every path to get through; {stopped.verdict} in "
                              f"{where}")
    if not expect.success and through:
        return _fail(summary, "expected the connection to be dropped or rejected")
    if expect.masqueraded is not None and any(p.masquerade != expect.masqueraded
                                              for p, _ in through):
        return _fail(summary, "expected " + ("" if expect.masqueraded else "no ") +
                     "masquerading on every path")
    if expect.via is not None:
        missed = [p for p, _ in paths if not any(h.chain == expect.via or (
            expect.via.endswith("-") and h.chain.startswith(expect.via)) for h in p.hops)]
        if missed:
            return _fail(summary, f"a path does not go through {expect.via}: " + " -> ".join(
                h.chain for h in missed[0].hops))
    if expect.endpoint_on_node is not None and any(node != expect.endpoint_on_node
                                                   for _, node in through):
        return _fail(summary, f"expected every endpoint on {expect.endpoint_on_node}")
    return Verdict(PASS, summary)

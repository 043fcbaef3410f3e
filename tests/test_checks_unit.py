"""Check output parsing and verdicts (no root), and the agent's timeout paths.

Address plan: client pod 10.244.0.2, backends 10.244.0.3 and 10.244.1.2, ClusterIP 10.96.0.100,
cluster DNS at 10.96.0.10.
"""

import sys

from netlab.checks import agent, evaluate, probes
from netlab.checks.probes import Attempt, HttpReply
from netlab.model import Expect

BODY = "Hostname: web-a\nIP: 10.244.0.3\nRemoteAddr: 10.244.0.2:5555\nGET / HTTP/1.1\n"
# what curl 7.88 -v writes to stderr when a connect fails
REFUSED = ("* connect to 10.96.0.100 port 81 failed: Connection refused\n"
           "* Failed to connect to 10.96.0.100 port 81 after 0 ms: Couldn't connect to server\n"
           "curl: (7) Failed to connect to 10.96.0.100 port 81 after 0 ms: Couldn't connect to "
           "server\n")
UNREACHABLE = "* Immediate connect fail for 10.1.2.3: Network is unreachable\ncurl: (7) Fail\n"
NOT_RUN = Attempt(False, error="cannot run curl: No such file or directory")


def curl(rc: int, stdout: str, stderr: str = "", elapsed: float = 0.01) -> HttpReply:
    return probes.parse_curl(Attempt(True, rc, stdout, stderr, elapsed))


def reply(name: str, remote: str = "10.244.0.2") -> HttpReply:
    return curl(0, f"Hostname: {name}\nRemoteAddr: {remote}:40000\n\n200")


def test_parse_curl_answers_and_each_kind_of_failure():
    r = curl(0, BODY + "\n200")
    assert (r.ok, r.status, r.backend, r.remote_ip) == (True, 200, "web-a", "10.244.0.2")
    assert curl(0, "not found\n404").status == 404
    assert curl(7, "\n000", REFUSED).error == "connection refused"
    assert curl(7, "\n000", UNREACHABLE).error == "network unreachable"
    assert curl(7, "\n000", "* connect to 10.244.0.250 port 80 failed: No route to host\n"
                ).error == "no route to host"
    # the probe's own time, as the agent measured it
    assert curl(28, "\n000", "curl: (28) Connection timed out after 2001 milliseconds",
                elapsed=2.004).error == "timed out after 2.0s"
    assert curl(6, "\n000", "curl: (6) Could not resolve host: nope").error == \
        "could not resolve host"
    for r in (curl(7, "\n000", REFUSED), curl(28, "\n000", elapsed=2.0)):
        assert r.ran and not r.ok  # the traffic failed: a definite answer
    bad = curl(3, "\n000", "curl: (3) URL using bad/illegal format or missing URL")
    assert not bad.ran and "URL using bad" in bad.error
    assert not probes.parse_curl(NOT_RUN).ran


def test_parse_ping():
    out = "2 packets transmitted, 0 received, 100% packet loss, time 1001ms"
    assert probes.parse_ping(Attempt(True, 1, out), 2) == probes.PingReply(2, 0, "no reply")
    ok = probes.parse_ping(Attempt(True, 0, "3 packets transmitted, 3 received, 0% loss"), 3)
    assert (ok.transmitted, ok.received, ok.ran) == (3, 3, True)
    unreach = "From 10.244.0.1 icmp_seq=1 Destination Host Unreachable\n" \
              "1 packets transmitted, 0 received, +1 errors, 100% packet loss"
    assert probes.parse_ping(Attempt(True, 1, unreach), 1).error == "host unreachable"
    noroute = probes.parse_ping(Attempt(True, 2, "", "ping: connect: Network is unreachable"), 1)
    assert noroute.ran and noroute.error == "network unreachable"
    broken = probes.parse_ping(Attempt(True, 2, "", "ping: socket: Operation not permitted"), 1)
    assert not broken.ran and "Operation not permitted" in broken.error


def test_parse_dig_nxdomain_versus_no_answer():
    out = (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n"
           "web-svc-cip.default.svc.cluster.local. 30 IN A 10.96.0.100\n")
    d = probes.parse_dig(Attempt(True, 0, out))
    assert d.status == "NOERROR" and d.answers == ("10.96.0.100",)
    assert probes.parse_dig(Attempt(True, 0, ";; status: NXDOMAIN, id: 2\n")).status == \
        "NXDOMAIN"
    silent = probes.parse_dig(Attempt(True, 9, ";; no servers could be reached\n", "",
                                      1.003))
    assert silent.ran and silent.error == "no answer (timed out after 1.0s)"
    refused = probes.parse_dig(Attempt(True, 9, ";; communications error to 10.96.0.10#53: "
                                                "connection refused\n"))
    assert refused.error == "no answer (refused)"
    usage = probes.parse_dig(Attempt(True, 1, "", "Invalid option: +bogus"))
    assert not usage.ran


def test_verdict_on_distinct_backends():
    replies = [reply("web-a"), reply("web-b"), reply("web-a")]
    assert evaluate.http(replies, Expect(distinct_backends=2), None).passed
    v = evaluate.http(replies, Expect(distinct_backends=3), None)
    assert v.result == "FAIL" and "saw 2" in v.reason


def test_verdict_on_status_body_and_source():
    replies = [reply("web-a")]
    assert evaluate.http(replies, Expect(status=200, body_contains="web-a"), "10.244.0.2").passed
    assert not evaluate.http(replies, Expect(status=503), None).passed
    assert not evaluate.http(replies, Expect(body_contains="nope"), None).passed
    v = evaluate.http(replies, Expect(), "172.18.0.2")
    assert not v.passed and "source 172.18.0.2" in v.reason


def test_expected_failure_passes_only_when_the_probe_ran_and_traffic_failed():
    down = curl(28, "\n000", "curl: (28) Connection timed out", 2.0)
    v = evaluate.http([down], Expect(success=False), None)
    assert v.passed and "timed out after 2.0s" in v.summary
    assert not evaluate.http([reply("web-a")], Expect(success=False), None).passed
    v = evaluate.http([reply("web-a"), down], Expect(), None)
    assert not v.passed and "1 of 2 attempts failed" in v.reason
    # the probe never ran: ERROR, whichever way the check leans
    for expect in (Expect(success=False), Expect()):
        v = evaluate.http([probes.parse_curl(NOT_RUN)], expect, None)
        assert v.result == "ERROR" and "could not run the probe" in v.reason
        assert "No such file" in v.reason
    ping_not_run = probes.PingReply(2, 0, "cannot enter /run/netns/x: No such file", ran=False)
    assert evaluate.ping(ping_not_run, Expect(success=False)).result == "ERROR"
    tcp_not_run = probes.parse_tcp(Attempt(False, error="cannot enter /run/netns/x"))
    assert evaluate.tcp([tcp_not_run], Expect(success=False)).result == "ERROR"
    dns_not_run = probes.parse_dig(Attempt(False, error="cannot run dig"))
    assert evaluate.dns(dns_not_run, Expect(success=False)).result == "ERROR"


def test_ping_tcp_dns_verdicts():
    assert not evaluate.ping(probes.PingReply(2, 0, "no reply"), Expect()).passed
    assert evaluate.ping(probes.PingReply(2, 0, "no reply"), Expect(success=False)).passed
    up = probes.parse_tcp(Attempt(True, 0, "connected 10.244.0.2:4000 -> 10.96.0.100:80"))
    refused = probes.parse_tcp(Attempt(True, 1, "", "connection refused"))
    slow = probes.parse_tcp(Attempt(True, 1, "", "timed out", 1.0, True))
    assert evaluate.tcp([up, up], Expect()).passed
    v = evaluate.tcp([up, refused], Expect())
    assert not v.passed and "connection refused" in v.summary
    assert "timed out after 1.0s" in evaluate.tcp([slow], Expect(success=False)).summary
    ok = probes.DnsReply("NOERROR", ("10.96.0.100",))
    assert evaluate.dns(ok, Expect(answers=("10.96.0.100",))).passed
    assert not evaluate.dns(ok, Expect(answers=("10.96.0.101",))).passed
    assert evaluate.dns(probes.DnsReply("NXDOMAIN"), Expect(success=False)).passed


def test_answer_count():
    three = probes.DnsReply("NOERROR", ("10.244.0.3", "10.244.0.4", "10.244.1.2"))
    assert evaluate.dns(three, Expect(answer_count=3)).passed
    v = evaluate.dns(three, Expect(answer_count=1))
    assert not v.passed and "expected 1 answer(s), got 3" in v.reason


def test_a_probe_killed_at_its_deadline_returns_text():
    """subprocess.TimeoutExpired carries bytes even with text=True; the agent gives text."""
    code = "import sys,time; print('partial', flush=True); time.sleep(10)"
    r = agent.run_tool([sys.executable, "-c", code], 0.5)
    assert r["ran"] and r["timed_out"] and isinstance(r["stdout"], str)
    assert r["stdout"] == "partial\n" and 0.4 < r["elapsed"] < 5
    a = Attempt.from_json(r)
    assert probes.parse_curl(a).error.startswith("timed out after")
    missing = agent.run_tool(["/nonexistent/curl"], 1)
    assert not missing["ran"] and "cannot run /nonexistent/curl" in missing["error"]


def test_tcp_connect_outcomes_without_root():
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = agent.tcp_connect("127.0.0.1", port, 1)
    assert r["ran"] and r["rc"] == 1 and r["stderr"] == "connection refused"


def test_a_kernel_tool_past_its_deadline_is_an_error_not_a_traceback(monkeypatch):
    import subprocess

    import pytest

    from netlab.errors import NetlabError
    from netlab.kernel import run

    def slow(*a, **kw):
        raise subprocess.TimeoutExpired(a[0], kw["timeout"], output=b"partial")

    monkeypatch.setattr(run.subprocess, "run", slow)
    monkeypatch.setattr(run, "require_tool", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(NetlabError, match="iptables-save did not finish within 5s in netlab.x"):
        run.run_in("netlab.x", ["iptables-save"], timeout=5)

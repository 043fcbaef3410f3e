"""Check output parsing and verdicts (no root).

Address plan: client pod 10.244.0.2, backends 10.244.0.3 and 10.244.1.2, ClusterIP 10.96.0.100,
cluster DNS at 10.96.0.10.
"""

from netlab.checks import evaluate, probes
from netlab.checks.probes import HttpReply
from netlab.model import Expect

BODY = "Hostname: web-a\nIP: 10.244.0.3\nRemoteAddr: 10.244.0.2:5555\nGET / HTTP/1.1\n"


def reply(name: str, remote: str = "10.244.0.2") -> HttpReply:
    return probes.parse_curl(0, f"Hostname: {name}\nRemoteAddr: {remote}:40000\n\n200", "")


def test_parse_curl_success_and_failure():
    r = probes.parse_curl(0, BODY + "\n200", "")
    assert (r.ok, r.status, r.backend, r.remote_ip) == (True, 200, "web-a", "10.244.0.2")
    r = probes.parse_curl(7, "\n000", "curl: (7) Failed to connect to 10.96.0.100 port 80")
    assert not r.ok and r.error.startswith("(7) Failed to connect")
    r = probes.parse_curl(0, "not found\n404", "")
    assert r.ok and r.status == 404


def test_curl_argv_is_a_list_with_the_url_last():
    argv = probes.curl_argv("http://10.96.0.100:80/", 2)
    assert argv[0] == "curl" and argv[-1] == "http://10.96.0.100:80/"
    assert "--max-time" in argv


def test_parse_ping():
    out = "2 packets transmitted, 0 received, 100% packet loss, time 1012ms\n"
    assert probes.parse_ping(out) == (2, 0)
    assert probes.parse_ping("3 packets transmitted, 3 received, 0% packet loss") == (3, 3)


def test_parse_dig():
    out = (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n"
           "web.default.svc.cluster.local. 5 IN A 10.96.0.100\n")
    d = probes.parse_dig(out)
    assert d.status == "NOERROR" and d.answers == ("10.96.0.100",)
    assert probes.parse_dig(";; status: NXDOMAIN, id: 2\n").status == "NXDOMAIN"


def test_http_distinct_backends():
    replies = [reply("web-a"), reply("web-b"), reply("web-a")]
    assert evaluate.http(replies, Expect(distinct_backends=2), None).passed
    v = evaluate.http(replies, Expect(distinct_backends=3), None)
    assert not v.passed and "saw 2" in v.reason


def test_http_status_body_and_source():
    replies = [reply("web-a")]
    assert evaluate.http(replies, Expect(status=200, body_contains="web-a"), "10.244.0.2").passed
    assert not evaluate.http(replies, Expect(status=503), None).passed
    assert not evaluate.http(replies, Expect(body_contains="nope"), None).passed
    v = evaluate.http(replies, Expect(), "172.18.0.2")
    assert not v.passed and "source 172.18.0.2" in v.reason


def test_http_expected_failure():
    down = probes.parse_curl(28, "\n000", "curl: (28) Connection timed out")
    assert evaluate.http([down], Expect(success=False), None).passed
    assert not evaluate.http([reply("web-a")], Expect(success=False), None).passed
    v = evaluate.http([reply("web-a"), down], Expect(), None)
    assert not v.passed and "1 of 2 attempts failed" in v.reason


def test_ping_tcp_dns_verdicts():
    assert not evaluate.ping(2, 0, Expect()).passed
    assert evaluate.ping(2, 0, Expect(success=False)).passed
    assert evaluate.tcp([True, True], "", Expect()).passed
    assert not evaluate.tcp([True, False], "", Expect()).passed
    ok = probes.DnsReply("NOERROR", ("10.96.0.100",))
    assert evaluate.dns(ok, Expect(answers=("10.96.0.100",))).passed
    assert not evaluate.dns(ok, Expect(answers=("10.96.0.101",))).passed
    assert evaluate.dns(probes.DnsReply("NXDOMAIN"), Expect(success=False)).passed


def test_dns_answer_count():
    three = probes.DnsReply("NOERROR", ("10.244.0.2", "10.244.0.3", "10.244.1.2"))
    assert evaluate.dns(three, Expect(answer_count=3)).passed
    v = evaluate.dns(three, Expect(answer_count=1))
    assert not v.passed and "expected 1 answer(s), got 3" in v.reason

"""The `trace` Check type (no root): how it is written and refused, and its verdict over the
paths the walker found.

Address plan: the default Lab; endpoints 10.244.1.2 (node2) and 10.244.0.2 (node1), port 80.
"""

from __future__ import annotations

import pytest

from netlab.checks import evaluate
from netlab.errors import ScenarioErrors
from netlab.model import Expect
from netlab.trace.path import Hop, Path
from tests.helpers import lab_doc, scenario

CHECK = """apiVersion: netlab/v1
kind: Check
metadata: {{name: c}}
spec:
  from: client/laptop
  {body}
"""


def check_of(body: str):
    sc = scenario(lab_doc(clients=("laptop",)), CHECK.format(body=body))
    return sc.checks[0]


def test_a_trace_check_is_read_with_its_expectations():
    c = check_of("trace: node/node1:30080\n  udp: true\n  expect: {masqueraded: false, "
                 "via: KUBE-SVL-, endpointOnNode: node2}")
    assert (c.protocol, c.target, c.udp) == ("trace", "node/node1:30080", True)
    assert (c.expect.masqueraded, c.expect.via, c.expect.endpoint_on_node) == \
        (False, "KUBE-SVL-", "node2")


@pytest.mark.parametrize("body,message", [
    ("http: svc/web\n  expect: {masqueraded: true}",
     "masqueraded, via and endpointOnNode apply to trace checks"),
    ("trace: svc/web\n  expect: {masqueraded: maybe}", "spec.expect.masqueraded"),
    ("trace: svc/web\n  expect: {via: 3}", "spec.expect.via: must be a name"),
    ("trace: svc/web\n  udp: sometimes", "spec.udp"),
])
def test_a_bad_trace_check_is_refused_with_its_field(body, message):
    with pytest.raises(ScenarioErrors) as err:
        check_of(body)
    assert any(message in str(e) for e in err.value.errors), err.value.errors


def path(dnat: str, masq: bool, *chains: str, verdict: str = "accept") -> Path:
    return Path(0.5, tuple(Hop(c, "") for c in chains), verdict, dnat, masq)


TWO = [(path("10.244.1.2:80", False, "KUBE-SERVICES", "KUBE-SVL-A"), "node2"),
       (path("10.244.0.2:80", True, "KUBE-SERVICES", "KUBE-SVC-B"), "node1")]


def test_trace_verdicts():
    assert evaluate.trace(TWO, Expect()).passed
    assert evaluate.trace(TWO[:1], Expect(masqueraded=False, via="KUBE-SVL-",
                                          endpoint_on_node="node2")).passed
    v = evaluate.trace(TWO, Expect(masqueraded=False))
    assert not v.passed and v.reason == "expected no masquerading on every path"
    v = evaluate.trace(TWO, Expect(via="KUBE-SVL-"))
    assert not v.passed and "does not go through KUBE-SVL-: KUBE-SERVICES -> KUBE-SVC-B" \
        in v.reason
    v = evaluate.trace(TWO, Expect(endpoint_on_node="node2"))
    assert not v.passed and v.reason == "expected every endpoint on node2"
    assert v.summary == "2/2 paths get through: 10.244.1.2:80 on node2; " \
        "10.244.0.2:80 on node1 masqueraded"


def test_dropped_paths():
    dropped = [(path("", False, "KUBE-EXTERNAL-SERVICES", verdict="drop"), "")]
    assert evaluate.trace(dropped, Expect(success=False)).passed
    v = evaluate.trace(dropped, Expect())
    assert not v.passed and v.reason == "expected every path to get through; drop in " \
        "KUBE-EXTERNAL-SERVICES"
    assert not evaluate.trace(TWO, Expect(success=False)).passed

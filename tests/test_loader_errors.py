"""The loader reports every error of every document at once, each with its field path
(no root).

Address plan: the default Lab (node1, pods 10.244.0.0/16, services 10.96.0.0/12).
"""

import pytest

from netlab.errors import ScenarioError, ScenarioErrors
from netlab.scenario import schema
from netlab.scenario.fieldpath import Path
from netlab.scenario.registry import KINDS
from tests.helpers import lab_doc, scenario

BAD_SERVICE = """apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: Cluster
  sessionAffinity: Sticky
  ports:
    - {port: 0, protocol: ICMP}
    - {port: 80, targetPort: http_port}
"""
BAD_POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  nodeName: node9
  containers:
    - {name: c, ports: [{containerPort: 70000}]}
"""


def errors_of(*docs: str) -> list[str]:
    with pytest.raises(ScenarioErrors) as err:
        scenario(lab_doc(), *docs)
    return [str(e) for e in err.value.errors]


def test_every_error_of_a_document_is_reported_with_its_path():
    found = errors_of(BAD_SERVICE)
    assert "lab.yaml: document 2: Service/web spec.type: type must be one of ClusterIP, " \
           "NodePort, LoadBalancer, ExternalName, got 'Cluster'" in found
    for fragment in ("spec.sessionAffinity: sessionAffinity must be None or ClientIP",
                     "spec.ports[0].port: port 0 is out of range 1-65535",
                     "spec.ports[0].protocol: protocol must be TCP, UDP or SCTP, got 'ICMP'",
                     "spec.ports[1].targetPort: port name 'http_port' must be",
                     "spec.ports[1].name: ports must be named"):
        assert any(fragment in e for e in found), (fragment, found)
    assert len(found) == 6


def test_errors_of_several_documents_come_together_in_one_line():
    with pytest.raises(ScenarioError) as err:
        scenario(lab_doc(), BAD_SERVICE, BAD_POD)
    text = str(err.value)
    assert text.startswith("9 errors: ") and "\n" not in text
    assert "document 3: Pod/p spec.nodeName: node 'node9' is not a node of lab 't'" in text
    assert "document 3: Pod/p spec.containers[0].image: image is required" in text
    assert "spec.containers[0].ports[0].containerPort: port 70000 is out of range" in text


def test_the_lab_document_reports_all_its_errors():
    lab = lab_doc().replace("routing: host-gw", "routing: bgp\n  proxyMode: ebpf\n  maxPods: 0")
    with pytest.raises(ScenarioErrors) as err:
        scenario(lab)
    fields = sorted(e.field for e in err.value.errors)
    assert fields == ["Lab/t spec.maxPods", "Lab/t spec.proxyMode", "Lab/t spec.routing"]


def test_field_paths_are_built_like_kubernetes_field_path():
    p = Path("spec").child("containers").index(0).child("ports").index(2).child("name")
    assert str(p) == "spec.containers[0].ports[2].name"
    assert str(Path("spec", "images").key("nginx:1.27")) == "spec.images[nginx:1.27]"


def test_every_kind_of_the_schema_has_a_loader():
    assert set(schema.KINDS) <= set(KINDS) and "Check" in KINDS

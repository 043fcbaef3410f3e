"""Names, sizes, CIDRs and YAML limits, validated as Kubernetes does (no root).

Address plan: the default Lab (pods 10.244.0.0/16, services 10.96.0.0/12, lab network
172.18.0.0/24); the CIDRs below are the ones a lab must refuse.
"""

import pytest

from netlab.errors import ScenarioError
from netlab.plan import naming
from netlab.scenario import validate
from netlab.scenario.loader import parse_documents
from tests.helpers import deployment, lab_doc, scenario


@pytest.mark.parametrize("name", ["web\n", "web\r", " web", "web ", "Web", "-web", "web-",
                                  "a" * 64, "", "we_b", "web.x"])
def test_dns_labels_match_fully(name):
    assert validate.dns_label(name) is not None


@pytest.mark.parametrize("name", ["web", "a", "a" * 63, "0web", "web-1"])
def test_valid_dns_labels(name):
    assert validate.dns_label(name) is None


def test_dns_subdomains_and_their_exact_limit():
    assert validate.dns_subdomain("a.b\n") is not None
    assert validate.dns_subdomain(".".join(["a" * 63] * 3) + "." + "a" * 61) is None  # 253
    assert validate.dns_subdomain(".".join(["a" * 63] * 3) + "." + "a" * 62) is not None
    assert validate.dns_subdomain("a..b") is not None


def test_labels_as_kubernetes_validates_them():
    assert validate.labels({"app": "web"}) is None
    assert validate.labels({"app.kubernetes.io/name": "web"}) is None
    assert validate.labels({"app": "web\n"}) is not None
    assert validate.labels({"app\n": "web"}) is not None
    assert validate.labels({"Bad_Prefix/name": "web"}) is not None  # prefix: DNS subdomain
    assert validate.labels({"/name": "web"}) is not None
    assert validate.labels({"app": "x" * 64}) is not None


def test_a_valid_kubernetes_pod_name_of_253_characters_works():
    long = ".".join(["a" * 63] * 3) + "." + "b" * 61
    sc = scenario(lab_doc(), f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {long}}}\n"
                             "spec: {containers: [{name: c, image: nginx}]}\n")
    from netlab.plan.build import plan_lab

    p = next(x for x in plan_lab(sc)[0].pods if x.name == long)
    assert len(p.netns.encode()) <= naming.NAME_MAX and len(p.uts.rsplit("/", 1)[1]) <= 255
    assert len(naming.pod_hostname(p.name)) <= 63  # sethostname takes at most 64 bytes
    assert naming.pod_hostname("a" * 62 + ".b" * 10) == "a" * 62  # no trailing '.' or '-'


@pytest.mark.parametrize(("key", "cidr"), [
    ("podCIDR", "127.0.0.0/16"), ("serviceCIDR", "224.0.0.0/12"), ("podCIDR", "0.0.0.0/16"),
    ("nodeCIDR", "169.254.0.0/24"), ("podCIDR", "240.0.0.0/16"), ("nodeCIDR", "255.255.255.0/28")])
def test_lab_cidrs_that_cannot_carry_traffic_are_refused(key, cidr):
    lab = lab_doc().replace("routing: host-gw", f"routing: host-gw\n  {key}: {cidr}")
    with pytest.raises(ScenarioError, match=f"spec.{key}"):
        scenario(lab)


def test_duplicate_keys_in_a_mapping_are_refused_with_their_line():
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"
    with pytest.raises(ScenarioError, match=r"line 5, column 3: key 'name' is already set in "
                                            r"this mapping \(first at line 4\)"):
        parse_documents(text, "dup.yaml")


def test_deep_nesting_and_too_many_documents_are_refused():
    with pytest.raises(ScenarioError, match="nested deeper than"):
        parse_documents("a: " + "[" * 100000 + "]" * 100000, "deep.yaml")
    with pytest.raises(ScenarioError, match="more than 10000 documents"):
        parse_documents("---\n{a: 1}\n" * 10001, "many.yaml")


@pytest.mark.parametrize(("field", "value"), [("initialDelaySeconds", 99999999999),
                                              ("periodSeconds", 100000),
                                              ("timeoutSeconds", 3601),
                                              ("failureThreshold", 1000000)])
def test_probe_timings_are_bounded(field, value):
    probe = (f"readinessProbe: {{tcpSocket: {{port: 8000}}, {field}: {value}}}}}]")
    doc = deployment().replace("ports: [{containerPort: 8000}]}]",
                               f"ports: [{{containerPort: 8000}}], {probe}")
    with pytest.raises(ScenarioError, match=f"readinessProbe.{field}"):
        scenario(lab_doc(), doc)

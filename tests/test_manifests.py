"""A real manifests folder loads as a cluster takes it (issue 11): kinds netlab models act,
kinds that change nothing in a lab's network are accepted and listed, unknown kinds are errors
with the near miss they may be, folders are read recursively in a stable order, lists are
unpacked. No root.

Address plan: the default Lab (node1, pods 10.244.0.0/16, services 10.96.0.0/12).
"""

from __future__ import annotations

import pytest

from netlab.errors import ScenarioErrors
from netlab.scenario.loader import load_scenario, manifest_files
from tests.helpers import lab_doc, pod, scenario

TRAEFIK_RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik-ingress-controller, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRole
metadata: {name: traefik-ingress-controller}
rules: [{apiGroups: [""], resources: [services], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:traefik"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik}
subjects: [{kind: ServiceAccount, name: traefik-ingress-controller, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
"""


def test_kinds_with_no_effect_are_accepted_and_listed(tmp_path):
    sc = scenario(lab_doc(), TRAEFIK_RBAC, pod("web"))
    assert [p.name for p in sc.pods] == ["web"]
    assert sc.passive == (
        ("ServiceAccount", "kube-system/traefik-ingress-controller", "no effect on the lab"),
        ("ClusterRole", "traefik-ingress-controller", "no effect on the lab"),
        ("ClusterRoleBinding", "system:traefik", "no effect on the lab"),
        ("ConfigMap", "default/settings", "no effect on the lab"))


def test_network_kinds_netlab_does_not_act_on_yet_say_so():
    sc = scenario(lab_doc(), "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                             "metadata: {name: deny}\nspec: {podSelector: {}}\n")
    assert sc.passive[0][:2] == ("NetworkPolicy", "default/deny")
    assert "not acted on by netlab yet" in sc.passive[0][2]


@pytest.mark.parametrize(("doc", "needle"), [
    ("apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n",
     "unknown kind 'Deploymnet' in apiVersion 'apps/v1'; did you mean Deployment?"),
    ("apiVersion: v1\nkind: configmap\nmetadata: {name: x}\n", "did you mean ConfigMap?"),
    ("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\n",
     "unknown kind 'Certificate' in apiVersion 'cert-manager.io/v1' (a custom resource"),
    ("apiVersion: rbac/v1\nkind: Role\nmetadata: {name: x}\n",
     "apiVersion for Role must be rbac.authorization.k8s.io/v1, got 'rbac/v1'"),
    ("apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n",
     "apiVersion for Deployment must be apps/v1, got 'apps/v1beta2'"),
])
def test_unknown_kinds_and_versions_are_errors_with_a_suggestion(doc, needle):
    with pytest.raises(ScenarioErrors) as err:
        scenario(lab_doc(), doc)
    assert any(needle in str(e) for e in err.value.errors), [str(e) for e in err.value.errors]


def test_folders_are_read_recursively_in_a_stable_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "z").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    for path in ("b/1.yaml", "a/z/2.yml", "a/3.json", "10.yaml", "9.yaml", ".git/x.yaml",
                 "README.md"):
        (tmp_path / path).write_text("")
    assert [p.removeprefix(str(tmp_path) + "/") for p in manifest_files(str(tmp_path))] == \
        ["10.yaml", "9.yaml", "a/3.json", "a/z/2.yml", "b/1.yaml"]


def test_a_folder_mixing_kinds_loads(tmp_path):
    (tmp_path / "lab.yaml").write_text(lab_doc())
    (tmp_path / "rbac").mkdir()
    (tmp_path / "rbac" / "traefik.yaml").write_text(TRAEFIK_RBAC)
    (tmp_path / "apps.yaml").write_text(
        "apiVersion: v1\nkind: PodList\nitems:\n"
        "- {apiVersion: v1, kind: Pod, metadata: {name: a}, "
        "spec: {containers: [{name: c, image: nginx}]}}\n"
        "- {apiVersion: v1, kind: Pod, metadata: {name: b}, "
        "spec: {containers: [{name: c, image: nginx}]}}\n")
    sc = load_scenario([str(tmp_path)])
    assert [p.name for p in sc.pods] == ["a", "b"]
    assert len(sc.passive) == 4

"""kubectl-shaped views of workloads (issue 11): get all, -l, get rs/ds/jobs, describe
deploy/ep/endpointslice/node, rollout status and history, from a lab built on the fake kernel.

Address plan: as tests/test_lifecycle_fake.py (two nodes; web x3 behind 10.96.0.100:80,
api x2 behind 10.96.0.101, pod client).
"""

from __future__ import annotations

from netlab import objects
from netlab.lifecycle import query
from tests.test_lifecycle_fake import make_lab


def view(tmp_path):
    kernel, ld = make_lab(tmp_path)
    return query.view(ld.load_state(), kernel)


def names(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines()
            if line and not line.startswith("NAME")]


def test_get_all_lists_every_kind_with_its_prefix(tmp_path):
    text = objects.all_tables(view(tmp_path), "default")
    blocks = text.split("\n\n")
    assert [b.splitlines()[1].split("/")[0] for b in blocks] == \
        ["pod", "service", "deployment.apps", "replicaset.apps"]
    assert "deployment.apps/web" in names(text) and "service/web-svc-cip" in names(text)
    assert sum(n.startswith("replicaset.apps/web-") for n in names(text)) == 1


def test_a_label_selector_keeps_the_matching_objects(tmp_path):
    v = objects.selected(view(tmp_path), "app=web")
    assert {p.label_map["app"] for p in v.plan.pods} == {"web"} and len(v.plan.pods) == 3
    v = objects.selected(view(tmp_path), "app!=web,app")
    assert {p.label_map["app"] for p in v.plan.pods} == {"api", "client"}
    assert objects.matches({"a": "1"}, "!b") and not objects.matches({"a": "1"}, "a==2")


def test_describe_deployment_shows_conditions_and_replica_sets(tmp_path):
    v = view(tmp_path)
    d = next(d for d in v.plan.workloads if d.name == "web")
    text = objects.describe_deployment(v, d)
    assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | " \
           "0 unavailable" in text
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in text
    assert "  Available      True    MinimumReplicasAvailable" in text
    assert "  Progressing    True    NewReplicaSetAvailable" in text
    (rs,) = [r for r in v.plan.replicasets if r.owner == "web"]
    assert f"NewReplicaSet:   {rs.name} (3/3 replicas created)" in text
    assert f"Scaled up replica set {rs.name} from 0 to 3" in text
    assert objects.rollout_status(v, d) == ('deployment "web" successfully rolled out', True)
    assert objects.rollout_history(v, d).splitlines() == [
        "deployment.apps/web", "REVISION   CHANGE-CAUSE", "1          <none>"]


def test_describe_endpoints_and_slices(tmp_path):
    v = view(tmp_path)
    (ep,) = objects.named("ep", objects.objects_of("ep", v, "default"), "web-svc-cip")
    text = objects.describe_endpoints(ep)
    web = sorted(p.ip for p in v.plan.pods if p.label_map.get("app") == "web")
    assert f"  Addresses:          {','.join(web)}" in text
    assert "    <unset>   8000   TCP" in text
    (eps,) = objects.named("eps", objects.objects_of("eps", v, "default"), "web-svc-cip")
    text = objects.describe_endpointslice(eps)
    assert "AddressType:  IPv4" in text and text.count("      Ready:    true") == 3


def test_describe_node_lists_labels_and_pods(tmp_path):
    v = view(tmp_path)
    text = objects.describe_node(v.plan, "node1", v.created)
    assert "Roles:              control-plane" in text
    assert "Taints:             <none>" in text
    assert "node-role.kubernetes.io/control-plane=" in text
    on1 = [p for p in v.plan.pods if p.node == "node1"]
    assert f"Non-terminated Pods:          ({len(on1)} in total)" in text


def test_workloads_as_the_apiserver_returns_them(tmp_path):
    v = view(tmp_path)
    (web,) = [o for o in objects.objects_of("deploy", v, "default")
              if o["metadata"]["name"] == "web"]
    assert web["apiVersion"] == "apps/v1" and web["spec"]["replicas"] == 3
    assert web["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}}
    assert web["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert web["status"]["availableReplicas"] == 3
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    (rs,) = [o for o in objects.objects_of("rs", v, "default")
             if o["metadata"]["ownerReferences"][0]["name"] == "web"]
    assert rs["spec"]["replicas"] == 3 and rs["status"]["readyReplicas"] == 3
    assert rs["metadata"]["labels"]["pod-template-hash"] in rs["metadata"]["name"]


def test_get_events_watch_prints_only_new_events(tmp_path):
    from netlab.model.state import Event

    events = {"default/web-1": [Event("Normal", "Started", "Started container web", 1, 5, 5)],
              "default/deployment/web": [Event("Normal", "ScalingReplicaSet",
                                               "Scaled up replica set web-1 from 0 to 1",
                                               1, 4, 4)]}
    seen: set = set()
    first = objects.events_text(objects.event_lines(events, "default", seen), "default",
                                header=True, now=10)
    lines = first.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "deployment/web" in lines[1] and "pod/web-1" in lines[2]  # in time order
    assert objects.event_lines(events, "default", seen) == []  # nothing new
    events["default/web-1"][0].count, events["default/web-1"][0].last = 2, 9
    again = objects.event_lines(events, "default", seen)  # a repeat is news again
    assert [e.reason for _ns, _obj, e in again] == ["Started"]
    text = objects.events_text(again, "default", header=False, now=10)
    assert len(text.splitlines()) == 1 and "pod/web-1" in text


def test_replica_sets_and_daemon_sets_wide(tmp_path):
    v = view(tmp_path)
    text = objects.table_of("rs", v, True, "default")
    assert text.splitlines()[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    (web,) = [line.split() for line in text.splitlines() if line.startswith("web-")]
    assert web[-3:-1] == ["web", "nginx"] and web[-1].startswith("app=web,pod-template-hash=")

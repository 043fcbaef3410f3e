"""Rolling updates against the fake kernel (issue 11): ``apply`` of a changed pod template
starts a new ReplicaSet and the lab's controller carries the rollout on step by step, gated
by readiness, with the Deployment controller's events; the Service's rules never hold fewer
ready endpoints than maxUnavailable allows.

Address plan: as tests/test_lifecycle_fake.py (two nodes; web x3 behind 10.96.0.100:80,
api x2 behind 10.96.0.101). Clocks are made up; probes run inline.
"""

from __future__ import annotations

import copy
import time

from netlab.lifecycle import change as change_mod
from netlab.objects.events import events_table
from tests.test_lifecycle_fake import WEB, controller, make_lab, nat


def new_template(strategy: dict | None = None, version: str = "2"):
    """An edit: web's containers get env V=VERSION (a new pod template), and STRATEGY."""
    def edit(docs: list[dict]) -> list[dict]:
        docs = copy.deepcopy(docs)
        for d in docs:
            body = d["body"]
            if body.get("kind") == "Deployment" and body["metadata"]["name"] == "web":
                body["spec"]["template"]["spec"]["containers"][0]["env"] = [
                    {"name": "V", "value": version}]
                if strategy is not None:
                    body["spec"]["strategy"] = strategy
        return docs
    return edit


def apply(kernel, ld, edit) -> None:
    change_mod.change(ld.lab, edit, kernel=kernel, ld=ld, kernel_check=lambda *_: None,
                      controller=False)


def web_sets(state):
    return {rs.hash: rs for rs in state.plan.replicasets if rs.owner == "web"}


def drive(kernel, ld, verdicts=None, ticks=60):
    """Tick the controller until the rollout stops moving; the number of web endpoints in
    node1's rules after each tick, and the controller."""
    c = controller(kernel, ld, verdicts)
    c.clock.now = time.time()  # changes stamp their events with the wall clock
    seen = []
    for _ in range(ticks):
        c.clock.now += 1
        c.tick()
        seen.append(len([r for r in nat(kernel, c.rt)[WEB] if "KUBE-SEP-" in r]))
    return seen, c


def test_apply_starts_a_rollout_the_controller_finishes(tmp_path):
    kernel, ld = make_lab(tmp_path)
    (old,) = web_sets(ld.load_state()).values()
    apply(kernel, ld, new_template({"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    state = ld.load_state()
    sets = web_sets(state)
    (new,) = [rs for h, rs in sets.items() if h != old.hash]
    assert (new.replicas, sets[old.hash].replicas, new.revision) == (1, 3, 2)
    seen, c = drive(kernel, ld)
    assert min(seen) >= 3  # maxUnavailable 0: never fewer than 3 serving endpoints
    state = c.rt.state
    sets = web_sets(state)
    assert sets[new.hash].replicas == 3 and sets[old.hash].replicas == 0
    web = [p for p in state.plan.pods if p.owner == "Deployment/web"]
    assert len(web) == 3 and all(p.template_hash == new.hash for p in web)
    assert not state.terminating
    text = events_table(state.events, "default", now=c.clock.now)
    scaling = [line.split("ScalingReplicaSet")[1].split("  ")[-1].strip()
               for line in text.splitlines()
               if "ScalingReplicaSet" in line and "replica set web-" in line]
    assert scaling[0] == f"Scaled up replica set {old.name} from 0 to 3"  # at up
    assert scaling[1:4] == [f"Scaled up replica set {new.name} from 0 to 1",
                           f"Scaled down replica set {old.name} from 3 to 2",
                           f"Scaled up replica set {new.name} from 1 to 2"]
    assert scaling[-1] == f"Scaled down replica set {old.name} from 1 to 0"
    assert f"replicaset/{new.name}" in text and "SuccessfulCreate" in text
    assert "Killing" in text


def test_unready_new_pods_hold_the_rollout(tmp_path):
    kernel, ld = make_lab(tmp_path, readiness=True)
    c = controller(kernel, ld)  # the old pods pass their readiness probes
    for _ in range(3):
        c.clock.now += 1
        c.tick()
    (old,) = web_sets(ld.load_state()).values()
    apply(kernel, ld, new_template({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    (new,) = [rs for h, rs in web_sets(ld.load_state()).items() if h != old.hash]
    verdicts = {p: False for p in new.pods}
    seen, c = drive(kernel, ld, verdicts, ticks=10)
    sets = web_sets(c.rt.state)
    assert (sets[new.hash].replicas, sets[old.hash].replicas) == (1, 3)
    assert seen[-1] == 3


def test_recreate_removes_every_old_pod_before_the_new_ones(tmp_path):
    kernel, ld = make_lab(tmp_path)
    (old,) = web_sets(ld.load_state()).values()
    apply(kernel, ld, new_template({"type": "Recreate"}))
    state = ld.load_state()
    assert [rs.replicas for rs in web_sets(state).values()] == [0, 0]
    assert len(state.terminating) == 3
    seen, c = drive(kernel, ld, ticks=5)
    assert sorted(rs.replicas for rs in web_sets(c.rt.state).values()) == [0, 3]


def test_rollback_to_the_first_template_reuses_its_replica_set(tmp_path):
    kernel, ld = make_lab(tmp_path)
    (old,) = web_sets(ld.load_state()).values()
    apply(kernel, ld, new_template())
    drive(kernel, ld, ticks=20)

    def back(docs):
        docs = copy.deepcopy(docs)
        for d in docs:
            if d["body"].get("kind") == "Deployment" and d["body"]["metadata"]["name"] == "web":
                del d["body"]["spec"]["template"]["spec"]["containers"][0]["env"]
        return docs

    apply(kernel, ld, back)
    _, c = drive(kernel, ld, ticks=20)
    sets = web_sets(c.rt.state)
    assert sets[old.hash].revision == 3 and sets[old.hash].replicas == 3
    assert len(sets) == 2

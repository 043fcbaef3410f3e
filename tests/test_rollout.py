"""The Deployment controller's decisions (plan/workloads.py), step by step, against what
Kubernetes' deployment controller does (pkg/controller/deployment: rolling.go, recreate.go,
sync.go; intstr rounding; ResolveFenceposts)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netlab.model import Container, Deployment, PodSpec
from netlab.plan.workloads import Status, fenceposts, reconcile, resolve, template_hash

V1 = PodSpec(containers=(Container("web", "netlab/web"),))
V2 = PodSpec(containers=(Container("web", "netlab/web", env=(("V", "2"),)),))


def deploy(replicas=4, spec=V1, **kw) -> Deployment:
    return Deployment("web", "default", replicas, (("app", "web"),), (("app", "web"),), spec,
                      **kw)


def run(d, sets=None, ready=None, terminating=(), now=100.0, since=None):
    ready = ready or {}
    status = Status(ready=ready, ready_since=since or {k: 0.0 for k in ready},
                    terminating=terminating, now=now)
    return reconcile("lab", (d,), sets or {}, status)


def all_ready(sets) -> dict[str, bool]:
    return {f"{rs.namespace}/{p}": True for rs in sets.values() for p in rs.pods}


def counts(sets, d) -> tuple[int, ...]:
    """(new replicas, old replicas...) oldest old last."""
    h = template_hash(d)
    new = [rs.replicas for rs in sets.values() if rs.hash == h]
    old = [rs.replicas for rs in sorted(sets.values(), key=lambda r: -r.revision)
           if rs.hash != h]
    return (*new, *old)


@pytest.mark.parametrize("value,total,up,want", [
    ("25%", 4, True, 1), ("25%", 4, False, 1), ("25%", 3, True, 1), ("25%", 3, False, 0),
    ("50%", 3, True, 2), ("50%", 3, False, 1), (2, 10, True, 2), ("0%", 5, True, 0),
    ("100%", 3, False, 3), ("10%", 1, True, 1), ("10%", 1, False, 0)])
def test_percentages_round_as_kubernetes(value, total, up, want):
    assert resolve(value, total, up) == want


def test_both_zero_after_rounding_allow_one_unavailable():
    d = deploy(replicas=3, max_surge=0, max_unavailable="10%")
    assert fenceposts(d) == (0, 1)


def test_a_new_deployment_is_scaled_up_at_once_with_kubernetes_events():
    d = deploy(replicas=3)
    out = run(d)
    (rs,) = out.sets.values()
    assert rs.name == f"web-{template_hash(d)}" and rs.replicas == 3 and rs.revision == 1
    assert len(set(rs.pods)) == 3 and all(p.startswith(rs.name + "-") for p in rs.pods)
    assert out.events[0] == ("default/deployment/web", "Normal", "ScalingReplicaSet",
                             f"Scaled up replica set {rs.name} from 0 to 3")
    assert [e[3] for e in out.events[1:]] == [f"Created pod: {p}" for p in rs.pods]


def rollout(d_old, d_new, steps=20, ready_new=True):
    """Drive a rollout with every pod ready at once (unless READY_NEW is false); the
    (new, old) replica counts after each step."""
    sets = run(d_old).sets
    seen = []
    for _ in range(steps):
        ready = all_ready(sets)
        if not ready_new:
            h = template_hash(d_new)
            ready = {k: v for k, v in ready.items() if h not in k}
        out = run(d_new, sets, ready)
        if out.sets == sets:
            break
        sets = out.sets
        seen.append(counts(sets, d_new))
    return seen, sets


def test_default_strategy_surges_one_and_keeps_three_available():
    # 4 replicas, 25%/25%: surge 1 (up), unavailable 1 (down)
    seen, sets = rollout(deploy(), deploy(spec=V2))
    assert seen[0] == (1, 4)  # new RS created with one pod (4 + 1 surge)
    assert seen[1] == (1, 2)  # old scaled down by 2: 5 - 3 min available
    assert seen[-1] == (4, 0)
    assert all(n + o <= 5 for n, o in seen)


def test_max_unavailable_zero_never_drops_below_replicas():
    seen, _ = rollout(deploy(replicas=3, max_surge=1, max_unavailable=0),
                      deploy(replicas=3, spec=V2, max_surge=1, max_unavailable=0))
    assert seen == [(1, 3), (1, 2), (2, 2), (2, 1), (3, 1), (3, 0)]


def test_max_surge_zero_removes_old_pods_first():
    seen, _ = rollout(deploy(replicas=3, max_surge=0, max_unavailable=1),
                      deploy(replicas=3, spec=V2, max_surge=0, max_unavailable=1))
    assert seen[0] == (0, 2)  # created with no pod, one old pod goes
    assert seen[1] == (1, 2)
    assert all(n + o <= 3 for n, o in seen) and seen[-1] == (3, 0)


def test_readiness_gates_the_rollout():
    # new pods never ready, maxUnavailable 0: the old pods all stay
    seen, sets = rollout(deploy(replicas=3, max_surge=1, max_unavailable=0),
                         deploy(replicas=3, spec=V2, max_surge=1, max_unavailable=0),
                         ready_new=False)
    assert seen == [(1, 3)]


def test_min_ready_seconds_counts_from_readiness():
    d1 = deploy(replicas=2, max_surge=1, max_unavailable=0, min_ready=10)
    d2 = replace(d1, template=V2)
    sets = run(d1).sets
    sets = run(d2, sets, all_ready(sets)).sets
    ready = all_ready(sets)
    since = {k: 95.0 for k in ready}  # ready for 5 s of 10
    assert run(d2, sets, ready, now=100.0, since=since).sets == sets
    assert run(d2, sets, ready, now=106.0, since=since).sets != sets


def test_recreate_waits_for_old_pods_to_exit():
    d1 = deploy(replicas=2, strategy="Recreate")
    d2 = replace(d1, template=V2)
    sets = run(d1).sets
    out = run(d2, sets, all_ready(sets))
    assert counts(out.sets, d2) == (0, 0)
    from netlab.model import PodInfo

    old = next(iter(sets.values()))
    leaving = tuple(PodInfo(p, "default", "node1", "", "", "", "", (), V1, "Deployment/web",
                            old.hash) for p in old.pods)
    assert run(d2, out.sets, terminating=leaving).sets == out.sets  # still exiting
    assert counts(run(d2, out.sets).sets, d2) == (2, 0)


def test_scaling_without_template_change_scales_the_one_replica_set():
    d = deploy(replicas=3)
    sets = run(d).sets
    out = run(replace(d, replicas=1), sets, all_ready(sets))
    (rs,) = out.sets.values()
    assert rs.replicas == 1 and rs.pods == next(iter(sets.values())).pods[:1]
    assert ("default/deployment/web", "Normal", "ScalingReplicaSet",
            f"Scaled down replica set {rs.name} from 3 to 1") in out.events


def test_scale_down_takes_unready_pods_first():
    d = deploy(replicas=3)
    (rs,) = run(d).sets.values()
    ready = {f"default/{p}": True for p in rs.pods}
    ready[f"default/{rs.pods[0]}"] = False
    (after,) = run(replace(d, replicas=2), {rs.key: rs}, ready).sets.values()
    assert rs.pods[0] not in after.pods and len(after.pods) == 2


def test_undo_makes_the_old_replica_set_the_newest_revision():
    d1, d2 = deploy(replicas=1), deploy(replicas=1, spec=V2)
    _, sets = rollout(d1, d2)
    for _ in range(10):
        sets = run(d1, sets, all_ready(sets)).sets
    by_hash = {rs.hash: rs for rs in sets.values()}
    assert by_hash[template_hash(d1)].revision == 3 and by_hash[template_hash(d1)].replicas == 1
    assert by_hash[template_hash(d2)].revision == 2 and by_hash[template_hash(d2)].replicas == 0


def test_revision_history_limit_drops_the_oldest_idle_replica_sets():
    specs = [PodSpec(containers=(Container("web", "netlab/web", env=(("V", str(i)),)),))
             for i in range(4)]
    sets: dict = {}
    for spec in specs:
        d = deploy(replicas=1, spec=spec, history=1)
        for _ in range(10):
            sets = run(d, sets, all_ready(sets)).sets
    assert sorted(rs.revision for rs in sets.values()) == [3, 4]


def job(completions=3, parallelism=2, backoff=1) -> Deployment:
    spec = PodSpec(containers=(Container("w", "busybox"),), restart_policy="Never")
    return Deployment("pi", "default", 0, (("job-name", "pi"),), (("job-name", "pi"),), spec,
                      kind="Job", completions=completions, parallelism=parallelism,
                      backoff_limit=backoff)


def job_step(d, sets, phases):
    status = Status(phase={f"default/{p}": ph for p, ph in phases.items()}, now=5.0)
    return reconcile("lab", (d,), sets, status)


def test_a_job_runs_parallelism_pods_until_completions_succeed():
    d = job()
    out = job_step(d, {}, {})
    (j,) = out.sets.values()
    assert len(j.pods) == 2 and j.kind == "Job" and j.pods[0].startswith("pi-")
    out = job_step(d, out.sets, {j.pods[0]: "Succeeded", j.pods[1]: "Running"})
    (j,) = out.sets.values()
    assert len(j.pods) == 3  # one more, so that two run
    out = job_step(d, out.sets, {j.pods[0]: "Succeeded", j.pods[1]: "Running",
                                 j.pods[2]: "Running"})
    assert out.sets == {j.key: j}  # 1 done + 2 running: nothing more to start
    done = {p: "Succeeded" for p in j.pods}
    out = job_step(d, out.sets, done)
    (j,) = out.sets.values()
    assert j.done == "Complete" and ("default/job/pi", "Normal", "Completed",
                                     "Job completed") in out.events
    assert job_step(d, out.sets, done).sets == out.sets  # finished for good


def test_a_job_fails_past_its_backoff_limit():
    d = job(completions=1, parallelism=1, backoff=1)
    out = job_step(d, {}, {})
    (j,) = out.sets.values()
    out = job_step(d, out.sets, {j.pods[0]: "Failed"})
    (j,) = out.sets.values()
    assert len(j.pods) == 2 and not j.done  # a replacement: 1 failure is within the limit
    out = job_step(d, out.sets, {j.pods[0]: "Failed", j.pods[1]: "Failed"})
    (j,) = out.sets.values()
    assert j.done == "Failed"
    assert ("default/job/pi", "Warning", "BackoffLimitExceeded",
            "Job has reached the specified backoff limit") in out.events


def test_a_replica_set_of_its_own_keeps_its_replicas():
    rs = replace(deploy(replicas=2), name="front", kind="ReplicaSet")
    out = run(rs)
    (kept,) = out.sets.values()
    assert (kept.name, kept.owner, kept.replicas) == ("front", "", 2)
    assert all(p.startswith("front-") for p in kept.pods)
    assert [e[2] for e in out.events] == ["SuccessfulCreate", "SuccessfulCreate"]
    smaller = run(replace(rs, replicas=1), out.sets, all_ready(out.sets))
    assert next(iter(smaller.sets.values())).pods == kept.pods[:1]  # the newest goes
